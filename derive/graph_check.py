"""The independent check of a graph problem: every value and gradient recomputed.

Each node's value is its sub-expression evaluated at the inputs. Each gradient df/dt
is taken from the output rebuilt from the node formulas with t left free, never from
the backward pass: ``sympy.diff`` by t at 30 digits, and a central finite difference
at 60 digits (skipped where t sits at a kink of relu, abs, max, …). A value further
than the tolerance from its reference raises :class:`~derive.errors.CrossCheckError`,
and nothing is published.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sympy as sp

from .errors import CrossCheckError
from .expression import relu
from .graph import Graph

SYMPY_TOL = 1e-20     # relative, derive's 30-digit values against sympy.diff
FD_TOL = 1e-12        # relative, against a central difference at 60 digits
FD_STEP = sp.Rational(1, 10**15)
KINKS = (relu, sp.Abs, sp.Max, sp.Min, sp.sign, sp.Heaviside)


@dataclass(frozen=True)
class GraphCheck:
    """How derive's values compared with the independent computations.

    Attributes:
        values: node values compared with the node's sub-expression evaluated directly.
        sympy: gradients compared with ``sympy.diff`` of the composed output.
        sympy_max_rel: the largest relative difference there.
        finite_differences: gradients compared with central differences.
        fd_max_rel: the largest relative difference there.
        fd_skipped: gradients not compared with finite differences (at a kink).
    """

    values: int
    sympy: int
    sympy_max_rel: float
    finite_differences: int
    fd_max_rel: float
    fd_skipped: tuple[str, ...]


def cross_check(graph: Graph) -> GraphCheck:
    """Recompute every value and gradient independently of the backward pass.

    Each node's value is its sub-expression evaluated at the inputs. Each gradient
    df/dt is taken from the output rebuilt from the node formulas with t left free:
    ``sympy.diff`` by t at 30 digits, and (t(+h) − t(−h))/2h at 60 digits.

    Raises:
        CrossCheckError: a value differs from its reference beyond the tolerance.
    """
    point = {v.symbol: v.value for v in graph.variables}
    f = graph.output
    for node in graph.nodes:
        reference = sp.N(node.subexpression.xreplace(point), 30)
        _compare(node.name, node.approx, reference, SYMPY_TOL, "direct evaluation")

    sympy_rel = fd_rel = 0.0
    compared = fd_compared = 0
    skipped = []
    for gradient in graph.gradients:
        if gradient.target == f:
            continue
        target = _symbol_of(graph, gradient.target)
        at = graph.node(gradient.target).value if target not in point else point[target]
        whole = _composed(graph, keep=gradient.target)
        others = {s: v for s, v in point.items() if s != target}
        name = f"d{f}/d{gradient.target}"

        reference = sp.N(sp.diff(whole, target).xreplace({**others, target: at}), 30)
        sympy_rel = max(sympy_rel, _compare(name, gradient.approx, reference, SYMPY_TOL,
                                            "sympy.diff of the composed output"))
        compared += 1

        kink = _near_kink(whole, {**others, target: at}, target)
        if kink is not None:
            skipped.append(f"{name} ({kink})")
            continue
        step = FD_STEP * max(1, abs(at))
        up = whole.evalf(60, subs={**others, target: at + step})
        down = whole.evalf(60, subs={**others, target: at - step})
        difference = (up - down) / (2 * step)
        fd_rel = max(fd_rel, _compare(name, gradient.approx, difference, FD_TOL,
                                      "a central finite difference"))
        fd_compared += 1
    return GraphCheck(len(graph.nodes), compared, sympy_rel, fd_compared, fd_rel,
                      tuple(skipped))


def _symbol_of(graph: Graph, name: str) -> sp.Symbol:
    for variable in graph.variables:
        if variable.name == name:
            return variable.symbol
    return graph.node(name).symbol


def _composed(graph: Graph, *, keep: str) -> sp.Expr:
    """The output in terms of the inputs and of the node ``keep`` (left as a symbol)."""
    expr = graph.nodes[-1].expression
    for node in reversed(graph.nodes[:-1]):  # every parent of a node comes before it
        if node.name != keep:
            expr = expr.xreplace({node.symbol: node.expression})
    return expr


def _near_kink(expr: sp.Expr, point: Mapping[sp.Symbol, sp.Expr],
               target: sp.Symbol) -> str | None:
    """A kink (relu, abs, max, …) of ``target`` whose argument is 0 at the point, where
    a finite difference straddles two slopes; None if there is none."""
    for part in sp.preorder_traversal(expr):
        if isinstance(part, KINKS) and part.has(target):
            arguments = [part.args[0].xreplace(point)]
            if isinstance(part, (sp.Max, sp.Min)):
                values = [a.xreplace(point) for a in part.args]
                arguments = [a - b for i, a in enumerate(values) for b in values[i + 1:]]
            for argument in arguments:
                if abs(sp.N(argument, 30)) < 1e-9:
                    return f"{type(part).__name__.lower()} at its kink"
    return None


def _compare(name: str, derived: sp.Expr, reference: sp.Expr, tolerance: float,
             method: str) -> float:
    derived, reference = sp.Float(derived, 30), sp.N(reference, 30)
    if not (reference.is_Number and reference.is_finite):
        raise CrossCheckError(name, float(derived), float("nan"), method, f"{tolerance:g}")
    relative = float(abs(derived - reference) / max(1, abs(reference)))
    if relative > tolerance:
        raise CrossCheckError(name, float(derived), float(reference), method,
                              f"{tolerance:g} relative")
    return relative
