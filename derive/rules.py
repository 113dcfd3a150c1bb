"""Differentiation step by step: the rules as records, and derivatives written, not worked out.

In the spirit of SymPy's ``manualintegrate``: one small typed record per rule of
differentiation, whose docstring is the mathematics it applies, holding the records of
the parts it needs (the chain rule holds one record per link). Nothing here writes
words or LaTeX. :mod:`derive.stepwise` finds the rule tree of an expression and writes
it out line by line, the way a lecturer works one down; the parts not worked out yet
stand as :class:`D` (a derivative written, not evaluated) inside :class:`Factors`
(factors kept in the order written):

    d/dx e^(e^(x²))  =  d e^(e^(x²))/d e^(x²) · d e^(x²)/d x² · d x²/dx     chain rule
                     =  e^(e^(x²)) · e^(x²) · 2x                         exp rule, power rule
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy as sp
from sympy.core.sympify import _sympify

from .catalog import sigmoid
from .expression import relu

# -- expressions that stay as written -------------------------------------------------

class D(sp.Expr):
    """``d(expr)/d(wrt)``, written but not worked out: a later line applies a rule to it.

    ``wrt`` is a variable, or in a chain-rule link the inner expression itself
    (Leibniz's ``d e^(x²) / d x²``).
    """

    is_commutative = True

    def __new__(cls, expr: sp.Expr, wrt: sp.Expr):
        return sp.Expr.__new__(cls, _sympify(expr), _sympify(wrt))

    @property
    def expr(self) -> sp.Expr:
        return self.args[0]

    @property
    def wrt(self) -> sp.Expr:
        return self.args[1]

    def worked_out(self) -> sp.Expr:
        """The derivative by ``sympy.diff`` (with respect to a sub-expression: through a dummy)."""
        expr, wrt = evaluated(self.expr), evaluated(self.wrt)
        if wrt.is_Symbol:
            return sp.diff(expr, wrt)
        inner = sp.Dummy("u")
        return sp.diff(expr.xreplace({wrt: inner}), inner).xreplace({inner: wrt})


class Factors(sp.Expr):
    """Factors multiplied, kept in the order written (``e^(x²) · 2x``, not ``2x e^(x²)``)."""

    is_commutative = True

    def __new__(cls, *factors: sp.Expr):
        return sp.Expr.__new__(cls, *map(_sympify, factors))  # strict: numbers, never text


def rebuilt(expr: sp.Basic) -> sp.Basic:
    """``expr`` built again with SymPy's evaluation: products multiplied, ``0 + 1`` added."""
    if not expr.args or isinstance(expr, (sp.Symbol, sp.Number)):
        return expr
    args = [rebuilt(arg) for arg in expr.args]
    return sp.Mul(*args) if isinstance(expr, Factors) else expr.func(*args)


def evaluated(expr: sp.Expr) -> sp.Expr:
    """``expr`` rebuilt (see :func:`rebuilt`), with every :class:`D` worked out."""
    expr = rebuilt(expr)
    while expr.has(D):
        expr = expr.replace(lambda e: isinstance(e, D) and not e.expr.has(D)
                            and not e.wrt.has(D), lambda e: e.worked_out())
    return expr


def times(*factors: sp.Expr) -> sp.Expr:
    """An unevaluated product whose numbers are not distributed over sums (``2(f − y)``)."""
    factors = [f for f in factors if f != 1] or [sp.S.One]
    return factors[0] if len(factors) == 1 else sp.Mul(*factors, evaluate=False)


# -- the rules -----------------------------------------------------------------------

@dataclass(frozen=True)
class Rule:
    """d(expr)/d(wrt); ``parts`` are the rules of what it leaves to differentiate."""

    expr: sp.Expr
    wrt: sp.Expr

    @property
    def parts(self) -> tuple[Rule, ...]:
        return ()

    def written(self, parts: tuple[sp.Expr, ...]) -> sp.Expr:
        """The rule's right-hand side, with each part written as given."""
        raise NotImplementedError

    def derivative(self) -> sp.Expr:
        """The derivative, evaluated (SymPy's arithmetic; opaque parts stay as D)."""
        return rebuilt(self.written(tuple(part.derivative() for part in self.parts)))


@dataclass(frozen=True)
class ConstantRule(Rule):
    """d/dx c = 0 for c not depending on x."""

    def written(self, parts):
        return sp.S.Zero


@dataclass(frozen=True)
class IdentityRule(Rule):
    """d/dx x = 1."""

    def written(self, parts):
        return sp.S.One


@dataclass(frozen=True)
class LinearRule(Rule):
    """d/dx (c·x) = c."""

    coefficient: sp.Expr = sp.S.One

    def written(self, parts):
        return self.coefficient


@dataclass(frozen=True)
class OpaqueRule(Rule):
    """d/dx f stays as it is: f depends on x through a definition derived separately."""

    def written(self, parts):
        return D(self.expr, self.wrt)

    def derivative(self) -> sp.Expr:
        return D(self.expr, self.wrt)


@dataclass(frozen=True)
class ConstantTimesRule(Rule):
    """d/dx (c·f) = c · df/dx."""

    coefficient: sp.Expr = sp.S.One
    factor: Rule | None = None

    @property
    def parts(self):
        return (self.factor,)

    def written(self, parts):
        return Factors(self.coefficient, parts[0])


@dataclass(frozen=True)
class SumRule(Rule):
    """d/dx (f + g + …) = df/dx + dg/dx + …"""

    terms: tuple[Rule, ...] = ()

    @property
    def parts(self):
        return self.terms

    def written(self, parts):
        return sp.Add(*parts, evaluate=False)


@dataclass(frozen=True)
class ProductRule(Rule):
    """d/dx (f·g) = df/dx · g + f · dg/dx (one term per factor for more factors)."""

    factors: tuple[Rule, ...] = ()

    @property
    def parts(self):
        return self.factors

    def written(self, parts):
        exprs = [factor.expr for factor in self.factors]
        return sp.Add(*[Factors(*exprs[:i], part, *exprs[i + 1:])
                        for i, part in enumerate(parts)], evaluate=False)


@dataclass(frozen=True)
class QuotientRule(Rule):
    """d/dx (f/g) = (df/dx · g − f · dg/dx) / g²."""

    numerator: Rule | None = None
    denominator: Rule | None = None

    @property
    def parts(self):
        return (self.numerator, self.denominator)

    def written(self, parts):
        f, g = self.numerator.expr, self.denominator.expr
        top = sp.Add(Factors(parts[0], g), -Factors(f, parts[1]), evaluate=False)
        return sp.Mul(top, sp.Pow(sp.Pow(g, 2, evaluate=False), -1, evaluate=False),
                      evaluate=False)


@dataclass(frozen=True)
class ReciprocalRule(Rule):
    """d/dx (1/g) = −1/g² · dg/dx."""

    denominator: Rule | None = None

    @property
    def parts(self):
        return (self.denominator,)

    def written(self, parts):
        return Factors(-1 / self.denominator.expr**2, parts[0])


@dataclass(frozen=True)
class ChainRule(Rule):
    """d/dx f(g(h(x))) = df/dg · dg/dh · dh/dx: one factor per link, outermost first.

    Every link but the last differentiates a function by its own argument (``wrt``
    is that argument); the last differentiates the innermost part by x.
    """

    links: tuple[Rule, ...] = ()

    @property
    def parts(self):
        return self.links

    def written(self, parts):
        return Factors(*parts)


@dataclass(frozen=True)
class OuterRule(Rule):
    """d/du F(u) for an elementary function F of its own argument u (= ``wrt``)."""

    def formula(self, u: sp.Expr) -> sp.Expr:
        raise NotImplementedError

    def written(self, parts):
        return self.formula(self.wrt)


@dataclass(frozen=True)
class PowerRule(OuterRule):
    """d/du uⁿ = n·uⁿ⁻¹ for a number n."""

    exponent: sp.Expr = sp.S.One

    def formula(self, u):
        n = self.exponent
        return times(n, u if n - 1 == 1 else sp.Pow(u, n - 1))


@dataclass(frozen=True)
class ExponentialRule(OuterRule):
    """d/du aᵘ = aᵘ · ln a for a constant base a."""

    base: sp.Expr = sp.E

    def formula(self, u):
        return Factors(self.base**u, sp.log(self.base))


@dataclass(frozen=True)
class ExpRule(OuterRule):
    """d/du eᵘ = eᵘ."""

    def formula(self, u):
        return sp.exp(u)


@dataclass(frozen=True)
class LogRule(OuterRule):
    """d/du ln u = 1/u."""

    def formula(self, u):
        return 1 / u


@dataclass(frozen=True)
class SinRule(OuterRule):
    """d/du sin u = cos u."""

    def formula(self, u):
        return sp.cos(u)


@dataclass(frozen=True)
class CosRule(OuterRule):
    """d/du cos u = −sin u."""

    def formula(self, u):
        return -sp.sin(u)


@dataclass(frozen=True)
class TanRule(OuterRule):
    """d/du tan u = 1/cos²u."""

    def formula(self, u):
        return 1 / sp.cos(u)**2


@dataclass(frozen=True)
class TanhRule(OuterRule):
    """d/du tanh u = 1 − tanh²u."""

    def formula(self, u):
        return 1 - sp.tanh(u)**2


@dataclass(frozen=True)
class SigmoidRule(OuterRule):
    """d/du σ(u) = σ(u)·(1 − σ(u))."""

    def formula(self, u):
        return Factors(sigmoid(u), 1 - sigmoid(u))


@dataclass(frozen=True)
class ReluRule(OuterRule):
    """d/du ReLU(u) = H(u): 1 for u > 0, 0 for u < 0, and 0 at u = 0 by convention."""

    def formula(self, u):
        return sp.Heaviside(u, 0)


@dataclass(frozen=True)
class AbsRule(OuterRule):
    """d/du |u| = sign(u) (0 at u = 0 by convention; |u| has no derivative there)."""

    def formula(self, u):
        return sp.sign(u)


@dataclass(frozen=True)
class PiecewiseRule(Rule):
    """d/dx of a function given piece by piece: each piece's derivative, on the open
    interval where the piece holds (boundaries are examined separately)."""

    pieces: tuple[Rule, ...] = ()
    conditions: tuple[sp.Basic, ...] = ()

    @property
    def parts(self):
        return self.pieces

    def written(self, parts):
        return sp.Piecewise(*zip(parts, self.conditions), evaluate=False)

    def derivative(self) -> sp.Expr:
        return sp.Piecewise(*zip((piece.derivative() for piece in self.pieces),
                                 self.conditions), evaluate=False)  # equal pieces stay apart


# An elementary function → the rule of its derivative.
OUTER = {sp.exp: ExpRule, sp.log: LogRule, sp.sin: SinRule, sp.cos: CosRule,
         sp.tan: TanRule, sp.tanh: TanhRule, sigmoid: SigmoidRule, relu: ReluRule,
         sp.Abs: AbsRule}
