"""A derivative worked out by rules and checked, line by line, against ``sympy.diff``.

What every derivation of a ``kind: derivative`` problem (:mod:`derive.calculus`) is
built from:

1. :func:`derived` finds the rule tree of ``d(definition)/d(wrt)`` and writes it out
   (:mod:`derive.stepwise`) as a :class:`Derived` record, followed by its
   :class:`Rewrite` lines to the slides' form;
2. every line and every rewrite is checked against ``sympy.diff`` of the definition
   (difference simplified to 0, piece by piece for piecewise functions of :data:`Z`);
   a value at a point against ``sympy.diff`` at 30 digits and a central difference
   (:func:`check_value`); any disagreement raises :class:`~derive.errors.CrossCheckError`.

The plain case, a user's expression and its values at points
(:func:`derive_expression`), is here too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import sympy as sp

from .errors import CrossCheckError, ProblemError
from .forms import Shown, substitute
from .latex import format_given
from .rules import D, evaluated
from .steps import Step
from .stepwise import Working, find_rule, same, work

if TYPE_CHECKING:
    from .calculus import DerivativeProblem

FD_TOL = 1e-12  # relative, values against a central difference at 40 digits
Z = sp.Symbol("z", real=True)  # the variable of the activations, split at 0 into pieces


# -- records -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rewrite:
    """``expression``, equal to the line before it, and why (a key the view words)."""

    expression: sp.Expr
    reason: str


@dataclass(frozen=True)
class Derived:
    """``lhs = d(definition)/d(wrt)`` worked out by rules, then rewritten.

    ``working`` holds the lines (and the parts worked out apart); ``rewrites`` lead
    from the evaluated result to the final form; every one of them was checked equal
    to ``sympy.diff`` of the definition.
    """

    lhs: sp.Expr
    definition: sp.Expr
    working: Working
    rewrites: tuple[Rewrite, ...] = ()

    @property
    def final(self) -> sp.Expr:
        return self.rewrites[-1].expression if self.rewrites else self.working.result


class Prime(sp.Expr):
    """``f'(z)``: the derivative of a named function, at its argument."""

    is_commutative = True

    def __new__(cls, applied: sp.Expr):
        return sp.Expr.__new__(cls, applied)


@dataclass(frozen=True)
class ExpressionDerivative:
    """d(expression)/d(variable), worked out, and its values at the points."""

    derived: Derived
    values: tuple[Step, ...]
    kind: ClassVar[str] = "expression"


# -- written forms --------------------------------------------------------------------------

def frac(numerator: sp.Expr, denominator: sp.Expr) -> sp.Expr:
    """numerator/denominator written as a fraction, not multiplied out."""
    return sp.Mul(numerator, sp.Pow(denominator, -1), evaluate=False)


def plus(*terms: sp.Expr) -> sp.Expr:
    """A sum that keeps its terms as written."""
    return sp.Add(*terms, evaluate=False)


# -- deriving and checking -------------------------------------------------------------------

def derived(lhs: sp.Expr, definition: sp.Expr, wrt: sp.Symbol, *, quantity: str,
            rewrites: tuple[Rewrite, ...] = (), opaque: Mapping[sp.Symbol, sp.Expr] | None = None,
            names: Mapping[sp.Symbol, sp.Expr] | None = None,
            source: str = "<derivative>") -> Derived:
    """Work ``d(definition)/d(wrt)`` out by rules and check every line and rewrite.

    Args:
        opaque: symbols that depend on ``wrt`` through their definitions (derived
            elsewhere): their derivatives stay written; the check puts the
            definitions in.
        names: symbols that only the rewrites use for a sub-expression (``h`` for
            σ(z)), with what they stand for, for the check.

    Raises:
        CrossCheckError: a line differs from ``sympy.diff`` of the definition.
    """
    opaque = dict(opaque or {})
    known = {**opaque, **(names or {})}
    rule = find_rule(definition, wrt, opaque=opaque, source=source)
    working = work(rule)
    reference = sp.diff(expand(definition, known), wrt)
    _check_working(working, known, quantity)
    for number, rewrite in enumerate(rewrites, start=1):
        check(rewrite.expression, reference, known, f"{quantity} (rewrite {number})")
    return Derived(lhs, definition, working, rewrites)


def _check_working(working: Working, opaque: Mapping, quantity: str) -> None:
    for part in working.parts:
        _check_working(part, opaque, quantity)
    reference = sp.diff(expand(working.expr, opaque), working.wrt)
    for number, line in enumerate((*(line.expression for line in working.lines),
                                   working.result), start=1):
        check(line, reference, opaque, f"{quantity} (line {number})")


def check(expr: sp.Expr, reference: sp.Expr, opaque: Mapping, quantity: str) -> None:
    """``expr`` (its opaque symbols put in) equals ``reference``; a piecewise function
    on z < 0 and on z > 0.

    Raises:
        CrossCheckError: the difference does not simplify to 0.
    """
    expanded = evaluated(expand(expr, opaque))
    if expanded.has(sp.Piecewise) or reference.has(sp.Piecewise):
        # Piece by piece: on z < 0 and on z > 0 (the kink is examined apart).
        side = sp.Symbol("t", positive=True)
        agree = all(same(expanded.subs(Z, point), reference.subs(Z, point))
                    for point in (-side, side))
    else:
        agree = same(expanded, reference)
    if not agree:
        raise CrossCheckError(quantity, str(expanded), str(reference), "sympy.diff",
                              "difference simplified to 0")


def expand(expr: sp.Expr, opaque: Mapping) -> sp.Expr:
    """``expr`` with each opaque symbol replaced by its definition (which may use others)."""
    for _ in range(len(opaque) + 1):
        expr = expr.xreplace(dict(opaque))
    return expr


def check_value(quantity: str, value: sp.Expr, definition: sp.Expr, variable: sp.Symbol,
                at: sp.Expr, others: Mapping[sp.Symbol, sp.Expr] = {}) -> None:
    """A value against sympy.diff at 30 digits and a central difference at 40 digits."""
    point = {**others, variable: at}
    reference = sp.N(sp.diff(definition, variable).xreplace(point), 30)
    step = sp.Rational(1, 10**12)
    with_step = lambda shift: definition.evalf(40, subs={**point, variable: at + shift})
    difference = (with_step(step) - with_step(-step)) / (2 * step)
    for method, other in (("sympy.diff", reference), ("a central difference", difference)):
        if abs(value - other) > FD_TOL * max(1, abs(other)):
            raise CrossCheckError(quantity, float(value), float(other), method,
                                  f"{FD_TOL:g} relative")


# -- a user's expression ---------------------------------------------------------------------

def derive_expression(expr: sp.Expr, problem: DerivativeProblem,
                      index: int) -> ExpressionDerivative:
    """d(expr)/d(the first variable) worked out, and its values at the problem's points.

    Raises:
        ProblemError: the derivative is undefined at a point.
        CrossCheckError: a line or a value disagrees with sympy.diff.
    """
    symbols = {s.name: s for s in expr.free_symbols}
    variable = symbols.get(problem.names[0], sp.Symbol(problem.names[0], real=True))
    result = derived(D(expr, variable), expr, variable, quantity=f"d/d{variable}({expr})",
                     source=problem.source)
    values = []
    for point in problem.at:
        if isinstance(point, tuple):
            continue
        given = point if isinstance(point, dict) else {variable.name: point}
        at = {symbols.get(n, sp.Symbol(n, real=True)): sp.Rational(str(v))
              for n, v in given.items()}
        shown = {symbol: Shown(float(v), given=True) for symbol, v in at.items()}
        formula = substitute(result.final, shown)
        value = sp.N(evaluated(result.final).xreplace(at), 30)
        quantity = f"d/d{variable}({expr}) at " + ", ".join(
            f"{name}={format_given(float(value))}" for name, value in given.items())
        if not (value.is_Number and value.is_finite):
            raise ProblemError(problem.source, "at", f"{quantity} is undefined")
        check_value(quantity, value, expr, variable, at[variable],
                    {s: v for s, v in at.items() if s != variable})
        lhs = sp.Subs(D(expr, variable), tuple(at), tuple(shown.values()))
        values.append(Step(("value", index, tuple(given.items())), quantity, lhs, formula,
                           _numbers_in(formula), float(value)))
    return ExpressionDerivative(result, tuple(values))


def _numbers_in(formula: sp.Expr) -> sp.Expr:
    """Functions of shown numbers replaced by their values: e^{1} → 2.718."""
    given = formula.atoms(Shown)
    applied = {atom: Shown(float(sp.N(atom.xreplace({g: sp.Rational(str(g.value))
                                                     for g in given}), 30)))
               for atom in formula.atoms(sp.Function) if atom.has(*given)}
    return substitute(formula, applied)

