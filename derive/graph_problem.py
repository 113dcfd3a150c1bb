"""Problems of kind ``graph``: the computational graph of a scalar expression.

A problem file gives an expression and the value of each input::

    kind: graph
    title: "f(x, y, z) = (x + y)z"
    expression: "(x + y) * z"
    values: {x: -2, y: 5, z: -4}
    node_names: [q]        # optional: names of the first intermediate nodes
    output: f              # optional, default f

The pipeline reads top to bottom:

1. parse the expression without evaluating it (:mod:`derive.expression`) and build
   the graph, both passes included (:mod:`derive.graph`);
2. write the step records (:mod:`derive.graph_steps`): the forward pass (one
   definition per node), then the backward pass node by node from the output down:
   each local derivative ``∂p/∂c``, and for each child whose every parent is done its
   gradient ``df/dc`` (an upstream product, or the sum over the parents where paths
   meet, and for an input reached along several paths, every path and their sum);
3. check every value against independent computations (:mod:`derive.graph_check`: the
   output composed with the quantity cut free, differentiated by ``sympy.diff`` at 30
   digits, and a central finite difference at 60 digits) and refuse to publish on
   disagreement;
4. render: Markdown (+ an SVG picture beside it, laid out by
   :mod:`derive.graph_figure`), LaTeX (+ TikZ), JSON.

Notation: ``∂p/∂c`` is a local derivative (node p's own formula differentiated by
its input c); ``df/dt`` is the gradient of the output f with respect to t through
the whole graph, every path included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import sympy as sp
from msgspec import Meta

from . import __version__
from .expression import parse_expression
from .forms import Shown
from .graph import Graph, build_graph
from .graph_check import GraphCheck, cross_check
from .graph_figure import layout, picture, plain_number
from .graph_steps import GraphDerivation, TotalDerivative, derive_graph
from .kinds import KindSolution, ProblemModel, equation_view, gap, validate
from .latex import DerivePrinter, format_given
from .spec import Number
from .typst import TypstPrinter
from .validation import Digits

# -- the problem -----------------------------------------------------------------------------

class GraphProblem(ProblemModel, kw_only=True):
    """A validated ``kind: graph`` problem."""

    kind: Literal["graph"]
    title: str = "Computational graph"
    expression: str
    values: Annotated[dict[str, Number], Meta(min_length=1)]
    output: str = "f"
    node_names: tuple[str, ...] = ()
    digits: Digits = 4
    rounding: Literal["decimals", "significant"] = "decimals"
    note: str | None = None

    def parsed(self) -> sp.Expr:
        """The expression in SymPy (ProblemError naming the offending token)."""
        return parse_expression(self.expression, variables=list(self.values),
                                source=self.source, field="expression")

    def written(self) -> sp.Expr:
        """The expression as written, for display (see ``parse_expression(as_written=True)``)."""
        return parse_expression(self.expression, variables=list(self.values),
                                source=self.source, field="expression", as_written=True)

    def graph(self) -> Graph:
        """The graph after both passes (ProblemError where it is undefined)."""
        return build_graph(self.parsed(), self.values, output_name=self.output,
                           node_names=self.node_names, source=self.source)


def parse_problem(mapping: Mapping[str, Any], *, source: str = "<problem>") -> GraphProblem:
    """Validate a ``kind: graph`` mapping; the expression and values are checked too.

    Raises:
        ProblemError: naming ``source``, the field and what was expected.
    """
    problem = validate(GraphProblem, mapping, source)
    problem.graph()  # refuse now what cannot be solved: bad tokens, log(−1), 1/0
    return problem


# -- the solution ----------------------------------------------------------------------------

@dataclass(frozen=True)
class GraphSolution(KindSolution):
    """A computational graph, derived and cross-checked, ready to render.

    Its Markdown shows the graph as ``STEM.svg``, written beside it; ``render("svg")``
    gives that picture.

    Attributes:
        problem: the validated problem.
        derivation: the step records.
        report: the cross-check's report.
        template_dir: templates replacing the shipped ones, or None.
    """

    problem: GraphProblem
    derivation: GraphDerivation
    report: GraphCheck
    template_dir: Path | None = None
    template = "graph"
    template_formats = ("md", "tex", "svg")

    @property
    def default_stem(self) -> str:
        """The problem file's name without its extension, or ``graph``."""
        source = self.problem.source
        return "graph" if source.startswith("<") else Path(source).stem

    @property
    def values(self) -> dict[str, float]:
        """Every input and node → its value."""
        return {step.name: step.value for step in (*self.derivation.inputs,
                                                   *self.derivation.forward)}

    @property
    def gradients(self) -> dict[str, float]:
        """Every input and node → d(output)/d(it)."""
        graph = self.derivation.graph
        return {g.target: float(g.approx) for g in graph.gradients}

    def pictures(self, stem: str) -> dict[str, str]:
        return {f"{stem}.svg": self.svg(self.picture())}

    def svg(self, picture: dict) -> str:
        """A picture from :meth:`picture` as SVG (without the rest of the view)."""
        return self.render_template("graph.svg.j2", "svg", {
            "title": self.problem.title, "output_plain": self.derivation.graph.output,
            "picture": picture})

    def printer(self, engine: str = "tex"):
        """The printer of this graph's mathematics: ``tex`` (LaTeX) or ``typ`` (Typst)."""
        settings = {"digits": self.problem.digits, "rounding": self.problem.rounding}
        return GraphTypstPrinter(settings) if engine == "typ" else GraphPrinter(settings)

    def picture(self, *, numbers: bool = True) -> dict:
        """The graph's picture for the SVG and TikZ templates: each node's value above it
        and its gradient below (without them, ``numbers=False``: for a question)."""
        problem, derivation = self.problem, self.derivation
        graph = derivation.graph
        printer = self.printer()
        settings = {"digits": problem.digits, "rounding": problem.rounding}
        labels = {v.name: printer.doprint(v.symbol) for v in graph.variables}
        labels.update((node.name, printer.doprint(node.symbol)) for node in graph.nodes)
        labels.update((node.name, printer.doprint(sp.Eq(node.symbol, node.expression,
                                                        evaluate=False)))
                      for node in graph.nodes if node.expression != node.symbol)
        values = {step.name: format_given(step.value) for step in derivation.inputs}
        values.update((step.name, plain_number(step.value, **settings))
                      for step in derivation.forward)
        gradients = {name: plain_number(value, **settings)
                     for name, value in self.gradients.items()}
        if not numbers:
            values = gradients = dict.fromkeys(labels, "")
        return {**picture(layout(graph, latex=labels, values=values, gradients=gradients)),
                "numbers": numbers}

    def view(self, stem: str, *, engine: str = "tex") -> dict:
        """What the templates lay out, the mathematics in LaTeX (``tex``) or Typst (``typ``)."""
        problem, derivation = self.problem, self.derivation
        graph = derivation.graph
        printer = self.printer(engine)
        f = sp.Symbol(graph.output, real=True)

        def number(value: float, *, given: bool = False) -> str:
            return printer.doprint(Shown(value, given=given))

        names = {v.name: printer.doprint(v.symbol) for v in graph.variables}
        names.update((node.name, printer.doprint(node.symbol)) for node in graph.nodes)
        forward = [{"symbol": names[step.name], "formula": None, "substituted": None,
                    "value": number(step.value, given=True)} for step in derivation.inputs]
        for step in derivation.forward:
            view = equation_view(step, printer)
            forward.append({"symbol": view.lhs, "formula": printer.doprint(step.formula),
                            "substituted": view.rhs[-2] if len(view.rhs) == 3 else None,
                            "value": view.rhs[-1]})
        backward = [{"definition": None if block.definition is None
                     else printer.doprint(block.definition),
                     "output": names[graph.output],
                     "equations": [equation_view(step, printer) for step in block.steps]}
                    for block in derivation.backward]
        gradients = [{"symbol": printer.doprint(TotalDerivative(f, v.symbol)),
                      "input": names[v.name],
                      "value": number(float(graph.gradient(v.name).approx))}
                     for v in graph.variables]

        report = self.report
        return {
            "title": problem.title,
            "note": problem.note,
            "function": printer.doprint(sp.Eq(f, problem.written(), evaluate=False)),
            "output": names[graph.output],
            "output_plain": graph.output,
            "at": ", ".join(f"{names[v.name]} = {number(float(v.approx), given=True)}"
                            for v in graph.variables),
            "forward": forward,
            "backward": backward,
            "gradients": gradients,
            "hidden_paths": [{"input": names[name], "count": count}
                             for name, count in derivation.hidden_paths.items()],
            "figure": f"{stem}.svg",
            "picture": self.picture(),
            "check": {"nodes": report.values, "sympy": report.sympy,
                      "sympy_max_rel": gap(report.sympy_max_rel),
                      "fd": report.finite_differences, "fd_max_rel": gap(report.fd_max_rel),
                      "fd_skipped": ", ".join(report.fd_skipped)},
        }

    def document(self) -> dict:
        graph = self.derivation.graph
        report = self.report
        return {
            "derive": __version__,
            "kind": "graph",
            "title": self.problem.title,
            "expression": str(graph.expression),
            "output": graph.output,
            "inputs": {v.name: float(v.approx) for v in graph.variables},
            "nodes": [{"name": node.name, "expression": str(node.expression),
                       "children": list(node.children), "value": float(node.approx)}
                      for node in graph.nodes],
            "local_derivatives": [{"node": d.node, "child": d.child,
                                   "expression": str(d.expression), "value": float(d.approx)}
                                  for d in graph.derivatives],
            "gradients": self.gradients,
            "paths": {v.name: [{"factors": [f"d{e.node}/d{e.child}" for e in path.factors],
                                "value": float(path.approx)}
                               for path in graph.gradient(v.name).paths]
                      for v in graph.variables},
            "check": {"values_compared": report.values, "sympy_compared": report.sympy,
                      "sympy_max_rel": report.sympy_max_rel,
                      "finite_differences_compared": report.finite_differences,
                      "finite_differences_max_rel": report.fd_max_rel,
                      "finite_differences_skipped": list(report.fd_skipped)},
        }


def solve(problem: GraphProblem, *, template_dir: str | Path | None = None) -> GraphSolution:
    """Derive and cross-check the worked solution of a graph problem.

    Raises:
        ProblemError: the expression is undefined at the values.
        CrossCheckError: a value disagrees with the independent computations.
    """
    graph = problem.graph()
    derivation = derive_graph(graph)
    report = cross_check(graph)
    return GraphSolution(problem, derivation, report,
                         None if template_dir is None else Path(template_dir))


# -- printing --------------------------------------------------------------------------------

class GraphPrinter(DerivePrinter):
    """DerivePrinter with the gradient ``df/dt`` of the whole graph."""

    def _print_TotalDerivative(self, expr: TotalDerivative) -> str:
        num, den = self._print(expr.num), self._print(expr.den)
        return r"\frac{\mathrm{d} " + num + r"}{\mathrm{d} " + den + "}"


class GraphTypstPrinter(TypstPrinter):
    """TypstPrinter with the gradient ``df/dt`` of the whole graph."""

    def _print_TotalDerivative(self, expr: TotalDerivative) -> str:
        return f"frac(dif {self._print(expr.num)}, dif {self._print(expr.den)})"

    def _print_Equality(self, expr: sp.Eq) -> str:
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"
