"""The step records of a graph problem: its forward pass, then its backward pass.

:func:`derive_graph` writes a built graph (:mod:`derive.graph`) as records
(:mod:`derive.steps`): one definition per node, children first; then, node by node from
the output down, each local derivative ``∂p/∂c`` and, for each child whose every parent
is done, its gradient ``df/dc``: an upstream product, or the sum over the parents where
paths meet (micrograd's ``+=``), and for an input reached along several paths, every
path and their sum.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp

from .forms import Partial, Shown, product, substitute, total
from .graph import Graph
from .steps import ChainProduct, Given, PathSum, Step

MAX_SHOWN_PATHS = 16  # paths written out term by term for one input


class TotalDerivative(Partial):
    """``d num / d den``: the gradient of the output through the whole graph."""

    whole = True  # numbers are never substituted into its parts (see forms.substitute)


@dataclass(frozen=True)
class Local(Step):
    """``∂p/∂c = diff(p's formula, c)``: the derivative along one edge."""

    kind: ClassVar[str] = "local"


@dataclass(frozen=True)
class ParentSum(Step):
    """``df/dc = Σ_p df/dp · ∂p/∂c`` over the parents p of c: where paths meet (``+=``)."""

    kind: ClassVar[str] = "parents"


@dataclass(frozen=True)
class NodeBlock:
    """The backward pass at one node: its formula, the derivative along each of its
    edges, then the gradients that are complete once this node is done."""

    node: str
    definition: sp.Expr | None  # ``node = formula`` as an equation; None for the start
    steps: tuple[Step, ...]


@dataclass(frozen=True)
class GraphDerivation:
    """The step records of a graph problem."""

    graph: Graph
    inputs: tuple[Given, ...]
    forward: tuple[Step, ...]
    backward: tuple[NodeBlock, ...]
    hidden_paths: dict[str, int]  # input → number of paths, when too many to write out

    @property
    def steps(self) -> tuple[Step, ...]:
        return (*self.inputs, *self.forward,
                *(step for block in self.backward for step in block.steps))


def derive_graph(graph: Graph) -> GraphDerivation:
    """Write the forward and backward passes of a graph as step records."""
    f = sp.Symbol(graph.output, real=True)
    symbol = {v.name: v.symbol for v in graph.variables}
    symbol.update((node.name, node.symbol) for node in graph.nodes)
    shown: dict[sp.Expr, Shown] = {v.symbol: Shown(float(v.approx), given=True)
                                   for v in graph.variables}

    def record(cls, key, name, lhs, formula, value, **extra) -> Step:
        step = cls(key=key, name=name, lhs=lhs, formula=formula,
                   substituted=substitute(formula, shown), value=float(value), **extra)
        shown[lhs] = Shown(float(value))
        return step

    inputs = tuple(Given(("input", v.name), v.name, v.symbol, v.symbol, v.symbol,
                         float(v.approx)) for v in graph.variables)

    # Forward pass: one definition per node, children first.
    forward = tuple(record(Step, ("node", node.name), node.name, node.symbol,
                           node.expression, node.approx) for node in graph.nodes)

    # Backward pass: node by node from the output; a child's gradient is written
    # in the block of its last parent, when every path into it is known.
    parents: dict[str, list[str]] = {name: [] for name in symbol}
    for node in graph.nodes:
        for child in node.children:
            parents[child].append(node.name)
    start = record(Given, ("grad", graph.output), f"d{f}/d{f}", TotalDerivative(f, f),
                   TotalDerivative(f, f), 1.0)
    blocks = [NodeBlock(graph.output, None, (start,))]
    variables = {v.name for v in graph.variables}
    hidden: dict[str, int] = {}
    for node in reversed(graph.nodes):
        steps: list[Step] = []
        for child in node.children:
            edge = graph.derivative(node.name, child)
            steps.append(record(Local, ("local", node.name, child), f"d{node.name}/d{child}",
                                Partial(node.symbol, symbol[child]), edge.expression,
                                edge.approx))
        for child in node.children:
            if parents[child][0] != node.name:
                continue  # another parent, further down, completes it
            gradient = graph.gradient(child)
            lhs = TotalDerivative(f, symbol[child])
            terms = [product(TotalDerivative(f, symbol[edge.node]),
                             Partial(symbol[edge.node], symbol[child]))
                     for edge in gradient.edges]
            cls = ChainProduct if len(terms) == 1 else ParentSum
            steps.append(record(cls, ("grad", child), f"d{f}/d{child}", lhs, total(*terms),
                                gradient.approx))
            if child in variables and len(gradient.paths) > 1:
                if len(gradient.paths) > MAX_SHOWN_PATHS:
                    hidden[child] = len(gradient.paths)
                    continue
                paths = [product(*(Partial(symbol[e.node], symbol[e.child])
                                   for e in path.factors)) for path in gradient.paths]
                steps.append(record(PathSum, ("paths", child), f"d{f}/d{child}", lhs,
                                    total(*paths), gradient.approx))
        blocks.append(NodeBlock(node.name, sp.Eq(node.symbol, node.expression,
                                                 evaluate=False), tuple(steps)))
    return GraphDerivation(graph, inputs, forward, tuple(blocks), hidden)
