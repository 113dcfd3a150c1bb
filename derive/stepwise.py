"""Differentiation step by step: find the rule tree, write it out line by line, compare.

:func:`find_rule` looks at an expression and returns its tree of rule records
(:mod:`derive.rules`). :func:`work` turns a rule tree into the lines of a derivation,
the way a lecturer works one down: each line applies the rules of one level of the
tree, and the parts not worked out yet stand as :class:`~derive.rules.D` inside
:class:`~derive.rules.Factors`. :func:`same` decides whether two forms are equal, so
that every line can be checked against ``sympy.diff`` of the original expression
(:mod:`derive.worked`).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, replace

import sympy as sp

from .errors import ProblemError
from .rules import (
    OUTER,
    ChainRule,
    ConstantRule,
    ConstantTimesRule,
    D,
    ExponentialRule,
    IdentityRule,
    LinearRule,
    OpaqueRule,
    OuterRule,
    PiecewiseRule,
    PowerRule,
    ProductRule,
    QuotientRule,
    ReciprocalRule,
    Rule,
    SumRule,
    evaluated,
    times,
)

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
            rest = times(*varying)
            if rest == x:
                return LinearRule(expr, x, coefficient)
            return ConstantTimesRule(expr, x, coefficient, self.rule(rest))
        below = [f for f in varying if f.is_Pow and f.exp.is_negative and f.exp.is_Number]
        if below:
            above = [f for f in varying if f not in below]
            denominator = times(*[sp.Pow(f.base, -f.exp) for f in below])
            return QuotientRule(expr, x, self.rule(times(*above)), self.rule(denominator))
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
        if isinstance(expr, sp.Function) and type(expr) in OUTER and len(expr.args) == 1:
            return expr.args[0], OUTER[type(expr)](expr, expr.args[0])
        self.fail(f"no step-by-step rule for {type(expr).__name__.lower()}(…) here; "
                  f"the rules cover + − · / ^, {', '.join(_names())}")

    def fail(self, message: str):
        raise ProblemError(self.source, self.field, message)


def _coefficient(factors: list[sp.Expr]) -> sp.Expr:
    """The constant factors multiplied, except that −(1 − y) keeps its brackets."""
    if len(factors) == 2 and factors[0].is_Number and factors[1].is_Add:
        return times(*factors)
    return sp.Mul(*factors)


def _names() -> list[str]:
    return [getattr(f, "__name__", str(f)).lower() for f in OUTER]


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
