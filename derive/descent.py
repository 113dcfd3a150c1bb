"""Gradient descent on a scalar loss, step by step, and finite differences.

A ``kind: descent`` problem gives a loss as a formula in one parameter and some fixed
variables, e.g. ``L(w) = (y - w*x)^2`` with x = 3 and y = 10, a start value, a
learning rate and a number of steps. The pipeline reads top to bottom:

1. parse: the formula with :func:`derive.expression.parse_expression` (never
   evaluated as code), every number as an exact decimal (``0.1`` is 1/10);
2. differentiate: ``dL/dw = sympy.diff(L, w)``, once;
3. run: ``w_{k+1} = w_k − η·dL/dw(w_k)``, in exact rational arithmetic where L is a
   rational function of w, else (or once the fractions grow too long) with
   :data:`PRECISION` significant digits; numbers are rounded only when printed;
4. finite differences at w₀: ``(L(w+ε) − L(w))/ε`` and ``(L(w+ε) − L(w−ε))/(2ε)``
   for each ε, and how far each lies from dL/dw;
5. check: every gradient against a central difference of L evaluated by mpmath with
   :data:`CHECK_DIGITS` digits, every step redone in mpmath from w_k with that
   gradient, every loss and every table value recomputed by mpmath; any
   disagreement raises :class:`~derive.errors.CrossCheckError`;
6. step records → views → templates (``descent.md.j2`` with an SVG plot beside it,
   ``descent.tex.j2`` with pgfplots) and JSON.

The finite-difference table and the solution base class are shared with
:mod:`derive.training`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
import mpmath
import sympy as sp
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from . import __version__, catalog, curves
from .errors import CrossCheckError, ProblemError, RenderError
from .expression import parse_expression
from .expression import relu as expression_relu
from .forms import Shown, substitute, value_of
from .latex import DerivePrinter, escape_latex, format_given, format_number
from .render import Row, default_template_dir, escape_markdown
from .solution import atomic_write
from .steps import Step, Update

PRECISION = 60          # significant digits where exact arithmetic is not possible
MAX_EXACT_DIGITS = 300  # a fraction longer than this ends exact arithmetic
CHECK_DIGITS = 80       # mpmath's working precision in the cross-check
CHECK_STEP = mpmath.mpf("1e-25")  # h of the cross-check's central difference
CHECK_TOL = mpmath.mpf("1e-20")   # times max(1, |value|): what the cross-check accepts
MAX_STEPS = 1000
DEFAULT_EPSILONS = ("0.1", "0.01", "0.001", "1e-4", "1e-5", "1e-6", "1e-7")


# --- the problem file ---------------------------------------------------------------

def _no_bool(value: Any) -> Any:
    # YAML reads `yes`/`true` as booleans, which would pass as 1 and 0. (pydantic turns a
    # ValueError, not a TypeError, into a validation error.)
    if isinstance(value, bool):
        raise ValueError("expected a number, got a boolean")  # noqa: TRY004
    return value


Exact = Annotated[Decimal, BeforeValidator(_no_bool), Field(allow_inf_nan=False)]
Positive = Annotated[Decimal, BeforeValidator(_no_bool), Field(allow_inf_nan=False, gt=0)]


class StrictModel(BaseModel):
    """A pydantic model that refuses unknown keys and cannot be changed."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DifferenceSettings(StrictModel):
    """``finite_differences:`` the steps ε of the table (at the starting point)."""

    epsilons: tuple[Positive, ...] = Field(
        default=tuple(Decimal(e) for e in DEFAULT_EPSILONS), min_length=1, max_length=12)


class DescentFile(StrictModel):
    """The fields of a ``kind: descent`` problem file."""

    kind: Literal["descent"]
    title: str = "Gradient descent"
    loss: str
    parameter: str
    values: dict[str, Exact] = {}
    start: Exact
    learning_rate: Positive
    steps: Annotated[int, Field(ge=1, le=MAX_STEPS)]
    digits: Annotated[int, Field(ge=1, le=15)] = 4
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


def exact(value: Decimal) -> sp.Rational:
    """A decimal from the problem file as the exact fraction it denotes."""
    return sp.Rational(str(value))


def validation_error(exc: ValidationError, source: str,
                     fields: Mapping[str | None, Iterable[str]]) -> ProblemError:
    """The first pydantic error as a one-line :class:`ProblemError`.

    Args:
        fields: the allowed keys at the top level (``None``) and under each nested key,
            named in the message about an unknown key.
    """
    error = exc.errors()[0]
    path, parent = "", None
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        elif "[" not in part and "(" not in part:  # not a union branch's name
            parent = part if part in fields else parent
            path += f".{part}" if path else part
    if error["type"] == "extra_forbidden":
        message = f"unknown key; expected one of: {', '.join(sorted(fields[parent]))}"
    elif error["type"] == "missing":
        message = "required field is missing"
    else:
        message = error["msg"][0].lower() + error["msg"][1:]
        message = message.replace("input should be", "expected").replace("value error, ", "")
        got = error.get("input")
        if got is not None and not isinstance(got, (dict, list, tuple)):
            message += f" (got {got!r})"
    more = exc.error_count() - 1
    if more:
        message += f" (and {more} more error{'s' if more > 1 else ''})"
    return ProblemError(source, path, message)


def parse_problem(mapping: Mapping[str, Any], *, source: str = "<problem>") -> DescentProblem:
    """Validate a ``kind: descent`` mapping and parse its loss.

    Raises:
        ProblemError: naming ``source``, the field and what was expected.
    """
    try:
        spec = DescentFile.model_validate(dict(mapping))
    except ValidationError as exc:
        raise validation_error(exc, source, {
            None: DescentFile.model_fields,
            "finite_differences": DifferenceSettings.model_fields}) from None
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


# --- exact and precise arithmetic ---------------------------------------------------

def is_exact(expr: sp.Expr, theta: sp.Symbol) -> bool:
    """True if ``expr`` maps every rational θ to a rational (or to no value at all)."""
    return (expr.free_symbols <= {theta} and expr.is_rational_function(theta)
            and not expr.atoms(sp.Function, sp.NumberSymbol)
            and all(power.exp.is_Integer for power in expr.atoms(sp.Pow)))


def evaluate(expr: sp.Expr, theta: sp.Symbol, value: sp.Number, *, exact: bool) -> sp.Number:
    """``expr`` at θ = value: a fraction if ``exact``, else a Float of :data:`PRECISION` digits.

    Raises:
        ValueError: the expression has no real value there.
    """
    if exact and value.is_Rational:
        result = expr.xreplace({theta: value})
    else:
        result = expr.evalf(PRECISION, subs={theta: sp.Float(value, PRECISION)})
    if not (result.is_Number and result.is_finite and result.is_real):
        raise ValueError(f"{expr} has no real value at {theta} = {sp.Float(value, 15)}")
    return result


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


# --- finite differences -------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    """One ε: ``L(θ±ε)``, the forward and central differences, and their distances
    ``|difference − dL/dθ|`` from the derivative."""

    eps: sp.Rational
    above: sp.Number
    below: sp.Number
    forward: sp.Number
    central: sp.Number
    forward_error: sp.Number
    central_error: sp.Number


@dataclass(frozen=True)
class Differences:
    """The finite-difference table at θ₀: ``loss`` = L(θ₀), ``gradient`` = dL/dθ(θ₀)."""

    at: sp.Number
    loss: sp.Number
    gradient: sp.Number
    exact: bool
    rows: tuple[Difference, ...]


def finite_differences(loss: sp.Expr, theta: sp.Symbol, at: sp.Number, gradient: sp.Number,
                       epsilons: Iterable[sp.Rational]) -> Differences:
    """Forward and central differences of ``loss`` at θ = ``at`` for each ε.

    Args:
        loss: the loss in θ alone.
        gradient: dL/dθ at θ = ``at``, the value each difference is compared with.
    """
    exact_table = is_exact(loss, theta) and at.is_Rational and gradient.is_Rational

    def at_(value):
        return evaluate(loss, theta, value, exact=exact_table)

    centre, rows = at_(at), []
    for eps in epsilons:
        above, below = at_(at + eps), at_(at - eps)
        forward, central = (above - centre) / eps, (above - below) / (2 * eps)
        rows.append(Difference(eps, above, below, forward, central,
                               abs(forward - gradient), abs(central - gradient)))
    return Differences(at, centre, gradient, exact_table, tuple(rows))


# --- the independent check -------------------------------------------------------------

def to_elementary(expr: sp.Expr) -> sp.Expr:
    """``expr`` with derive's own functions written as elementary ones, for mpmath."""
    return expr.replace(
        lambda e: isinstance(e, catalog.sigmoid), lambda e: 1 / (1 + sp.exp(-e.args[0]))
    ).replace(
        lambda e: isinstance(e, (expression_relu, catalog.relu)), lambda e: sp.Max(0, e.args[0])
    ).replace(
        lambda e: isinstance(e, catalog.leaky_relu),
        lambda e: sp.Piecewise((e.args[0], e.args[0] > 0), (e.args[1] * e.args[0], True)))


def mp(value: sp.Number) -> mpmath.mpf:
    """A SymPy number as an mpmath number at the check's precision."""
    return mpmath.mpf(sp.Float(value, CHECK_DIGITS + 10)._mpf_)


def mp_function(expr: sp.Expr, theta: sp.Symbol):
    """θ ↦ expr evaluated by mpmath (call inside ``mpmath.workdps(CHECK_DIGITS)``)."""
    return sp.lambdify(theta, to_elementary(expr), modules="mpmath")


@dataclass(frozen=True)
class Agreement:
    """How many values one independent computation confirmed, and the largest gap."""

    method: str
    compared: int
    max_abs: float


def compare(method: str, pairs: Iterable[tuple[str, sp.Number, mpmath.mpf]]) -> Agreement:
    """Each (quantity, derive's value, reference) within CHECK_TOL·max(1, |reference|).

    Raises:
        CrossCheckError: at the first value outside.
    """
    count, largest = 0, mpmath.mpf(0)
    for quantity, derived, reference in pairs:
        gap = abs(mp(derived) - reference)
        if not gap <= CHECK_TOL * max(1, abs(reference)):
            raise CrossCheckError(quantity=quantity, derived=float(derived),
                                  reference=float(reference), method=method,
                                  tolerance=f"{mpmath.nstr(CHECK_TOL, 3)}·max(1, |value|)")
        count, largest = count + 1, max(largest, gap)
    return Agreement(method, count, float(largest))


def check_differences(loss: sp.Expr, theta: sp.Symbol, table: Differences,
                      name: str) -> Agreement:
    """Every number of the finite-difference table, recomputed by mpmath."""
    with mpmath.workdps(CHECK_DIGITS):
        f = mp_function(loss, theta)
        at, pairs = mp(table.at), [(f"L({name})", table.loss, f(mp(table.at)))]
        for row in table.rows:
            eps = mp(row.eps)
            above, below, centre = f(at + eps), f(at - eps), f(at)
            pairs += [(f"L({name}+{row.eps})", row.above, above),
                      (f"L({name}-{row.eps})", row.below, below),
                      (f"forward difference at eps={row.eps}", row.forward,
                       (above - centre) / eps),
                      (f"central difference at eps={row.eps}", row.central,
                       (above - below) / (2 * eps))]
        return compare("mpmath", pairs)


@dataclass(frozen=True)
class DescentCheck:
    """The outcome of :func:`check_descent` (it raises on any disagreement)."""

    gradients: Agreement   # dL/dw(w_k) against mpmath central differences
    steps: Agreement       # w_{k+1} redone from w_k in mpmath
    losses: Agreement      # L(w_k) recomputed by mpmath
    table: Agreement | None
    shown: int             # printed steps whose substituted form gives their value


def check_descent(problem: DescentProblem, iterates: tuple[Iterate, ...]) -> tuple[
        Agreement, Agreement, Agreement]:
    """Gradients, steps and losses of the run against mpmath, independently of SymPy's
    derivative and of the exact arithmetic: ``dL/dw`` is a central difference of L
    with h = 1e-25 at 80 digits, and each step is redone from derive's w_k."""
    w, f = problem.parameter, problem.loss.xreplace(problem.values)
    name = w.name
    gradients, steps, losses = [], [], []
    with mpmath.workdps(CHECK_DIGITS):
        loss = mp_function(f, w)
        rate = mp(problem.learning_rate)
        for current, following in zip(iterates, iterates[1:] + (None,)):
            point = mp(current.w)
            slope = (loss(point + CHECK_STEP) - loss(point - CHECK_STEP)) / (2 * CHECK_STEP)
            gradients.append((f"dL/d{name}({name}_{current.k})", current.gradient, slope))
            losses.append((f"L({name}_{current.k})", current.loss, loss(point)))
            if following is not None:
                steps.append((f"{name}_{following.k}", following.w, point - rate * slope))
        return (compare("mpmath central differences", gradients),
                compare("mpmath step", steps), compare("mpmath", losses))


def check_shown(steps: Iterable[Step]) -> int:
    """Each printed step's substituted form, evaluated, gives its value (to 1e-9)."""
    count = 0
    for step in steps:
        if step.substituted.atoms(Shown) and step.substituted != step.lhs:
            shown = value_of(step.substituted)
            if not math.isclose(shown, step.value, rel_tol=1e-9, abs_tol=1e-12):
                raise CrossCheckError(quantity=step.name, derived=step.value, reference=shown,
                                      method="the substituted form, evaluated",
                                      tolerance="1e-9 relative")
            count += 1
    return count


# --- step records ------------------------------------------------------------------

@dataclass(frozen=True)
class Definition:
    """``lhs = formula``, without numbers: ``L(w) = (y − w·x)²``."""

    lhs: sp.Expr
    formula: sp.Expr


class Names:
    """Symbols made for printing, with their LaTeX names (the printer's ``symbol_names``)."""

    def __init__(self):
        self.latex: dict[sp.Symbol, str] = {}

    def __call__(self, plain: str, latex: str) -> sp.Symbol:
        symbol = sp.Dummy(plain)
        self.latex[symbol] = latex
        return symbol


def difference_steps(table: Differences, names: Names, theta: sp.Symbol, shown: dict,
                     loss_at: sp.Symbol, formula=None) -> tuple[Step, ...]:
    """The first ε of the table written out: ``L(θ₀ ± ε)``, then both differences.

    Args:
        theta: the symbol of θ₀ (named in ``names``).
        shown: symbol → :class:`Shown` number, extended here.
        loss_at: the symbol of L(θ₀), already in ``shown``.
        formula: a function (θ-expression ↦ L written in it), or None to give
            L(θ₀ ± ε) as values only (a network's forward pass).
    """
    row = table.rows[0]
    eps = names("eps", r"\varepsilon")
    shown[eps] = Shown(float(row.eps), given=True)
    steps = []
    sides = {}
    for sign, value, text in ((1, row.above, "+"), (-1, row.below, "-")):
        lhs = names(f"L(theta{text}eps)",
                    rf"L\left({names.latex[theta]} {text} \varepsilon\right)")
        if formula is None:
            body = lhs
        else:
            body = formula(sp.Add(theta, sign * eps, evaluate=False))
        steps.append(Step(("L", text), f"L(theta{text}eps)", lhs, body,
                          substitute(body, shown), float(value)))
        shown[lhs] = Shown(float(value))
        sides[text] = lhs
    forward = names("D_forward", r"D_{\text{forward}}")
    central = names("D_central", r"D_{\text{central}}")
    with sp.evaluate(False):
        forward_formula = sp.Mul(sp.Add(sides["+"], -loss_at), sp.Pow(eps, -1))
        central_formula = sp.Mul(sp.Add(sides["+"], -sides["-"]), sp.Pow(2 * eps, -1))
    for lhs, body, value, key in ((forward, forward_formula, row.forward, "forward"),
                                  (central, central_formula, row.central, "central")):
        steps.append(Step((key,), key, lhs, body, substitute(body, shown), float(value)))
    return tuple(steps)


# --- views and rendering (shared with derive.training) --------------------------------

def printer(names: Mapping[sp.Symbol, str], digits: int, rounding: str) -> DerivePrinter:
    return DerivePrinter({"symbol_names": dict(names), "digits": digits, "rounding": rounding})


@dataclass(frozen=True)
class Equation:
    """One equation chain as LaTeX, ``lhs = rhs[0] = rhs[1] = …``, for the templates."""

    lhs: str
    rhs: tuple[str, ...]


def equation_view(record, print_: DerivePrinter) -> Equation:
    """A step as ``lhs = formula = substituted = value``, repeated forms dropped."""
    lhs = print_.doprint(record.lhs)
    if isinstance(record, Definition):
        return Equation(lhs, (print_.doprint(record.formula),))
    value = print_.doprint(Shown(record.value))
    rhs = []
    for form in (record.formula, record.substituted):
        text = print_.doprint(form)
        if text not in rhs and text not in (value, lhs):
            rhs.append(text)
    return Equation(lhs, (*rhs, value))


def scientific(value: float, digits: int = 2) -> str:
    """``2.4 \\cdot 10^{-7}`` (LaTeX), for distances that span many orders of magnitude."""
    value = float(value)
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return r"\infty" if value > 0 else r"-\infty"
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    exponent = int(exponent)
    if exponent == 0:
        return mantissa
    if mantissa in ("1", "-1"):
        return rf"{mantissa[:-1]}10^{{{exponent}}}"
    return rf"{mantissa} \cdot 10^{{{exponent}}}"


def epsilon_text(eps: sp.Rational) -> str:
    """A power of ten as ``10^{-7}``, any other step as written."""
    if eps.p == 1 and eps.q > 1 and 10 ** (len(str(eps.q)) - 1) == eps.q:
        return f"10^{{-{len(str(eps.q)) - 1}}}"
    return format_given(float(eps))


def differences_view(table: Differences, steps, print_: DerivePrinter, *, theta: str,
                     at_symbol: str, digits: int, rounding: str) -> dict:
    """What the templates' ``differences_section`` lays out.

    Args:
        theta: the LaTeX of the parameter (``w``); at_symbol: of the point (``{w}_{0}``).
    """
    number = lambda v: format_number(float(v), digits=digits, rounding=rounding)
    return {
        "theta": theta,
        "at_symbol": at_symbol,
        "precision": PRECISION,
        "exact": table.exact,
        "at": number(table.at),
        "gradient": number(table.gradient),
        "steps": [equation_view(step, print_) for step in steps],
        "eps": epsilon_text(table.rows[0].eps),
        "rows": [{"eps": epsilon_text(row.eps), "forward": number(row.forward),
                  "forward_error": scientific(row.forward_error),
                  "central": number(row.central),
                  "central_error": scientific(row.central_error)} for row in table.rows],
    }


def differences_json(table: Differences) -> dict:
    return {"at": float(table.at), "loss": float(table.loss), "gradient": float(table.gradient),
            "exact": table.exact,
            "rows": [{"eps": float(row.eps), "forward": float(row.forward),
                      "forward_error": float(row.forward_error),
                      "central": float(row.central), "central_error": float(row.central_error)}
                     for row in table.rows]}


@lru_cache(maxsize=8)
def environment(folder: str, fmt: str) -> jinja2.Environment:
    """Jinja2 as the core renders: strict, and ``((* *))``/``((( )))`` for LaTeX."""
    options = {"loader": jinja2.FileSystemLoader(folder), "undefined": jinja2.StrictUndefined,
               "keep_trailing_newline": True, "trim_blocks": True, "lstrip_blocks": True,
               "autoescape": False}
    if fmt == "tex":
        options.update(block_start_string="((*", block_end_string="*))",
                       variable_start_string="(((", variable_end_string=")))",
                       comment_start_string="((=", comment_end_string="=))")
    env = jinja2.Environment(**options)
    env.filters["escape_latex"] = escape_latex
    env.filters["escape_markdown"] = escape_markdown
    return env


def default_stem(source: str) -> str:
    """The stem ``derive solve`` gives a problem file's outputs; ``solution`` otherwise."""
    path = Path(source)
    return path.stem if path.suffix in (".yaml", ".yml") else "solution"


class KindSolution:
    """Rendering and writing shared by descent and training solutions.

    A subclass gives ``kind`` (the templates' prefix), ``problem``, ``template_dir``,
    ``view()`` (what the templates lay out), ``document()`` (the JSON) and ``curve``.
    The Markdown shows the curve as ``STEM.loss.svg``, written beside it by
    :meth:`write`; the LaTeX draws it with pgfplots from coordinates in the text.
    """

    kind: str

    @property
    def stem(self) -> str:
        return default_stem(self.problem.source)

    @staticmethod
    def image_name(stem: str) -> str:
        return f"{stem}.loss.svg"

    def render(self, fmt: str, *, stem: str | None = None) -> str:
        """The solution as ``md``, ``tex`` or ``json`` text.

        Args:
            stem: the name of the files written beside it (default: the problem file's).

        Raises:
            RenderError: unknown format, or a template missing or broken.
        """
        if fmt == "json":
            return json.dumps(self.document(), indent=2, ensure_ascii=False) + "\n"
        if fmt not in ("md", "tex"):
            raise RenderError(f"unknown format {fmt!r}; expected one of md, tex, json")
        folder = Path(self.template_dir or default_template_dir())
        name = f"{self.kind}.{fmt}.j2"
        curve = self.curve
        plot = {"image": self.image_name(stem or self.stem), "x_label": curve.x_label,
                "y_label": curve.y_label, "log": curve.log_scale, "markers": curve.markers,
                "ticks": ",".join(str(x) for x in curve.ticks),
                "coordinates": curves.pgfplots_coordinates(curve)}
        try:
            template = environment(str(folder), fmt).get_template(name)
            return template.render(**self.view(), plot=plot, version=__version__)
        except jinja2.TemplateNotFound as exc:
            raise RenderError(f"{folder}: template {exc.name} not found") from None
        except jinja2.TemplateError as exc:
            raise RenderError(f"{folder}/{name}: {exc}") from None

    def to_markdown(self) -> str:
        return self.render("md")

    def to_latex(self) -> str:
        return self.render("tex")

    def to_json(self) -> str:
        return self.render("json")

    def write(self, out_dir: str | Path, *, formats: Iterable[str] = ("md", "tex", "json"),
              stem: str = "solution") -> list[Path]:
        """Render every format (and the Markdown's SVG plot) first, then write each file
        atomically.

        Returns:
            The paths written.

        Raises:
            RenderError: a format is unknown, a template fails or matplotlib is missing
                (nothing is written).
        """
        formats = tuple(formats)
        files = {f"{stem}.{fmt}": self.render(fmt, stem=stem) for fmt in formats}
        if "md" in formats:
            files[self.image_name(stem)] = curves.svg(self.curve)
        folder = Path(out_dir)
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RenderError(f"{folder}: cannot create the output folder ({exc.strerror})") \
                from None
        return [atomic_write(folder / name, text) for name, text in files.items()]


# --- the solution ------------------------------------------------------------------

@dataclass(frozen=True)
class DescentSolution(KindSolution):
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
    kind = "descent"

    @property
    def final(self) -> Iterate:
        return self.iterates[-1]

    @cached_property
    def curve(self) -> curves.Curve:
        w = sp.latex(self.problem.parameter)
        return curves.Curve(tuple(it.k for it in self.iterates),
                            tuple(float(it.loss) for it in self.iterates),
                            "step k", f"L({{{w}}}_k)", markers=True)

    def view(self) -> dict:
        problem = self.problem
        print_ = printer(self.names.latex, problem.digits, problem.rounding)
        number = lambda v: format_number(float(v), digits=problem.digits,
                                         rounding=problem.rounding)
        w = print_.doprint(problem.parameter)
        given = [Row(print_.doprint(symbol), format_given(float(value)))
                 for symbol, value in sorted(problem.values.items(), key=lambda i: i[0].name)]
        given += [Row(f"{{{w}}}_{{0}}", format_given(float(problem.start))),
                  Row(r"\eta", format_given(float(problem.learning_rate)))]
        differences = None
        if self.table is not None:
            differences = differences_view(self.table, self.table_steps, print_, theta=w,
                                           at_symbol=f"{{{w}}}_{{0}}", digits=problem.digits,
                                           rounding=problem.rounding)
        return {
            "title": problem.title,
            "parameter": w,
            "steps": problem.steps,
            "exact": all(it.exact for it in self.iterates),
            "precision": PRECISION,
            "definitions": [equation_view(d, print_) for d in self.definitions],
            "given": given,
            "first_step": [equation_view(step, print_) for step in self.first_step],
            "rows": [{"k": it.k, "w": number(it.w), "loss": number(it.loss),
                      "gradient": number(it.gradient)} for it in self.iterates],
            "final": {"k": self.final.k, "w": number(self.final.w),
                      "loss": number(self.final.loss)},
            "differences": differences,
            "check": _check_view(self.check),
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


def _check_view(check: DescentCheck) -> dict:
    number = lambda v: f"{v:.1e}" if v else "0"
    view = {name: {"compared": getattr(check, name).compared,
                   "max_abs": number(getattr(check, name).max_abs)}
            for name in ("gradients", "steps", "losses")}
    view["table"] = None if check.table is None else {
        "compared": check.table.compared, "max_abs": number(check.table.max_abs)}
    view["shown"] = check.shown
    view["digits"] = CHECK_DIGITS
    view["h"] = scientific(float(CHECK_STEP), 1)
    return view


def first_step(problem: DescentProblem, gradient: sp.Expr, iterates: tuple[Iterate, ...],
               names: Names) -> tuple[tuple[Step, ...], dict, sp.Symbol]:
    """Step 1 in three lines each: ``L(w₀)``, ``dL/dw(w₀)`` and ``w₁ = w₀ − η·dL/dw(w₀)``.

    Returns:
        The records, the table of shown numbers (for the finite-difference steps) and the
        symbols of w₀ and L(w₀).
    """
    w = problem.parameter
    w_tex = sp.latex(w)
    w0 = names(f"{w.name}_0", f"{{{w_tex}}}_{{0}}")
    w1 = names(f"{w.name}_1", f"{{{w_tex}}}_{{1}}")
    eta = names("eta", r"\eta")
    loss_at = names(f"L({w.name}_0)", rf"L\left({{{w_tex}}}_{{0}}\right)")
    slope_at = names(f"dL/d{w.name}({w.name}_0)",
                     rf"\frac{{\partial L}}{{\partial {w_tex}}}\left({{{w_tex}}}_{{0}}\right)")
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
    w_tex = sp.latex(w)
    definitions = (Definition(names("L(w)", rf"L\left({w_tex}\right)"), problem.loss),
                   Definition(names("dL/dw", rf"\frac{{\partial L}}{{\partial {w_tex}}}"),
                              gradient))
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
