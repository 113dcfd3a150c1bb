"""Gradient descent on a scalar loss, step by step.

A ``kind: descent`` problem gives a loss as a formula in one parameter and some fixed
variables, e.g. ``L(w) = (y - w*x)^2`` with x = 3 and y = 10, a start value, a
learning rate and a number of steps. The pipeline reads top to bottom:

1. parse: the formula with :func:`derive.expression.parse_expression` (never
   evaluated as code), every number as an exact decimal (``0.1`` is 1/10);
2. differentiate: ``dL/dw = sympy.diff(L, w)``, once;
3. run: ``w_{k+1} = w_k − η·dL/dw(w_k)``, in exact rational arithmetic where L is a
   rational function of w, else (or once the fractions grow too long) with
   :data:`~derive.differences.PRECISION` significant digits; numbers are rounded only
   when printed;
4. finite differences at w₀ (:mod:`derive.differences`): ``(L(w+ε) − L(w))/ε`` and
   ``(L(w+ε) − L(w−ε))/(2ε)`` for each ε, and how far each lies from dL/dw;
5. check (:mod:`derive.descent_check`): every gradient, step, loss and table value
   again, by mpmath; any disagreement raises :class:`~derive.errors.CrossCheckError`;
6. step records → views → templates (``descent.md.j2`` with an SVG plot beside it,
   ``descent.tex.j2`` with pgfplots) and JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import sympy as sp
from msgspec import Meta, field

from . import __version__, curves
from .descent_check import (
    CHECK_DIGITS,
    CHECK_STEP,
    DescentCheck,
    check_descent,
    check_differences,
    check_shown,
)
from .differences import (
    PRECISION,
    Differences,
    DifferenceSettings,
    Names,
    difference_steps,
    differences_json,
    differences_view,
    evaluate,
    finite_differences,
    is_exact,
    printer,
    scientific,
)
from .errors import ProblemError
from .expression import parse_expression
from .forms import Shown, substitute
from .kinds import CurveSolution, equation_view, exact, gap, validate
from .latex import DerivePrinter
from .render import EquationView, Row
from .steps import Step, Update
from .typst import TypstPrinter
from .validation import Digits, Positive, Record

MAX_EXACT_DIGITS = 300  # a fraction longer than this ends exact arithmetic
MAX_STEPS = 1000


# --- the problem file ---------------------------------------------------------------

class DescentFile(Record, kw_only=True):
    """The fields of a ``kind: descent`` problem file."""

    kind: Literal["descent"]
    title: str = "Gradient descent"
    loss: str
    parameter: str
    values: dict[str, float] = field(default_factory=dict)
    start: float
    learning_rate: Positive
    steps: Annotated[int, Meta(ge=1, le=MAX_STEPS)]
    digits: Digits = 4
    rounding: Literal["decimals", "significant"] = "decimals"
    finite_differences: DifferenceSettings | None = DifferenceSettings()


@dataclass(frozen=True)
class DescentProblem:
    """A validated descent problem, its formula parsed and its numbers exact.

    Attributes:
        loss: the loss in the parameter and the fixed variables.
        parameter: the parameter's symbol.
        values: each fixed variable's symbol → its exact value.
        start, learning_rate: exact.
        epsilons: the finite-difference steps (empty: no table).
        source: the file the problem came from.
    """

    kind: str
    title: str
    loss_text: str
    loss: sp.Expr
    parameter: sp.Symbol
    values: dict[sp.Symbol, sp.Rational]
    start: sp.Rational
    learning_rate: sp.Rational
    steps: int
    digits: int
    rounding: str
    epsilons: tuple[sp.Rational, ...]
    source: str


def parse_problem(mapping: Mapping[str, Any], *, source: str = "<problem>") -> DescentProblem:
    """Validate a ``kind: descent`` mapping and parse its loss.

    Raises:
        ProblemError: naming ``source``, the field and what was expected.
    """
    spec = validate(DescentFile, mapping, source)
    if spec.parameter in spec.values:
        raise ProblemError(source, f"values.{spec.parameter}",
                           f"expected the fixed variables only; {spec.parameter} is the "
                           "parameter")
    loss = parse_expression(spec.loss, variables=[spec.parameter, *spec.values],
                            source=source, field="loss")
    symbols = {symbol.name: symbol for symbol in loss.free_symbols}
    if spec.parameter not in symbols:
        raise ProblemError(source, "loss", f"expected a formula in the parameter "
                                           f"{spec.parameter}, got {spec.loss!r}")
    for name in spec.values:
        if name not in symbols:
            raise ProblemError(source, f"values.{name}",
                               f"expected only variables of the loss; {name} does not appear "
                               f"in {spec.loss!r}")
    epsilons = () if spec.finite_differences is None else tuple(
        exact(e) for e in spec.finite_differences.epsilons)
    return DescentProblem(
        kind="descent", title=spec.title, loss_text=spec.loss, loss=loss,
        parameter=symbols[spec.parameter],
        values={symbols[name]: exact(value) for name, value in spec.values.items()},
        start=exact(spec.start), learning_rate=exact(spec.learning_rate), steps=spec.steps,
        digits=spec.digits, rounding=spec.rounding, epsilons=epsilons, source=source)


# --- the run -------------------------------------------------------------------------

def _short(value: sp.Number) -> bool:
    return not value.is_Rational or max(len(str(abs(value.p))), len(str(value.q))) \
        <= MAX_EXACT_DIGITS


@dataclass(frozen=True)
class Iterate:
    """``w_k``, ``L(w_k)`` and ``dL/dw(w_k)``; exact fractions when ``exact``."""

    k: int
    w: sp.Number
    loss: sp.Number
    gradient: sp.Number
    exact: bool


def run(problem: DescentProblem, gradient: sp.Expr) -> tuple[Iterate, ...]:
    """``w_0 … w_steps`` with ``w_{k+1} = w_k − η·gradient(w_k)``.

    Raises:
        ProblemError: the loss or its derivative has no real value at some w_k.
    """
    w = problem.parameter
    f = problem.loss.xreplace(problem.values)
    g = gradient.xreplace(problem.values)
    exact_run = is_exact(f, w)
    point, iterates = problem.start, []
    for k in range(problem.steps + 1):
        exact_run = exact_run and _short(point)
        try:
            loss = evaluate(f, w, point, exact=exact_run)
            slope = evaluate(g, w, point, exact=exact_run)
        except ValueError as error:
            raise ProblemError(problem.source, "loss", f"step {k}: {error}") from None
        iterates.append(Iterate(k, point, loss, slope, exact_run))
        point = point - problem.learning_rate * slope
    return tuple(iterates)


# --- step records --------------------------------------------------------------------

@dataclass(frozen=True)
class Definition:
    """``lhs = formula``, without numbers: ``L(w) = (y − w·x)²``."""

    lhs: sp.Expr
    formula: sp.Expr


def first_step(problem: DescentProblem, gradient: sp.Expr, iterates: tuple[Iterate, ...],
               names: Names) -> tuple[tuple[Step, ...], dict, sp.Symbol, sp.Symbol]:
    """Step 1 in three lines each: ``L(w₀)``, ``dL/dw(w₀)`` and ``w₁ = w₀ − η·dL/dw(w₀)``.

    Returns:
        The records, the table of shown numbers (for the finite-difference steps) and the
        symbols of w₀ and L(w₀).
    """
    w = problem.parameter
    w_tex, w_typ = sp.latex(w), TypstPrinter().doprint(w)
    w0 = names(f"{w.name}_0", f"{{{w_tex}}}_{{0}}", f"{w_typ}_0")
    w1 = names(f"{w.name}_1", f"{{{w_tex}}}_{{1}}", f"{w_typ}_1")
    eta = names("eta", r"\eta", "eta")
    loss_at = names(f"L({w.name}_0)", rf"L\left({{{w_tex}}}_{{0}}\right)", f"L({w_typ}_0)")
    slope_at = names(f"dL/d{w.name}({w.name}_0)",
                     rf"\frac{{\partial L}}{{\partial {w_tex}}}\left({{{w_tex}}}_{{0}}\right)",
                     f"frac(partial L, partial {w_typ})({w_typ}_0)")
    shown = {symbol: Shown(float(value), given=True) for symbol, value in problem.values.items()}
    shown[w0] = Shown(float(problem.start), given=True)
    shown[eta] = Shown(float(problem.learning_rate), given=True)
    start, second = iterates[0], iterates[1]
    loss_formula = substitute(problem.loss, {w: w0})
    slope_formula = substitute(gradient, {w: w0})
    steps = [Step(("loss", 0), loss_at.name, loss_at, loss_formula,
                  substitute(loss_formula, shown), float(start.loss)),
             Step(("gradient", 0), slope_at.name, slope_at, slope_formula,
                  substitute(slope_formula, shown), float(start.gradient))]
    shown[loss_at] = Shown(float(start.loss))
    shown[slope_at] = Shown(float(start.gradient))
    with sp.evaluate(False):
        update = sp.Add(w0, -sp.Mul(eta, slope_at))
    steps.append(Update(("w", 1), w1.name, w1, update, substitute(update, shown),
                        float(second.w)))
    return tuple(steps), shown, w0, loss_at


# --- the solution ------------------------------------------------------------------

@dataclass(frozen=True)
class DescentSolution(CurveSolution):
    """A checked gradient-descent run, ready to render.

    Attributes:
        problem: the validated problem.
        gradient: dL/dw as SymPy derived it (in w and the fixed variables).
        definitions: ``L(w) = …`` and ``∂L/∂w = …``, without numbers.
        iterates: w_k, L(w_k) and dL/dw(w_k) for k = 0 … steps.
        first_step: the records of step 1 (L(w₀), dL/dw(w₀), w₁).
        table: the finite-difference table at w₀, or None.
        table_steps: its first ε written out.
        names: LaTeX names of the symbols made for printing.
        check: what the independent computations confirmed.
    """

    problem: DescentProblem
    gradient: sp.Expr
    definitions: tuple[Definition, ...]
    iterates: tuple[Iterate, ...]
    first_step: tuple[Step, ...]
    table: Differences | None
    table_steps: tuple[Step, ...]
    names: Names
    check: DescentCheck
    template_dir: Path | None = None
    template = "descent"

    @property
    def final(self) -> Iterate:
        return self.iterates[-1]

    @cached_property
    def curve(self) -> curves.Curve:
        w = sp.latex(self.problem.parameter)
        return curves.Curve(tuple(it.k for it in self.iterates),
                            tuple(float(it.loss) for it in self.iterates),
                            "step k", f"L({{{w}}}_k)", markers=True)

    def view(self, stem: str, *, engine: str = "tex") -> dict:
        """What the templates lay out, the mathematics in LaTeX (``tex``) or Typst (``typ``;
        then without the finite differences and the plot, which only LaTeX documents show)."""
        problem = self.problem
        names = self.names.typst if engine == "typ" else self.names.latex
        print_ = printer(names, problem.digits, problem.rounding, engine=engine)

        def number(value, *, given: bool = False) -> str:
            return print_.doprint(Shown(float(value), given=given))

        w = print_.doprint(problem.parameter)
        start = self.names.named(f"{problem.parameter.name}_0")
        given = [Row(print_.doprint(symbol), number(value, given=True))
                 for symbol, value in sorted(problem.values.items(), key=lambda i: i[0].name)]
        given += [Row(print_.doprint(start), number(problem.start, given=True)),
                  Row(print_.doprint(self.names.named("eta")),
                      number(problem.learning_rate, given=True))]
        differences = None
        if self.table is not None and engine == "tex":
            differences = differences_view(self.table, self.table_steps, print_, theta=w,
                                           at_symbol=f"{{{w}}}_{{0}}", digits=problem.digits,
                                           rounding=problem.rounding)
        return {
            "title": problem.title,
            "parameter": w,
            "steps": problem.steps,
            "exact": all(it.exact for it in self.iterates),
            "precision": PRECISION,
            "definitions": [_definition_view(d, print_) for d in self.definitions],
            "given": given,
            "first_step": [equation_view(step, print_) for step in self.first_step],
            "rows": [{"k": it.k, "w": number(it.w), "loss": number(it.loss),
                      "gradient": number(it.gradient)} for it in self.iterates],
            "final": {"k": self.final.k, "w": number(self.final.w),
                      "loss": number(self.final.loss)},
            "differences": differences,
            "check": _check_view(self.check),
            "plot": self.plot(stem) if engine == "tex" else None,
        }

    def document(self) -> dict:
        problem = self.problem

        def exact_text(value, is_exact):
            return str(value) if is_exact else None

        return {
            "derive": __version__,
            "kind": "descent",
            "title": problem.title,
            "loss": problem.loss_text,
            "parameter": problem.parameter.name,
            "derivative": str(self.gradient),
            "values": {s.name: float(v) for s, v in problem.values.items()},
            "start": float(problem.start),
            "learning_rate": float(problem.learning_rate),
            "iterates": [{"k": it.k, "w": float(it.w), "loss": float(it.loss),
                          "gradient": float(it.gradient),
                          "exact": {"w": exact_text(it.w, it.exact),
                                    "loss": exact_text(it.loss, it.exact),
                                    "gradient": exact_text(it.gradient, it.exact)}}
                         for it in self.iterates],
            "quantities": {step.name: step.value for step in self.first_step},
            "finite_differences": None if self.table is None else differences_json(self.table),
            "check": {field: vars(getattr(self.check, field)) if getattr(self.check, field)
                      else None for field in ("gradients", "steps", "losses", "table")},
        }


def _definition_view(definition: Definition, print_: DerivePrinter) -> EquationView:
    return EquationView("definition", print_.doprint(definition.lhs),
                        (print_.doprint(definition.formula),), ())


def _check_view(check: DescentCheck) -> dict:
    view = {name: {"compared": getattr(check, name).compared,
                   "max_abs": gap(getattr(check, name).max_abs)}
            for name in ("gradients", "steps", "losses")}
    view["table"] = None if check.table is None else {
        "compared": check.table.compared, "max_abs": gap(check.table.max_abs)}
    view["shown"] = check.shown
    view["digits"] = CHECK_DIGITS
    view["h"] = scientific(float(CHECK_STEP), 1)
    return view


def solve(problem: DescentProblem, *, template_dir: str | Path | None = None) -> DescentSolution:
    """Differentiate, run, tabulate and cross-check a descent problem.

    Raises:
        ProblemError: the loss has no real value at some point of the run.
        CrossCheckError: a value disagrees with the independent computation.
    """
    # Differentiate once; run the steps.
    w = problem.parameter
    gradient = sp.diff(problem.loss, w)
    iterates = run(problem, gradient)

    # Step 1 in three lines each; the finite differences at w0, the first ε written out.
    names = Names()
    w_tex, w_typ = sp.latex(w), TypstPrinter().doprint(w)
    definitions = (Definition(names("L(w)", rf"L\left({w_tex}\right)", f"L({w_typ})"),
                              problem.loss),
                   Definition(names("dL/dw", rf"\frac{{\partial L}}{{\partial {w_tex}}}",
                                    f"frac(partial L, partial {w_typ})"), gradient))
    steps, shown, w0, loss_at = first_step(problem, gradient, iterates, names)
    table, table_steps = None, ()
    f = problem.loss.xreplace(problem.values)
    if problem.epsilons:
        try:
            table = finite_differences(f, w, iterates[0].w, iterates[0].gradient,
                                       problem.epsilons)
        except ValueError as error:
            raise ProblemError(problem.source, "finite_differences", str(error)) from None
        table_steps = difference_steps(
            table, names, w0, shown, loss_at,
            formula=lambda point: substitute(problem.loss, {w: point}))

    # Every number again, independently.
    gradients, step_check, losses = check_descent(problem, iterates)
    table_check = None if table is None else check_differences(f, w, table, w.name)
    shown_count = check_shown(steps + table_steps)
    check = DescentCheck(gradients, step_check, losses, table_check, shown_count)
    return DescentSolution(problem, gradient, definitions, iterates, steps, table, table_steps,
                           names, check, None if template_dir is None else Path(template_dir))
