"""The three forms of a quantity: symbolic, with numbers substituted, and its value.

Two SymPy atoms make the second form possible without letting SymPy evaluate it
away: :class:`Shown` is a number as it will be printed (it never combines with
other numbers) and :class:`Partial` is the slides' ``∂num/∂den`` as one factor.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy as sp
from sympy.core.function import Application
from sympy.core.operations import AssocOp
from sympy.core.relational import Relational
from sympy.printing.precedence import PRECEDENCE


class Shown(sp.Symbol):
    """A number that stands in a formula as printed, never folded into others.

    ``given`` numbers come from the problem file and are printed as written;
    computed ones are rounded by the printer's ``digits`` setting.
    """

    def __new__(cls, value: float, given: bool = False):
        value = float(value)
        obj = super().__new__(cls, f"{'=' if given else '~'}{value!r}")
        obj.value = value
        obj.given = given
        return obj

    def __getnewargs__(self):
        return (self.value, self.given)

    @property
    def precedence(self) -> int:
        # A negative number is parenthesized wherever a sum would be: 2·(−3), (−3)².
        return PRECEDENCE["Add"] if self.value < 0 else PRECEDENCE["Atom"]


class Partial(sp.Expr):
    """The factor ``∂num/∂den`` of a chain-rule product (not evaluated)."""

    is_commutative = True

    def __new__(cls, num: sp.Symbol, den: sp.Symbol):
        return sp.Expr.__new__(cls, num, den)

    @property
    def num(self) -> sp.Symbol:
        return self.args[0]

    @property
    def den(self) -> sp.Symbol:
        return self.args[1]


# Constructors that take ``evaluate=False``: rebuilding with it keeps a substituted form
# as written (order, repeated factors) without ``sympy.evaluate(False)``, whose every
# entry and exit empties SymPy's whole cache.
_UNEVALUATED = (AssocOp, sp.Pow, Application, Relational)


def substitute(expr: sp.Expr, values: Mapping[sp.Basic, sp.Basic]) -> sp.Expr:
    """``expr`` with each known symbol replaced by its shown number, unevaluated.

    A subexpression found in ``values`` is replaced whole; one whose class sets
    ``whole = True`` is kept as it is.
    """
    if expr in values:
        return values[expr]
    if not expr.args or getattr(expr, "whole", False):
        return expr
    args = tuple(substitute(arg, values) for arg in expr.args)
    if args == expr.args:
        return expr
    if issubclass(expr.func, _UNEVALUATED):
        return expr.func(*args, evaluate=False)
    return expr.func(*args)


def product(*factors: sp.Expr) -> sp.Expr:
    """An unevaluated product that keeps its factors in the order given."""
    return factors[0] if len(factors) == 1 else sp.Mul(*factors, evaluate=False)


def total(*terms: sp.Expr) -> sp.Expr:
    """An unevaluated sum that keeps its terms in the order given."""
    return terms[0] if len(terms) == 1 else sp.Add(*terms, evaluate=False)


def value_of(expr: sp.Expr) -> float:
    """Evaluate a substituted form with the full-precision numbers behind it."""
    numbers = {atom: sp.Float(atom.value, 30) for atom in expr.atoms(Shown)}
    return float(expr.xreplace(numbers).doit().evalf(30))
