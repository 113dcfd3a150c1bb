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
2. write the step records: the forward pass (one definition per node), then the
   backward pass node by node from the output down: each local derivative
   ``∂p/∂c``, and for each child whose every parent is done its gradient
   ``df/dc`` (an upstream product, or the sum over the parents where paths meet,
   and for an input reached along several paths, every path and their sum);
3. check every value against independent computations (the output composed with
   the quantity cut free, differentiated by ``sympy.diff`` at 30 digits, and a
   central finite difference at 60 digits) and refuse to publish on disagreement;
4. render: Markdown (+ an SVG picture beside it), LaTeX (+ TikZ), JSON.

Notation: ``∂p/∂c`` is a local derivative (node p's own formula differentiated by
its input c); ``df/dt`` is the gradient of the output f with respect to t through
the whole graph, every path included.

The helpers at the end (validation, templates, writing) serve the other problem
kinds of this family too (:mod:`derive.calculus`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import jinja2
import numpy as np
import sympy as sp
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from . import __version__
from .errors import CrossCheckError, ProblemError, RenderError
from .expression import parse_expression, relu
from .forms import Partial, Shown, product, substitute, total
from .graph import Graph, build_graph
from .graph_figure import Layout, layout
from .latex import DerivePrinter, escape_latex, format_given, format_number
from .spec import Number, _describe, _field_path
from .steps import ChainProduct, Given, PathSum, Step

MAX_SHOWN_PATHS = 16  # paths written out term by term for one input
SYMPY_TOL = 1e-20     # relative, derive's 30-digit values against sympy.diff
FD_TOL = 1e-12        # relative, against a central difference at 60 digits
FD_STEP = sp.Rational(1, 10**15)
TEXT_WIDTH_CM = 16.5  # the TikZ picture is scaled down to fit a page this wide
KINKS = (relu, sp.Abs, sp.Max, sp.Min, sp.sign, sp.Heaviside)


# -- 1. the problem ----------------------------------------------------------------------

class GraphProblem(BaseModel):
    """A validated ``kind: graph`` problem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["graph"]
    title: str = "Computational graph"
    expression: str
    values: dict[str, Number] = Field(min_length=1)
    output: str = "f"
    node_names: tuple[str, ...] = ()
    digits: Annotated[int, Field(ge=1, le=15)] = 4
    rounding: Literal["decimals", "significant"] = "decimals"
    note: str | None = None
    _source: str = PrivateAttr("<problem>")

    @property
    def source(self) -> str:
        """The file the problem was read from."""
        return self._source

    def parsed(self) -> sp.Expr:
        """The expression in SymPy (ProblemError naming the offending token)."""
        return parse_expression(self.expression, variables=list(self.values),
                                source=self.source, field="expression")

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


# -- 2. step records ---------------------------------------------------------------------

class TotalDerivative(sp.Expr):
    """``d num / d den``: the gradient of the output through the whole graph."""

    is_commutative = True

    def __new__(cls, num: sp.Symbol, den: sp.Symbol):
        return sp.Expr.__new__(cls, num, den)

    @property
    def num(self) -> sp.Symbol:
        return self.args[0]

    @property
    def den(self) -> sp.Symbol:
        return self.args[1]

    def _xreplace(self, rule):
        # One symbol, as Partial is: never substitute numbers into its parts.
        return (rule[self], True) if self in rule else (self, False)


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


# -- 3. the cross-check ------------------------------------------------------------------

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


# -- 4. the solution ---------------------------------------------------------------------

@dataclass(frozen=True)
class GraphSolution:
    """A computational graph, derived and cross-checked, ready to render.

    Attributes:
        problem: the validated problem.
        derivation: the step records.
        report: the cross-check's report.
        template_dir: templates replacing the shipped ones, or None.
        figure: the file name of the SVG picture the Markdown shows.
    """

    problem: GraphProblem
    derivation: GraphDerivation
    report: GraphCheck
    template_dir: Path | None = None
    figure: str = "graph.svg"

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

    def render(self, fmt: str) -> str:
        """The solution as ``md``, ``tex``, ``json`` or ``svg`` (the picture) text."""
        if fmt == "json":
            return _json(self)
        return render_template("graph", fmt, _view(self), self.template_dir)

    def to_markdown(self) -> str:
        return self.render("md")

    def to_latex(self) -> str:
        return self.render("tex")

    def to_json(self) -> str:
        return self.render("json")

    def write(self, out_dir: str | Path, *, formats: Iterable[str] = ("md", "tex", "json"),
              stem: str = "solution") -> list[Path]:
        """Render every format first (with Markdown, its SVG picture), then write each
        file atomically. Returns the paths written."""
        solution = replace(self, figure=f"{stem}.svg")
        formats = tuple(formats)
        texts = {fmt: solution.render(fmt) for fmt in formats}
        if "md" in formats:
            texts["svg"] = solution.render("svg")
        return write_texts(out_dir, stem, texts)


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
                         None if template_dir is None else Path(template_dir),
                         f"{stem_of(problem.source, 'graph')}.svg")


# -- rendering ---------------------------------------------------------------------------

class GraphPrinter(DerivePrinter):
    """DerivePrinter with the gradient ``df/dt`` of the whole graph."""

    def _print_TotalDerivative(self, expr: TotalDerivative) -> str:
        return r"\frac{\mathrm{d} %s}{\mathrm{d} %s}" % (self._print(expr.num),
                                                        self._print(expr.den))

    def _print_Equality(self, expr: sp.Eq) -> str:
        return f"{self._print(expr.lhs)} = {self._print(expr.rhs)}"


@dataclass(frozen=True)
class EquationView:
    """One equation chain in LaTeX: ``lhs = rhs[0] = rhs[1] = …``."""

    kind: str
    lhs: str
    rhs: tuple[str, ...]


def equation_view(step: Step, printer: DerivePrinter) -> EquationView:
    """The chain formula = numbers = value, each form once."""
    lhs = printer.doprint(step.lhs)
    value = printer.doprint(Shown(step.value))
    rhs: list[str] = []
    for form in (step.formula, step.substituted):
        text = printer.doprint(form)
        if text not in rhs and text not in (value, lhs):
            rhs.append(text)
    return EquationView(step.kind, lhs, (*rhs, value))


def _view(solution: GraphSolution) -> dict:
    problem, derivation = solution.problem, solution.derivation
    graph = derivation.graph
    printer = GraphPrinter({"digits": problem.digits, "rounding": problem.rounding})
    settings = {"digits": problem.digits, "rounding": problem.rounding}
    f = sp.Symbol(graph.output, real=True)

    latex = {v.name: printer.doprint(v.symbol) for v in graph.variables}
    latex.update((node.name, printer.doprint(node.symbol)) for node in graph.nodes)
    forward = [{"symbol": latex[step.name], "formula": None, "substituted": None,
                "value": format_given(step.value)} for step in derivation.inputs]
    for step in derivation.forward:
        view = equation_view(step, printer)
        forward.append({"symbol": view.lhs, "formula": printer.doprint(step.formula),
                        "substituted": view.rhs[-2] if len(view.rhs) == 3 else None,
                        "value": view.rhs[-1]})
    backward = [{"definition": None if block.definition is None
                 else printer.doprint(block.definition),
                 "output": latex[graph.output],
                 "equations": [equation_view(step, printer) for step in block.steps]}
                for block in derivation.backward]
    gradients = [{"symbol": printer.doprint(TotalDerivative(f, v.symbol)),
                  "input": latex[v.name], "value": format_number(
                      float(graph.gradient(v.name).approx), **settings)}
                 for v in graph.variables]

    labels = dict(latex)
    labels.update((node.name, printer.doprint(sp.Eq(node.symbol, node.expression,
                                                    evaluate=False)))
                  for node in graph.nodes if node.expression != node.symbol)
    values = {step.name: format_given(step.value) for step in derivation.inputs}
    values.update((step.name, plain_number(step.value, **settings))
                  for step in derivation.forward)
    figure = layout(graph, latex=labels, values=values,
                    gradients={name: plain_number(value, **settings)
                               for name, value in solution.gradients.items()})

    report = solution.report
    rate = lambda v: f"{v:.1e}" if v else "0"
    return {
        "title": problem.title,
        "note": problem.note,
        "version": __version__,
        "function": printer.doprint(sp.Eq(f, graph.expression, evaluate=False)),
        "output": latex[graph.output],
        "output_plain": graph.output,
        "at": ", ".join(f"{latex[v.name]} = {format_given(float(v.approx))}"
                        for v in graph.variables),
        "forward": forward,
        "backward": backward,
        "gradients": gradients,
        "hidden_paths": [{"input": latex[name], "count": count}
                         for name, count in derivation.hidden_paths.items()],
        "figure": solution.figure,
        "picture": _picture(figure),
        "check": {"nodes": report.values, "sympy": report.sympy,
                  "sympy_max_rel": rate(report.sympy_max_rel),
                  "fd": report.finite_differences, "fd_max_rel": rate(report.fd_max_rel),
                  "fd_skipped": ", ".join(report.fd_skipped)},
    }


def _picture(figure: Layout) -> dict:
    """The layout with its numbers ready for the SVG and TikZ templates."""
    cm = lambda px: round(px * 0.026, 3)

    def tikz(point):
        return f"({cm(point[0])},{cm(figure.height - point[1])})"

    edges = []
    for edge in figure.edges:
        curves = edge.curves
        svg = "M {} {} ".format(*curves[0][0]) + " ".join(
            "C {} {}, {} {}, {} {}".format(*c1, *c2, *end) for _, c1, c2, end in curves)
        parts = []  # from the child's east anchor to the parent's west anchor
        for index, (_, c1, c2, end) in enumerate(curves):
            parts.append(f".. controls {tikz(c1)} and {tikz(c2)} ..")
            if index < len(curves) - 1:
                parts.append(tikz(end))
        tex = " ".join(parts)
        edges.append({"svg": svg, "child": edge.child, "parent": edge.parent,
                      "tikz": tex})
    boxes = [{"name": box.name, "label": box.label, "latex": box.latex,
              "value": box.value, "gradient": box.gradient, "given": box.given,
              "left": round(box.x - box.width / 2, 1),
              "top": round(box.y - figure.box_height / 2, 1),
              "x": box.x, "y": box.y, "width": box.width, "height": figure.box_height,
              "baseline": round(box.y + 4.5, 1),
              "above": round(box.y - 21, 1), "below": round(box.y + 32, 1),
              "tikz_at": tikz((box.x, box.y)), "tikz_width": cm(box.width)}
             for box in figure.boxes]
    value_at, gradient_at = (24, figure.legend_y), (220, figure.legend_y)
    return {"width": figure.width, "height": figure.height, "boxes": boxes,
            "edges": edges,
            "legend": {"value_x": value_at[0], "gradient_x": gradient_at[0],
                       "y": figure.legend_y, "value_tikz": tikz(value_at),
                       "gradient_tikz": tikz(gradient_at)},
            "tikz_scale": round(min(1.0, TEXT_WIDTH_CM / cm(figure.width)), 3)}


def _json(solution: GraphSolution) -> str:
    graph = solution.derivation.graph
    report = solution.report
    document = {
        "derive": __version__,
        "kind": "graph",
        "title": solution.problem.title,
        "expression": str(graph.expression),
        "output": graph.output,
        "inputs": {v.name: float(v.approx) for v in graph.variables},
        "nodes": [{"name": node.name, "expression": str(node.expression),
                   "children": list(node.children), "value": float(node.approx)}
                  for node in graph.nodes],
        "local_derivatives": [{"node": d.node, "child": d.child,
                               "expression": str(d.expression), "value": float(d.approx)}
                              for d in graph.derivatives],
        "gradients": solution.gradients,
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
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# -- shared by the problem kinds of this family ---------------------------------------------

def validate(model: type[BaseModel], mapping: Mapping[str, Any], source: str) -> Any:
    """Validate a mapping against a pydantic model, errors as one-line ProblemErrors.

    The model's private ``_source`` is set to ``source``.
    """
    if not isinstance(mapping, Mapping):
        raise ProblemError(source, "", "expected a mapping of fields at the top level")
    try:
        problem = model.model_validate(dict(mapping))
    except ValidationError as exc:
        error = exc.errors()[0]
        if error["type"] == "extra_forbidden":
            message = f"unknown key; expected one of: {', '.join(sorted(model.model_fields))}"
        else:
            message = _describe(error)
        more = exc.error_count() - 1
        if more:
            message += f" (and {more} more error{'s' if more > 1 else ''})"
        raise ProblemError(source, _field_path(error["loc"]), message) from None
    problem._source = source
    return problem


def stem_of(source: str, default: str) -> str:
    """The file name of a problem without its extension (``default`` if not a file)."""
    return default if source.startswith("<") else Path(source).stem


def plain_number(value: float, *, digits: int, rounding: str) -> str:
    """A number as printed, in plain text (``format_number`` writes LaTeX powers of ten)."""
    text = format_number(value, digits=digits, rounding=rounding)
    if "\\" not in text:
        return text
    return np.format_float_scientific(value, precision=max(digits - 1, 0), unique=False,
                                      trim="-")


def template_folder(template_dir: str | Path | None, name: str) -> Path:
    """The folder holding ``name``: the one given, else the shipped ``templates/``."""
    if template_dir is not None:
        return Path(template_dir)
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / name).is_file():
            return candidate
    raise RenderError("the templates folder is missing from this installation")


@lru_cache(maxsize=16)
def _environment(folder: str, latex: bool) -> jinja2.Environment:
    options = dict(loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined,
                   keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                   autoescape=False)
    if latex:
        options.update(block_start_string="((*", block_end_string="*))",
                       variable_start_string="(((", variable_end_string=")))",
                       comment_start_string="((=", comment_end_string="=))")
    environment = jinja2.Environment(**options)
    from .render import escape_markdown

    environment.filters["escape_latex"] = escape_latex
    environment.filters["escape_markdown"] = escape_markdown
    return environment


def render_template(prefix: str, fmt: str, view: Mapping[str, Any],
                    template_dir: str | Path | None) -> str:
    """Render ``templates/{prefix}.{fmt}.j2`` with a view.

    Raises:
        RenderError: unknown format, or a template missing or broken.
    """
    name = f"{prefix}.{fmt}.j2"
    if fmt not in ("md", "tex", "svg"):
        raise RenderError(f"unknown format {fmt!r}; expected one of md, tex, json")
    folder = template_folder(template_dir, name)
    try:
        template = _environment(str(folder), fmt == "tex").get_template(name)
        return template.render(**view)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"{folder}: template {exc.name} not found") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"{folder}/{name}: {exc}") from None


def write_texts(out_dir: str | Path, stem: str, texts: Mapping[str, str]) -> list[Path]:
    """Write ``{stem}.{extension}`` for each text, atomically; return the paths."""
    from .solution import atomic_write

    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"{folder}: cannot create the output folder ({exc.strerror})") \
            from None
    return [atomic_write(folder / f"{stem}.{extension}", text)
            for extension, text in texts.items()]
