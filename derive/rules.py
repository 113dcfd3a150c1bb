"""Differentiation step by step: rules as records, found first, written out later.

In the spirit of SymPy's ``manualintegrate``: :func:`find_rule` looks at an
expression and returns one small typed record per rule of differentiation, whose
docstring is the mathematics it applies, holding the records of the parts it needs
(the chain rule holds one record per link). Nothing here writes words or LaTeX.

:func:`work` turns a rule tree into the lines of a derivation, the way a lecturer
works one down: each line applies the rules of one level of the tree, and the parts
not worked out yet stand as :class:`D` (a derivative written, not evaluated) inside
:class:`Factors` (factors kept in the order written). :func:`check_lines` verifies
every line against ``sympy.diff`` of the original expression.

    d/dx e^(e^(x²))  =  d e^(e^(x²))/d e^(x²) · d e^(x²)/d x² · d x²/dx     chain rule
                     =  e^(e^(x²)) · e^(x²) · 2x                         exp rule, power rule
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import sympy as sp
from sympy.core.sympify import _sympify

from .catalog import sigmoid
from .errors import CrossCheckError, ProblemError
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


def _times(*factors: sp.Expr) -> sp.Expr:
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
        return _times(n, u if n - 1 == 1 else sp.Pow(u, n - 1))


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


_OUTER = {sp.exp: ExpRule, sp.log: LogRule, sp.sin: SinRule, sp.cos: CosRule,
          sp.tan: TanRule, sp.tanh: TanhRule, sigmoid: SigmoidRule, relu: ReluRule,
          sp.Abs: AbsRule}


# -- finding the rules ---------------------------------------------------------------

def find_rule(expr: sp.Expr, wrt: sp.Symbol, *, opaque: Iterable[sp.Symbol] = (),
              source: str = "<derivative>", field: str = "expression") -> Rule:
    """The rule tree that differentiates ``expr`` by ``wrt``.

    Args:
        expr: the expression (its structure decides the rules: keep it unevaluated
            to keep a shape such as ``−(1 − y)·log(1 − h)``).
        wrt: the variable.
        opaque: symbols that depend on ``wrt`` through a definition derived
            elsewhere: their derivative stays written (``∂f/∂w``).
        source, field: where the expression came from, for errors.

    Raises:
        ProblemError: the expression contains something without a rule here
            (``max``, a variable raised to a variable power).
    """
    return _Finder(wrt, frozenset(opaque), source, field).rule(expr)


class _Finder:
    def __init__(self, wrt, opaque, source, field):
        self.wrt, self.opaque, self.source, self.field = wrt, opaque, source, field

    def depends(self, expr: sp.Expr) -> bool:
        return expr.has(self.wrt) or any(expr.has(symbol) for symbol in self.opaque)

    def rule(self, expr: sp.Expr) -> Rule:
        x = self.wrt
        if not self.depends(expr):
            return ConstantRule(expr, x)
        if expr == x:
            return IdentityRule(expr, x)
        if expr in self.opaque:
            return OpaqueRule(expr, x)
        if expr.is_Add:
            return SumRule(expr, x, tuple(map(self.rule, expr.args)))
        if expr.is_Mul:
            return self.product(expr)
        if isinstance(expr, sp.Piecewise):
            return PiecewiseRule(expr, x, tuple(self.rule(e) for e, _ in expr.args),
                                 tuple(c for _, c in expr.args))
        if expr.is_Pow and expr.exp == -1 and expr.base != x:
            return ReciprocalRule(expr, x, self.rule(expr.base))
        return self.chain(expr)

    def product(self, expr: sp.Mul) -> Rule:
        x = self.wrt
        constant = [f for f in expr.args if not self.depends(f)]
        varying = [f for f in expr.args if self.depends(f)]
        if constant:
            coefficient = _coefficient(constant)
            rest = _times(*varying)
            if rest == x:
                return LinearRule(expr, x, coefficient)
            return ConstantTimesRule(expr, x, coefficient, self.rule(rest))
        below = [f for f in varying if f.is_Pow and f.exp.is_negative and f.exp.is_Number]
        if below:
            above = [f for f in varying if f not in below]
            denominator = _times(*[sp.Pow(f.base, -f.exp) for f in below])
            return QuotientRule(expr, x, self.rule(_times(*above)), self.rule(denominator))
        return ProductRule(expr, x, tuple(map(self.rule, varying)))

    def chain(self, expr: sp.Expr) -> Rule:
        """An elementary function of something: one link, then the inside."""
        x = self.wrt
        inner, outer = self.outer(expr)
        if inner == x:
            return replace(outer, wrt=x)
        inside = self.rule(inner)
        rest = inside.links if isinstance(inside, ChainRule) else (inside,)
        return ChainRule(expr, x, (outer, *rest))

    def outer(self, expr: sp.Expr) -> tuple[sp.Expr, OuterRule]:
        if expr.is_Pow:
            base, exponent = expr.args
            if not self.depends(exponent):
                return base, PowerRule(expr, base, exponent)
            if not self.depends(base):
                return exponent, ExponentialRule(expr, exponent, base)
            self.fail(f"{expr} has the variable in its base and its exponent; "
                      "write it as exp(exponent·log(base))")
        if isinstance(expr, sp.Function) and type(expr) in _OUTER and len(expr.args) == 1:
            return expr.args[0], _OUTER[type(expr)](expr, expr.args[0])
        self.fail(f"no step-by-step rule for {type(expr).__name__.lower()}(…) here; "
                  f"the rules cover + − · / ^, {', '.join(_names())}")

    def fail(self, message: str):
        raise ProblemError(self.source, self.field, message)


def _coefficient(factors: list[sp.Expr]) -> sp.Expr:
    """The constant factors multiplied, except that −(1 − y) keeps its brackets."""
    if len(factors) == 2 and factors[0].is_Number and factors[1].is_Add:
        return _times(*factors)
    return sp.Mul(*factors)


def _names() -> list[str]:
    return [getattr(f, "__name__", str(f)).lower() for f in _OUTER]


# -- writing the rules out line by line ------------------------------------------------

SEPARATE = "Separately"  # the name of the step that puts in a part worked out separately


@dataclass(frozen=True)
class Line:
    """One line of a derivation: the expression, and the rules applied to reach it
    (rule class names, outermost first; :data:`SEPARATE` for a part worked out apart)."""

    expression: sp.Expr
    rules: tuple[str, ...]


@dataclass(frozen=True)
class Working:
    """d(expr)/d(wrt) worked out: the parts worked out first, then the lines.

    A part of a quotient, a reciprocal or a product whose own derivative takes more
    than one step is worked out separately (as one does on paper), so that the
    lines do not repeat the whole fraction at every step; the main lines then put
    in its result in one step.

    Attributes:
        rule: the rule tree.
        parts: the separate workings, in the order their parts appear.
        lines: each line equal to d(expr)/d(wrt); the last has no D left but the
            derivatives of opaque symbols.
        result: the derivative, evaluated by SymPy's arithmetic.
    """

    rule: Rule
    parts: tuple[Working, ...]
    lines: tuple[Line, ...]
    result: sp.Expr

    @property
    def expr(self) -> sp.Expr:
        return self.rule.expr

    @property
    def wrt(self) -> sp.Expr:
        return self.rule.wrt


def work(rule: Rule) -> Working:
    """Write a rule tree out one level per line (see :class:`Working`)."""
    separate = tuple(_separate(rule))
    lines = []
    depth = 1
    while True:
        applied = _applied(rule, depth - 1, separate)
        if not applied:
            break
        lines.append(Line(_form(rule, depth, separate), tuple(dict.fromkeys(applied))))
        depth += 1
    return Working(rule, tuple(map(work, separate)), tuple(lines), rule.derivative())


_CONTEXT = ("QuotientRule", "ReciprocalRule", "ProductRule")


def _height(rule: Rule) -> int:
    return 1 + max(map(_height, rule.parts), default=0)


def _separate(rule: Rule) -> Iterable[Rule]:
    for part in rule.parts:
        if type(rule).__name__ in _CONTEXT and _height(part) > 1:
            yield part
        else:
            yield from _separate(part)


def _form(rule: Rule, depth: int, separate: tuple[Rule, ...]) -> sp.Expr:
    if depth == 0:
        return D(rule.expr, rule.wrt)
    if any(rule is part for part in separate):
        return rule.derivative()
    return rule.written(tuple(_form(part, depth - 1, separate) for part in rule.parts))


def _applied(rule: Rule, depth: int, separate: tuple[Rule, ...]) -> list[str]:
    if depth == 0:
        if isinstance(rule, OpaqueRule):
            return []
        return [SEPARATE if any(rule is part for part in separate) else type(rule).__name__]
    if any(rule is part for part in separate):
        return []
    return [name for part in rule.parts for name in _applied(part, depth - 1, separate)]


# -- checking ---------------------------------------------------------------------------

def same(left: sp.Expr, right: sp.Expr, *, symbols: Iterable[sp.Symbol] = ()) -> bool:
    """Whether two expressions are equal: numerically at random points, then by simplify.

    Piecewise expressions are compared piece by piece by the caller.
    """
    difference = evaluated(left) - evaluated(right)
    if difference == 0:
        return True
    free = sorted(difference.free_symbols, key=str)
    generator = random.Random(20261122)
    for _ in range(4):  # a cheap refutation first
        point = {s: sp.Rational(generator.randint(-19, 19), 10) + sp.Rational(1, 7)
                 for s in free}
        value = sp.N(difference.xreplace(point), 30)
        if value.is_Number and value.is_finite and abs(value) > 1e-20:
            return False
    rewritten = difference.rewrite(sp.exp)
    return sp.simplify(rewritten) == 0 or rewritten.equals(0) is True


def check_lines(lines: Iterable[sp.Expr], reference: sp.Expr, *, quantity: str,
                definitions: Mapping[sp.Symbol, sp.Expr] | None = None) -> None:
    """Refuse a derivation whose lines are not all equal to ``reference``.

    Args:
        lines: the expressions of the derivation, each claimed equal to ``reference``.
        reference: the derivative by ``sympy.diff`` of the whole expression.
        quantity: what the lines compute, for the error.
        definitions: opaque symbol → its definition, put in before comparing.

    Raises:
        CrossCheckError: a line differs from ``reference``.
    """
    definitions = dict(definitions or {})
    for number, line in enumerate(lines, start=1):
        expanded = _define(line, definitions)
        if not same(expanded, reference):
            raise CrossCheckError(f"{quantity} (line {number})", str(evaluated(expanded)),
                                  str(reference), "sympy.diff", "simplify to 0")


def _define(expr: sp.Expr, definitions: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
    for _ in range(len(definitions) + 1):  # definitions may refer to one another
        expr = expr.xreplace(definitions)
    return expr
