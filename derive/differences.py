"""Finite differences of a loss in one parameter, as the slides approximate a derivative.

Shared by :mod:`derive.descent` (the loss as written, at the starting point) and
:mod:`derive.training` (a network's loss in one parameter, at its initial value):

1. evaluate: ``L(θ)`` in exact fractions where L is a rational function of θ, else with
   :data:`PRECISION` significant digits (:func:`is_exact`, :func:`evaluate`);
2. tabulate: for each ε the forward difference ``(L(θ+ε) − L(θ))/ε``, the central one
   ``(L(θ+ε) − L(θ−ε))/(2ε)`` and how far each lies from dL/dθ
   (:func:`finite_differences`);
3. write the first ε out as step records (:func:`difference_steps`);
4. views for the templates' ``differences_section`` and for JSON.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated

import sympy as sp
from msgspec import Meta

from .forms import Shown, substitute
from .kinds import equation_view
from .latex import DerivePrinter, format_given, format_number
from .steps import Step
from .typst import TypstPrinter, typst_string
from .validation import Positive, Record

PRECISION = 60  # significant digits where exact arithmetic is not possible
DEFAULT_EPSILONS = (0.1, 0.01, 0.001, 1e-4, 1e-5, 1e-6, 1e-7)


class DifferenceSettings(Record):
    """``finite_differences:`` the steps ε of the table (at the starting point)."""

    epsilons: Annotated[tuple[Positive, ...], Meta(min_length=1, max_length=12)] = \
        DEFAULT_EPSILONS


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


# --- the table -----------------------------------------------------------------------

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


# --- step records --------------------------------------------------------------------

class Names:
    """Symbols made for printing, with their LaTeX and Typst names (the printers'
    ``symbol_names``); a name given without its Typst form is set as upright text."""

    def __init__(self):
        self.latex: dict[sp.Symbol, str] = {}
        self.typst: dict[sp.Symbol, str] = {}

    def __call__(self, plain: str, latex: str, typst: str | None = None) -> sp.Symbol:
        symbol = sp.Dummy(plain)
        self.latex[symbol] = latex
        self.typst[symbol] = typst_string(plain) if typst is None else typst
        return symbol

    def named(self, plain: str) -> sp.Symbol:
        """The symbol made with the plain name ``plain``."""
        return next(symbol for symbol in self.latex if symbol.name == plain)


def printer(names: Mapping[sp.Symbol, str], digits: int, rounding: str, *,
            engine: str = "tex") -> DerivePrinter | TypstPrinter:
    """The printer of LaTeX (``tex``) or Typst (``typ``), with the names of the symbols in
    ``names`` (see :class:`Names`)."""
    kind = TypstPrinter if engine == "typ" else DerivePrinter
    return kind({"symbol_names": dict(names), "digits": digits, "rounding": rounding})


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
    eps = names("eps", r"\varepsilon", "epsilon")
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
    forward = names("D_forward", r"D_{\text{forward}}", 'D_"forward"')
    central = names("D_central", r"D_{\text{central}}", 'D_"central"')
    with sp.evaluate(False):
        forward_formula = sp.Mul(sp.Add(sides["+"], -loss_at), sp.Pow(eps, -1))
        central_formula = sp.Mul(sp.Add(sides["+"], -sides["-"]), sp.Pow(2 * eps, -1))
    for lhs, body, value, key in ((forward, forward_formula, row.forward, "forward"),
                                  (central, central_formula, row.central, "central")):
        steps.append(Step((key,), key, lhs, body, substitute(body, shown), float(value)))
    return tuple(steps)


# --- views ---------------------------------------------------------------------------

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
    """The table for JSON, every number as a float."""
    return {"at": float(table.at), "loss": float(table.loss), "gradient": float(table.gradient),
            "exact": table.exact,
            "rows": [{"eps": float(row.eps), "forward": float(row.forward),
                      "forward_error": float(row.forward_error),
                      "central": float(row.central), "central_error": float(row.central_error)}
                     for row in table.rows]}
