"""Problems of kind ``derivative``: the calculus the slides show, step by step, in symbols.

A problem file asks for one of three things::

    kind: derivative
    of: [sigmoid, tanh, relu]        # activations: derivative from the definition
    at: [-3, 0, 2]                   # optional: evaluate at these points

    kind: derivative
    expression: "exp(exp(x^2))"      # chain-rule exercises (one or a list)
    variable: x

    kind: derivative
    derivation: logistic_regression  # or mse_sigmoid: a gradient derived in symbols

The pipeline reads top to bottom:

1. catalog: each activation's definition in elementary functions (piece by piece
   for ReLU and its kin), and the rewrites from the raw derivative to the form the
   slides use (``σ(z)(1 − σ(z))``), as data;
2. derivation: :mod:`derive.rules` finds the rule tree and writes it out line by
   line; piecewise functions are examined at their kink (continuity, one-sided
   slopes, the convention used there); values at the given points in three forms;
3. check: every line, every rewrite and every final form is compared with
   ``sympy.diff`` of the definition (difference simplified to 0), every value with
   ``sympy.diff`` at 30 digits and a central difference; any disagreement raises
   :class:`~derive.errors.CrossCheckError` and nothing is published;
4. render through the templates ``calculus.md.j2`` / ``calculus.tex.j2``, or JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Union

import sympy as sp
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

from . import __version__
from .catalog import sigmoid
from .errors import CrossCheckError, ProblemError
from .expression import parse_expression
from .forms import Shown, substitute
from .graph_problem import EquationView, render_template, validate, write_texts
from .latex import DerivePrinter, format_given
from .rules import SEPARATE, D, Factors, Working, evaluated, find_rule, rebuilt, same, work
from .spec import Number
from .steps import Step

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "linear",
               "step", "sign", "softmax")
DERIVATIONS = ("logistic_regression", "mse_sigmoid")
FD_TOL = 1e-12  # relative, values against a central difference at 40 digits

Z = sp.Symbol("z", real=True)
ALPHA = sp.Symbol("alpha", positive=True)
ReLU, LeakyReLU, ELU = sp.Function("ReLU"), sp.Function("LeakyReLU"), sp.Function("ELU")
softplus, step, sgn, linear = (sp.Function("softplus"), sp.Function("step"),
                               sp.Function("sgn"), sp.Function("linear"))


# -- 1. the problem ----------------------------------------------------------------------

Point = Union[Number, tuple[Number, ...], dict[str, Number]]


class DerivativeProblem(BaseModel):
    """A validated ``kind: derivative`` problem."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["derivative"]
    title: str = "Derivatives step by step"
    of: Literal[ACTIVATIONS] | tuple[Literal[ACTIVATIONS], ...] | None = None  # type: ignore[valid-type]
    expression: str | tuple[str, ...] | None = None
    variable: str | None = None
    variables: tuple[str, ...] = ()
    derivation: Literal[DERIVATIONS] | tuple[Literal[DERIVATIONS], ...] | None = None  # type: ignore[valid-type]
    at: tuple[Point, ...] = ()
    relu_grad_at_zero: Number = 0.0
    leaky_slope: Annotated[Number, Field(gt=0)] = 0.01
    elu_alpha: Annotated[Number, Field(gt=0)] = 1.0
    classes: Annotated[int, Field(ge=2, le=5)] = 3
    digits: Annotated[int, Field(ge=1, le=15)] = 4
    rounding: Literal["decimals", "significant"] = "decimals"
    note: str | None = None
    _source: str = PrivateAttr("<problem>")

    @property
    def source(self) -> str:
        return self._source

    @property
    def activations(self) -> tuple[str, ...]:
        return _listed(self.of)

    @property
    def expressions(self) -> tuple[str, ...]:
        return _listed(self.expression)

    @property
    def derivations(self) -> tuple[str, ...]:
        return _listed(self.derivation)

    @property
    def names(self) -> tuple[str, ...]:
        """The variables of the expressions: the one differentiated by first."""
        variable = self.variable or (self.variables[0] if self.variables else "x")
        return (variable, *(name for name in self.variables if name != variable))

    def parsed(self) -> tuple[sp.Expr, ...]:
        return tuple(parse_expression(text, variables=self.names, source=self.source,
                                      field="expression" if isinstance(self.expression, str)
                                      else f"expression[{i}]")
                     for i, text in enumerate(self.expressions))


def _listed(value) -> tuple:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def parse_problem(mapping: Mapping[str, Any], *, source: str = "<problem>") -> DerivativeProblem:
    """Validate a ``kind: derivative`` mapping, including the expressions and points.

    Raises:
        ProblemError: naming ``source``, the field and what was expected.
    """
    problem = validate(DerivativeProblem, mapping, source)

    def fail(field: str, expected: str):
        raise ProblemError(source, field, expected)

    asked = [name for name in ("of", "expression", "derivation")
             if getattr(problem, name) is not None]
    if len(asked) != 1:
        fail("of", "expected exactly one of `of` (activations), `expression` or "
                   f"`derivation`, got {', '.join(asked) or 'none'}")
    if problem.derivation is not None and problem.at:
        fail("at", "a derivation is in symbols only; expected no `at`")
    if problem.expression is not None:
        problem.parsed()
    elif problem.variable is not None or problem.variables:
        fail("variable", "`variable` and `variables` go with `expression`")
    for i, point in enumerate(problem.at):
        field = f"at[{i}]"
        if isinstance(point, tuple):
            if "softmax" not in problem.activations:
                fail(field, "expected a number; a list of numbers is a point for softmax")
            if len(point) != problem.classes:
                fail(field, f"expected {problem.classes} numbers (classes: "
                            f"{problem.classes}), got {len(point)}")
        elif isinstance(point, dict):
            if problem.expression is None or set(point) != set(problem.names):
                fail(field, f"expected a value for each of {', '.join(problem.names)}")
        elif problem.expression is not None and len(problem.names) > 1:
            fail(field, f"expected a value for each of {', '.join(problem.names)}, "
                        "as a mapping")
    return problem


# -- 2. the catalog of activations (data) ---------------------------------------------------

@dataclass(frozen=True)
class Rewrite:
    """``expression``, equal to the line before it, and why (a key the view words)."""

    expression: sp.Expr
    reason: str


@dataclass(frozen=True)
class Smooth:
    """A differentiable activation: its definition and the rewrites of its derivative.

    Attributes:
        function: the activation applied to z, as named (``σ(z)``).
        definition: f(z) in elementary functions (unevaluated where the shape matters).
        rewrites: from the derivative SymPy's arithmetic gives to the slides' form.
    """

    function: sp.Expr
    definition: sp.Expr
    rewrites: tuple[Rewrite, ...] = ()
    kind: ClassVar[str] = "smooth"


@dataclass(frozen=True)
class Pieces:
    """An activation given piece by piece, with a kink (or a jump) at z = 0.

    Attributes:
        function: the activation applied to z, as named.
        shown: the definition as the slides write it (cases).
        left, right: the piece on z < 0 and on z > 0.
        at_zero: f(0).
        convention: the derivative used at 0 in practice, or None (no such value).
    """

    function: sp.Expr
    shown: sp.Expr
    left: sp.Expr
    right: sp.Expr
    at_zero: sp.Expr
    convention: sp.Expr | None
    kind: ClassVar[str] = "pieces"


def _frac(numerator: sp.Expr, denominator: sp.Expr) -> sp.Expr:
    """numerator/denominator written as a fraction, not multiplied out."""
    return sp.Mul(numerator, sp.Pow(denominator, -1), evaluate=False)


def _sum(*terms: sp.Expr) -> sp.Expr:
    return sp.Add(*terms, evaluate=False)


def activation(name: str, problem: DerivativeProblem) -> Smooth | Pieces:
    """The catalog entry of an activation, with the problem's conventions."""
    e = sp.exp
    if name == "sigmoid":
        one_plus = _sum(1, e(-Z))
        return Smooth(sigmoid(Z), 1 / one_plus, (
            Rewrite(_frac(e(-Z), one_plus**2), "simplify"),
            Rewrite(Factors(1 / one_plus, _frac(e(-Z), one_plus)), "split"),
            Rewrite(Factors(1 / one_plus, _sum(1, -1 / one_plus)), "complement"),
            Rewrite(Factors(sigmoid(Z), _sum(1, -sigmoid(Z))), "name")))
    if name == "tanh":
        above, below = _sum(e(Z), -e(-Z)), _sum(e(Z), e(-Z))
        return Smooth(sp.tanh(Z), _frac(above, below), (
            Rewrite(_sum(_frac(below**2, below**2), -_frac(above**2, below**2)), "split"),
            Rewrite(_sum(1, -sp.Pow(_frac(above, below), 2, evaluate=False)), "cancel"),
            Rewrite(1 - sp.tanh(Z)**2, "name")))
    if name == "softplus":
        return Smooth(softplus(Z), sp.log(_sum(1, e(Z))), (
            Rewrite(_frac(e(Z), _sum(1, e(Z))), "simplify"),
            Rewrite(1 / _sum(1, e(-Z)), "divide"),
            Rewrite(sigmoid(Z), "sigmoid")))
    if name == "linear":
        return Smooth(linear(Z), Z)
    if name == "relu":
        return Pieces(ReLU(Z), sp.Piecewise((0, Z < 0), (Z, True)), sp.S.Zero, Z,
                      sp.S.Zero, sp.Rational(str(problem.relu_grad_at_zero)))
    if name == "leaky_relu":
        left = sp.Mul(ALPHA, Z, evaluate=False)
        return Pieces(LeakyReLU(Z), sp.Piecewise((left, Z < 0), (Z, True)), left, Z,
                      sp.S.Zero, ALPHA)
    if name == "elu":
        left = ALPHA * _sum(e(Z), -1)
        return Pieces(ELU(Z), sp.Piecewise((left, Z < 0), (Z, True)), left, Z, sp.S.Zero,
                      ALPHA)
    if name == "step":
        return Pieces(step(Z), sp.Piecewise((0, Z < 0), (sp.S.Half, sp.Eq(Z, 0)), (1, True)),
                      sp.S.Zero, sp.S.One, sp.S.Half, None)
    if name == "sign":
        return Pieces(sgn(Z), sp.Piecewise((-1, Z < 0), (0, sp.Eq(Z, 0)), (1, True)),
                      sp.S.NegativeOne, sp.S.One, sp.S.Zero, None)
    raise KeyError(name)  # softmax has its own derivation


def parameters(problem: DerivativeProblem, name: str) -> dict[sp.Symbol, sp.Expr]:
    """The numbers behind the symbols of an activation, for its values (α)."""
    if name == "leaky_relu":
        return {ALPHA: sp.Rational(str(problem.leaky_slope))}
    if name == "elu":
        return {ALPHA: sp.Rational(str(problem.elu_alpha))}
    return {}


# -- 3. records ---------------------------------------------------------------------------

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


@dataclass(frozen=True)
class Kink:
    """What happens at z = 0 between two pieces.

    ``differentiable`` is true, false, or a condition (``α = 1``); ``convention`` is
    the value used there in practice, or None when the derivative is undefined.
    """

    left_value: sp.Expr
    value: sp.Expr
    right_value: sp.Expr
    continuous: bool
    left_slope: sp.Expr
    right_slope: sp.Expr
    differentiable: sp.Basic
    convention: sp.Expr | None


@dataclass(frozen=True)
class ActivationDerivative:
    """One activation's derivative from its definition, and its values at the points."""

    name: str
    function: sp.Expr
    shown: sp.Expr              # the definition as the slides write it
    derived: Derived
    kink: Kink | None
    derivative: sp.Expr         # the final form (cases for piecewise activations)
    values: tuple[Step, ...]
    useless: bool               # 0 wherever it exists: no signal for gradient descent
    kind: ClassVar[str] = "activation"


@dataclass(frozen=True)
class SoftmaxJacobian:
    """∂s_i/∂z_j for softmax over ``classes`` outputs: one diagonal and one
    off-diagonal entry derived, the general entry, the matrix, values at points."""

    classes: int
    definition: sp.Expr          # s_1 = e^{z_1} / Σ e^{z_j}
    diagonal: Derived
    off_diagonal: Derived
    general: sp.Expr
    matrix: sp.Matrix
    values: tuple[JacobianAt, ...]
    kind: ClassVar[str] = "softmax"


@dataclass(frozen=True)
class JacobianAt:
    """softmax at one point: the outputs s_i, then the Jacobian with the s_i put in,
    and its entries' values."""

    point: tuple[Shown, ...]
    outputs: tuple[Step, ...]
    substituted: sp.Matrix
    values: sp.Matrix


@dataclass(frozen=True)
class ExpressionDerivative:
    """d(expression)/d(variable), worked out, and its values at the points."""

    derived: Derived
    values: tuple[Step, ...]
    kind: ClassVar[str] = "expression"


@dataclass(frozen=True)
class Definition:
    """``lhs = rhs``: a quantity the derivation names."""

    lhs: sp.Symbol
    rhs: sp.Expr
    shown: sp.Expr | None = None  # a second form, e.g. σ(z) = 1/(1 + e^{−z})


@dataclass(frozen=True)
class Chain:
    """``lhs = factors = lines…``: a gradient as the product of derived factors."""

    lhs: sp.Expr
    factors: sp.Expr
    lines: tuple[Rewrite, ...]


@dataclass(frozen=True)
class SymbolicDerivation:
    """A gradient derived in symbols: definitions, local derivatives, chain products."""

    name: str
    definitions: tuple[Definition, ...]
    parts: tuple[Derived, ...]
    chains: tuple[Chain, ...]
    kind: ClassVar[str] = "derivation"


Item = Union[ActivationDerivative, SoftmaxJacobian, ExpressionDerivative, SymbolicDerivation]


class Prime(sp.Expr):
    """``f'(z)``: the derivative of a named function, at its argument."""

    is_commutative = True

    def __new__(cls, applied: sp.Expr):
        return sp.Expr.__new__(cls, applied)


# -- 4. deriving and checking ----------------------------------------------------------------

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
    reference = sp.diff(_expand(definition, known), wrt)
    _check_working(working, known, quantity)
    for number, rewrite in enumerate(rewrites, start=1):
        _check(rewrite.expression, reference, known, f"{quantity} (rewrite {number})")
    return Derived(lhs, definition, working, rewrites)


def _check_working(working: Working, opaque: Mapping, quantity: str) -> None:
    for part in working.parts:
        _check_working(part, opaque, quantity)
    reference = sp.diff(_expand(working.expr, opaque), working.wrt)
    for number, line in enumerate((*(line.expression for line in working.lines),
                                   working.result), start=1):
        _check(line, reference, opaque, f"{quantity} (line {number})")


def _check(expr: sp.Expr, reference: sp.Expr, opaque: Mapping, quantity: str) -> None:
    expanded = evaluated(_expand(expr, opaque))
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


def _expand(expr: sp.Expr, opaque: Mapping) -> sp.Expr:
    for _ in range(len(opaque) + 1):
        expr = expr.xreplace(dict(opaque))
    return expr


def derive_activation(name: str, problem: DerivativeProblem) -> ActivationDerivative:
    entry = activation(name, problem)
    numbers = parameters(problem, name)
    if isinstance(entry, Smooth):
        result = derived(Prime(entry.function), entry.definition, Z, quantity=f"{name}'",
                         rewrites=entry.rewrites, source=problem.source)
        final, kink, useless = result.final, None, False
        shown = entry.definition
    else:
        pieces = sp.Piecewise((entry.left, Z < 0), (entry.right, Z > 0), evaluate=False)
        result = derived(Prime(entry.function), pieces, Z, quantity=f"{name}'",
                         source=problem.source)
        left, right = (e for e, _ in result.final.args)
        kink = _kink(name, entry, left, right)
        middle = () if entry.convention is None else ((entry.convention, sp.Eq(Z, 0)),)
        final = sp.Piecewise((left, Z < 0), *middle, (right, Z > 0), evaluate=False)
        useless = left == 0 and right == 0
        shown = entry.shown
    values = tuple(_activation_value(name, entry, final, kink, point, numbers, problem)
                   for point in problem.at if not isinstance(point, tuple))
    return ActivationDerivative(name, entry.function, shown, result, kink, final, values,
                                useless)


def _kink(name: str, entry: Pieces, left: sp.Expr, right: sp.Expr) -> Kink:
    """Continuity and one-sided slopes at 0; the slopes checked against the limits of
    the difference quotients (f(h) − f(0))/h."""
    left_value, right_value = entry.left.subs(Z, 0), entry.right.subs(Z, 0)
    continuous = bool(left_value == entry.at_zero == right_value)
    left_slope, right_slope = left.subs(Z, 0), right.subs(Z, 0)
    h = sp.Symbol("h", positive=True)
    for piece, slope, side in ((entry.left, left_slope, -h), (entry.right, right_slope, h)):
        quotient = sp.limit((piece.subs(Z, side) - entry.at_zero) / side, h, 0)
        if continuous and not same(quotient, slope):
            raise CrossCheckError(f"{name}' at 0 ({'left' if side == -h else 'right'})",
                                  str(slope), str(quotient), "the limit of the difference "
                                  "quotient", "equal")
        if not continuous and quotient.is_finite:
            raise CrossCheckError(f"{name}' at 0", "undefined", str(quotient),
                                  "the limit of the difference quotient", "infinite")
    differentiable = sp.And(continuous, sp.Eq(left_slope, right_slope))
    return Kink(left_value, entry.at_zero, right_value, continuous, left_slope, right_slope,
                differentiable, entry.convention)


def _activation_value(name, entry, final, kink, point, numbers, problem) -> Step:
    """``f'(z₀) = final form at z₀ = numbers = value``, checked at 30 digits."""
    at = sp.Rational(str(point))
    given = Shown(float(point), given=True)
    lhs = Prime(entry.function.xreplace({Z: given}))
    if kink is not None and at == 0:
        if kink.convention is None:
            return Step(("undefined", name, float(point)), f"{name}'({format_given(point)})", lhs,
                        sp.nan, sp.nan, float("nan"))
        form = kink.convention
    elif isinstance(final, sp.Piecewise):
        form = final.args[0].expr if at < 0 else final.args[-1].expr
    else:
        form = final
    formula = substitute(_shown_parameters(form, numbers), {Z: given})
    value = sp.N(evaluated(_expand(form, numbers)).subs(Z, at), 30)
    applied = {atom: Shown(float(sp.N(atom.xreplace({given: at}), 30)))
               for atom in formula.atoms(sp.Function) if atom.has(given)}
    substituted = substitute(formula, applied)
    if not (kink is not None and at == 0):
        definition = entry.definition if isinstance(entry, Smooth) else (
            entry.left if at < 0 else entry.right)
        _check_value(f"{name}'({format_given(point)})", value, _expand(definition, numbers), Z, at)
    return Step(("value", name, float(point)), f"{name}'({format_given(point)})", lhs, formula,
                substituted, float(value))


def _shown_parameters(expr: sp.Expr, numbers: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
    return substitute(expr, {symbol: Shown(float(value), given=True)
                             for symbol, value in numbers.items()})


def _check_value(quantity: str, value: sp.Expr, definition: sp.Expr, variable: sp.Symbol,
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


def derive_softmax(problem: DerivativeProblem) -> SoftmaxJacobian:
    """∂s_1/∂z_1 and ∂s_1/∂z_2 by the quotient rule, then the whole Jacobian."""
    k = problem.classes
    z = [sp.Symbol(f"z_{i}", real=True) for i in range(1, k + 1)]
    s = [sp.Symbol(f"s_{i}", positive=True) for i in range(1, k + 1)]
    total = _sum(*(sp.exp(zi) for zi in z))
    definitions = {si: sp.exp(zi) / total for si, zi in zip(s, z)}
    fraction = lambda i: _frac(sp.exp(z[i]), total)
    diagonal = derived(sp.Derivative(s[0], z[0]), fraction(0), z[0], quantity="ds_1/dz_1",
                       rewrites=(
                           Rewrite(Factors(fraction(0), _frac(_sum(total, -sp.exp(z[0])), total)),
                                   "split"),
                           Rewrite(Factors(fraction(0), _sum(1, -fraction(0))), "cancel"),
                           Rewrite(Factors(s[0], _sum(1, -s[0])), "softmax")),
                       names=definitions, source=problem.source)
    off_diagonal = derived(sp.Derivative(s[0], z[1]), fraction(0), z[1],
                           quantity="ds_1/dz_2", rewrites=(
                               Rewrite(-Factors(fraction(0), fraction(1)), "split"),
                               Rewrite(-Factors(s[0], s[1]), "softmax")),
                           names=definitions, source=problem.source)
    i, j = sp.symbols("i j", integer=True)
    si = sp.IndexedBase("s")
    general = sp.Mul(si[i], _sum(sp.KroneckerDelta(i, j), -si[j]), evaluate=False)
    matrix = sp.Matrix(k, k, lambda r, c: sp.Mul(s[r], _sum(1, -s[c]), evaluate=False)
                       if r == c else -sp.Mul(s[r], s[c], evaluate=False))
    values = []
    for point in problem.at:
        if isinstance(point, tuple):
            values.append(_softmax_values(point, z, s, definitions, matrix))
    return SoftmaxJacobian(k, sp.Eq(s[0], fraction(0), evaluate=False), diagonal,
                           off_diagonal, general, matrix, tuple(values))


def _softmax_values(point, z, s, definitions, matrix) -> JacobianAt:
    """The outputs s_i at a point, and the Jacobian there in its three forms, each
    entry checked against sympy.diff of the definition."""
    at = {zi: sp.Rational(str(v)) for zi, v in zip(z, point)}
    given = {zi: Shown(float(v), given=True) for zi, v in zip(z, point)}
    outputs, shown = [], {}
    for index, si in enumerate(s):
        value = sp.N(definitions[si].xreplace(at), 30)
        outputs.append(Step(("s", index), si.name, si, definitions[si],
                            substitute(definitions[si], given), float(value)))
        shown[si] = Shown(float(value))
    values = matrix.xreplace({si: definitions[si] for si in s}).xreplace(at)
    for r in range(len(s)):
        for c in range(len(s)):
            reference = sp.N(sp.diff(definitions[s[r]], z[c]).xreplace(at), 30)
            got = sp.N(values[r, c], 30)
            if abs(got - reference) > 1e-25:
                raise CrossCheckError(f"ds_{r + 1}/dz_{c + 1}", float(got), float(reference),
                                      "sympy.diff", "1e-25")
    numbers = values.applyfunc(lambda v: Shown(float(sp.N(v, 30))))
    return JacobianAt(tuple(given.values()), tuple(outputs),
                      matrix.applyfunc(lambda entry: substitute(entry, shown)), numbers)


def derive_expression(expr: sp.Expr, problem: DerivativeProblem, index: int) -> ExpressionDerivative:
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
        _check_value(quantity, value, expr, variable, at[variable],
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


def derive_symbolic(name: str, problem: DerivativeProblem) -> SymbolicDerivation:
    """The logistic-regression gradient (seeds 000, 004) or the MSE-with-sigmoid
    gradient (seed 001), derived in symbols and checked against the composed loss."""
    return (_logistic_regression if name == "logistic_regression" else _mse_sigmoid)(
        problem.source)


def _logistic_regression(source: str) -> SymbolicDerivation:
    w, x, b, y, z, h, J = sp.symbols("w x b y z h J", real=True)
    z_of = w * x + b
    h_of = 1 / _sum(1, sp.exp(-z))
    J_of = _sum(-y * sp.log(h), sp.Mul(-1, _sum(1, -y), sp.log(_sum(1, -h)),
                                      evaluate=False))
    composed = J_of.xreplace({h: sigmoid(z_of)})
    dJ_dh = derived(D(J, h), J_of, h, quantity="dJ/dh", source=source, rewrites=(
        Rewrite(_sum(-_frac(y, h), _frac(_sum(1, -y), _sum(1, -h))), "simplify"),))
    dh_dz = derived(D(h, z), h_of, z, quantity="dh/dz", source=source, rewrites=(
        Rewrite(_frac(sp.exp(-z), _sum(1, sp.exp(-z))**2), "simplify"),
        Rewrite(Factors(1 / _sum(1, sp.exp(-z)), _frac(sp.exp(-z), _sum(1, sp.exp(-z)))),
                "split"),
        Rewrite(Factors(1 / _sum(1, sp.exp(-z)), _sum(1, -1 / _sum(1, sp.exp(-z)))),
                "complement"),
        Rewrite(Factors(h, _sum(1, -h)), "definition")), names={h: h_of})
    dz_dw = derived(D(z, w), z_of, w, quantity="dz/dw", source=source)
    dz_db = derived(D(z, b), z_of, b, quantity="dz/db", source=source)
    local = Factors(dJ_dh.rewrites[-1].expression, dh_dz.rewrites[-1].expression)
    distributed = _sum(-Factors(y, _sum(1, -h)), Factors(_sum(1, -y), h))
    chains = (
        Chain(D(J, w), Factors(D(J, h), D(h, z), D(z, w)), (
            Rewrite(Factors(*local.args, x), "substitute"),
            Rewrite(Factors(distributed, x), "expand"),
            Rewrite(Factors(_sum(h, -y), x), "simplify"))),
        Chain(D(J, b), Factors(D(J, h), D(h, z), D(z, b)), (
            Rewrite(Factors(*local.args, 1), "substitute"),
            Rewrite(distributed, "expand"),
            Rewrite(_sum(h, -y), "simplify"))),
    )
    # Every line of a chain is a function of h; put h = σ(wx + b) and compare.
    through = {h: sigmoid(z_of), z: z_of}
    for chain, variable in zip(chains, (w, b)):
        reference = sp.diff(composed, variable)
        for number, line in enumerate(chain.lines, start=1):
            _check(line.expression, reference, through, f"d{J}/d{variable} (line {number})")
    # The local derivatives in h, z: check them with h = σ(z) as well.
    _check(dh_dz.final, sp.diff(sigmoid(z), z), {h: sigmoid(z)}, "dh/dz (final)")
    definitions = (Definition(z, z_of), Definition(h, sigmoid(z), h_of), Definition(J, J_of))
    return SymbolicDerivation("logistic_regression", definitions,
                              (dJ_dh, dh_dz, dz_dw, dz_db), chains)


def _mse_sigmoid(source: str) -> SymbolicDerivation:
    w, x, b, y, f, L = sp.symbols("w x b y f L", real=True)
    inside = sp.Mul(-1, _sum(w * x, b), evaluate=False)
    f_of = 1 / _sum(1, sp.exp(inside))
    L_of = sp.Mul(sp.Rational(1, 2), sp.Pow(_sum(f, -y), 2), evaluate=False)
    dL_dw = derived(D(L, w), L_of, w, quantity="dL/dw (outer)", opaque={f: f_of},
                    source=source, rewrites=(Rewrite(Factors(_sum(f, -y), D(f, w)),
                                                     "simplify"),))
    one_plus = _sum(1, sp.exp(inside))
    df_dw = derived(D(f, w), f_of, w, quantity="df/dw", source=source, rewrites=(
        Rewrite(_frac(Factors(x, sp.exp(inside)), sp.Pow(one_plus, 2)), "simplify"),
        Rewrite(Factors(1 / one_plus, _frac(sp.exp(inside), one_plus), x), "split"),
        Rewrite(Factors(1 / one_plus, _sum(1, -1 / one_plus), x), "complement"),
        Rewrite(Factors(f, _sum(1, -f), x), "definition")), names={f: f_of})
    chain = Chain(D(L, w), dL_dw.final, (
        Rewrite(Factors(_sum(f, -y), *df_dw.final.args), "substitute"),))
    reference = sp.diff(L_of.xreplace({f: f_of}), w)
    _check(chain.lines[-1].expression, reference, {f: f_of}, "dL/dw")
    return SymbolicDerivation("mse_sigmoid", (Definition(f, f_of), Definition(L, L_of)),
                              (dL_dw, df_dw), (chain,))


# -- 5. the solution ---------------------------------------------------------------------

@dataclass(frozen=True)
class CalculusSolution:
    """Derivatives worked out and checked, ready to render."""

    problem: DerivativeProblem
    items: tuple[Item, ...]
    template_dir: Path | None = None

    @property
    def results(self) -> dict[str, str]:
        """Each derivative's final form, as SymPy text, by name."""
        out = {}
        for item in self.items:
            if isinstance(item, ActivationDerivative):
                out[item.name] = str(rebuilt(item.derivative))
            elif isinstance(item, ExpressionDerivative):
                out[str(item.derived.definition)] = str(rebuilt(item.derived.final))
            elif isinstance(item, SoftmaxJacobian):
                out["softmax"] = str(item.general)
            else:
                for chain in item.chains:
                    out[f"{item.name}:{_plain(chain.lhs)}"] = str(rebuilt(chain.lines[-1].expression))
        return out

    @property
    def values(self) -> dict[str, float]:
        """Each value at the points, by name (NaN where the derivative is undefined)."""
        out = {}
        for item in self.items:
            if isinstance(item, (ActivationDerivative, ExpressionDerivative)):
                out.update((step.name, step.value) for step in item.values)
        return out

    def render(self, fmt: str) -> str:
        """The solution as ``md``, ``tex`` or ``json`` text."""
        if fmt == "json":
            return _json(self)
        return render_template("calculus", fmt, _view(self), self.template_dir)

    def to_markdown(self) -> str:
        return self.render("md")

    def to_latex(self) -> str:
        return self.render("tex")

    def to_json(self) -> str:
        return self.render("json")

    def write(self, out_dir: str | Path, *, formats: Iterable[str] = ("md", "tex", "json"),
              stem: str = "solution") -> list[Path]:
        """Render every format first, then write each file atomically."""
        texts = {fmt: self.render(fmt) for fmt in formats}
        return write_texts(out_dir, stem, texts)


def solve(problem: DerivativeProblem, *,
          template_dir: str | Path | None = None) -> CalculusSolution:
    """Derive and check every derivative the problem asks for.

    Raises:
        CrossCheckError: a line, a rewrite or a value disagrees with sympy.diff.
    """
    items: list[Item] = []
    for name in problem.activations:
        items.append(derive_softmax(problem) if name == "softmax"
                     else derive_activation(name, problem))
    for index, expr in enumerate(problem.parsed()):
        items.append(derive_expression(expr, problem, index))
    for name in problem.derivations:
        items.append(derive_symbolic(name, problem))
    return CalculusSolution(problem, tuple(items),
                            None if template_dir is None else Path(template_dir))


def _plain(expr: D) -> str:
    return f"d{expr.expr}/d{expr.wrt}"


# -- rendering ---------------------------------------------------------------------------

RULE_TITLES = {
    "ConstantRule": "constant rule", "IdentityRule": "$x' = 1$", "LinearRule": "$(c x)' = c$",
    "OpaqueRule": "kept", "ConstantTimesRule": "constant factor", "SumRule": "sum rule",
    "ProductRule": "product rule", "QuotientRule": "quotient rule",
    "ReciprocalRule": "reciprocal rule", "ChainRule": "chain rule", "PowerRule": "power rule",
    "ExponentialRule": "exponential rule", "ExpRule": "derivative of exp",
    "LogRule": "derivative of log", "SinRule": "derivative of sin",
    "CosRule": "derivative of cos", "TanRule": "derivative of tan",
    "TanhRule": "derivative of tanh", "SigmoidRule": "derivative of the sigmoid",
    "ReluRule": "derivative of ReLU", "AbsRule": "derivative of |u|",
    "PiecewiseRule": "piece by piece", SEPARATE: "the part worked out above",
    "definition": "by the definition",
}
REASON_TITLES = {
    "split": "split the fraction",
    "complement": r"as $\frac{e^{-u}}{1 + e^{-u}} = 1 - \frac{1}{1 + e^{-u}}$",
    "name": "by the definition", "cancel": "cancel", "divide": r"divide by $e^{z}$",
    "sigmoid": r"the sigmoid $\sigma(z) = \frac{1}{1 + e^{-z}}$", "softmax": "by the definition of $s_i$",
    "simplify": "simplify", "definition": "by the definition", "substitute": "put in the factors",
    "expand": "multiply out",
}
FUNCTION_NAMES = {"sigmoid": r"\sigma", "tanh": r"\tanh"}
ACTIVATION_TITLES = {
    "sigmoid": "Sigmoid", "tanh": "Hyperbolic tangent", "relu": "ReLU",
    "leaky_relu": "Leaky ReLU", "elu": "ELU", "softplus": "Softplus", "linear": "Linear",
    "step": "Unit step (Heaviside)", "sign": "Sign (signum)", "softmax": "Softmax",
}
DERIVATION_TITLES = {
    "logistic_regression": "The logistic-regression gradient",
    "mse_sigmoid": "The gradient of the squared error through a sigmoid",
}


def _negated(term: sp.Expr) -> tuple[bool, sp.Expr]:
    """(True, −term) when a term reads with a leading minus, else (False, term)."""
    if isinstance(term, Factors):
        negative, first = _negated(term.args[0])
        if negative:
            rest = term.args[1:]
            return True, (Factors(*rest) if first == 1 and len(rest) > 1 else
                          rest[0] if first == 1 else Factors(first, *rest))
        return False, term
    if term.is_Mul and term.args and term.args[0].is_Number and term.args[0] < 0:
        first, rest = -term.args[0], list(term.args[1:])
        args = rest if first == 1 else [first, *rest]
        return True, (args[0] if len(args) == 1 else sp.Mul(*args, evaluate=False))
    if term.is_Number and term < 0:
        return True, -term
    if isinstance(term, Shown) and term.value < 0 or term.is_Add:
        return False, term  # a sum is bracketed, never negated
    if term.could_extract_minus_sign():
        return True, -term
    return False, term


class CalculusPrinter(DerivePrinter):
    """DerivePrinter for derivations: written derivatives, ordered factors, f'(z).

    Settings (besides DerivePrinter's): ``partial`` writes ∂ rather than d.
    """

    _default_settings = {**DerivePrinter._default_settings, "partial": False,
                         "mul_symbol": None}

    def _d(self) -> str:
        return r"\partial" if self._settings["partial"] else r"\mathrm{d}"

    def _print_D(self, expr: D) -> str:
        d = self._d()
        if expr.expr.is_Symbol and expr.wrt.is_Symbol:
            return r"\frac{%s %s}{%s %s}" % (d, self._print(expr.expr), d,
                                             self._print(expr.wrt))
        if expr.wrt.is_Symbol:
            inner = self._print(expr.expr)
            if not (expr.expr.is_Atom or expr.expr.is_Pow or isinstance(expr.expr, sp.Function)) \
                    or _negated(expr.expr)[0]:
                inner = rf"\left({inner}\right)"
            return r"\frac{%s}{%s %s} %s" % (d, d, self._print(expr.wrt), inner)
        parts = [self._print(e) for e in (expr.expr, expr.wrt)]
        parts = [rf"\left({text}\right)" if e.is_Add or e.is_Mul else text
                 for e, text in zip((expr.expr, expr.wrt), parts)]
        return r"\frac{%s %s}{%s %s}" % (d, parts[0], d, parts[1])

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        d = r"\partial"
        return r"\frac{%s %s}{%s %s}" % (d, self._print(expr.expr), d,
                                         self._print(expr.variables[0]))

    def _print_Factors(self, expr: Factors) -> str:
        args = list(expr.args)
        sign = ""
        if args[0] == -1 and len(args) > 1:
            sign, args = "- ", args[1:]
        parts = []
        for i, factor in enumerate(args):
            text = self._print(factor)
            if factor.is_Add or (i and _negated(factor)[0]) or (
                    isinstance(factor, Shown) and i and factor.value < 0):
                text = rf"\left({text}\right)"
            parts.append(text)
        return sign + r" \cdot ".join(parts)

    def _print_Add(self, expr: sp.Add, order=None) -> str:
        text = ""
        for i, term in enumerate(expr.args):
            negative, shown = _negated(term)
            if i:
                text += " - " if negative else " + "
            elif negative:
                text += "- "
            term_text = self._print(shown)
            if shown.is_Add or (i and isinstance(shown, Shown) and shown.value < 0):
                term_text = rf"\left({term_text}\right)"
            text += term_text
        return text

    def _print_Prime(self, expr: Prime) -> str:
        applied = expr.args[0]
        name = type(applied).__name__
        symbol = FUNCTION_NAMES.get(name, rf"\operatorname{{{name}}}")
        arguments = ", ".join(self._print(a) for a in applied.args)
        return rf"{symbol}'\left({arguments}\right)"

    def _print_Mul(self, expr: sp.Mul) -> str:
        if not expr.has(Shown):
            return super()._print_Mul(expr)
        symbol = self._settings["mul_symbol_latex"]  # numbers put in: always a dot
        self._settings["mul_symbol_latex"] = r" \cdot "
        try:
            return super()._print_Mul(expr)
        finally:
            self._settings["mul_symbol_latex"] = symbol

    def _print_Heaviside(self, expr, exp=None) -> str:
        return rf"H\left({self._print(expr.args[0])}\right)"

    def _print_Subs(self, subs: sp.Subs) -> str:
        expr, old, new = subs.args
        at = ", ".join(f"{self._print(o)} = {self._print(n)}" for o, n in zip(old, new))
        return rf"\left. {self._print(expr)} \right|_{{{at}}}"

    def _print_Indexed(self, expr) -> str:
        return f"{self._print(expr.base.label)}_{{{', '.join(map(self._print, expr.indices))}}}"


def _derived_view(record: Derived, printer: CalculusPrinter, *, part: bool = False) -> dict:
    working = record.working
    lines = [] if part else [{"expr": printer.doprint(D(working.expr, working.wrt)),
                              "why": RULE_TITLES["definition"]}]
    for line in working.lines:
        lines.append({"expr": printer.doprint(line.expression),
                      "why": "; ".join(RULE_TITLES[name] for name in line.rules)})
    result = printer.doprint(working.result)
    if (not lines or result != lines[-1]["expr"]) and not record.rewrites:
        lines.append({"expr": result, "why": "simplify"})
    for rewrite in record.rewrites:
        text = printer.doprint(rewrite.expression)
        if text != lines[-1]["expr"]:
            lines.append({"expr": text, "why": REASON_TITLES[rewrite.reason]})
    parts = [_derived_view(Derived(D(part.expr, part.wrt), part.expr, part), printer,
                           part=True) for part in working.parts]
    return {"lhs": printer.doprint(record.lhs), "lines": lines, "parts": parts}


def _step_view(step: Step, printer: CalculusPrinter) -> EquationView:
    lhs = printer.doprint(step.lhs)
    if math.isnan(step.value):  # undefined there
        return EquationView("undefined", lhs, ())
    value = printer.doprint(Shown(step.value))
    rhs = []
    for form in (step.formula, step.substituted):
        text = printer.doprint(form)
        if text not in rhs and text != value:
            rhs.append(text)
    return EquationView(step.kind, lhs, (*rhs, value))


def _item_view(item: Item, printer: CalculusPrinter, problem: DerivativeProblem) -> dict:
    if isinstance(item, ActivationDerivative):
        kink = item.kink
        view = {"kind": item.kind, "name": item.name, "title": ACTIVATION_TITLES[item.name],
                "definition": printer.doprint(sp.Eq(item.function, item.shown, evaluate=False)),
                "derived": _derived_view(item.derived, printer),
                "final": printer.doprint(sp.Eq(Prime(item.function), item.derivative,
                                               evaluate=False)),
                "evaluations": [_step_view(step, printer) for step in item.values],
                "useless": item.useless, "kink": None, "parameters": [
                    f"{printer.doprint(symbol)} = {format_given(float(value))}"
                    for symbol, value in parameters(problem, item.name).items()]}
        if kink is not None:
            condition = kink.differentiable
            view["kink"] = {
                "left_value": printer.doprint(kink.left_value),
                "value": printer.doprint(kink.value),
                "right_value": printer.doprint(kink.right_value),
                "continuous": kink.continuous,
                "left_slope": printer.doprint(kink.left_slope),
                "right_slope": printer.doprint(kink.right_slope),
                "differentiable": "yes" if condition is sp.true else
                "no" if condition is sp.false else printer.doprint(condition),
                "convention": None if kink.convention is None
                else printer.doprint(kink.convention),
                "function": printer.doprint(item.function.func(0)),
                "slope": printer.doprint(Prime(item.function.func(0)))}
        return view
    if isinstance(item, SoftmaxJacobian):
        partial = _printer(problem, partial=True)
        return {"kind": item.kind, "title": ACTIVATION_TITLES["softmax"],
                "classes": item.classes,
                "definition": partial.doprint(item.definition),
                "diagonal": _derived_view(item.diagonal, partial),
                "off_diagonal": _derived_view(item.off_diagonal, partial),
                "general": partial.doprint(item.general),
                "matrix": partial.doprint(item.matrix),
                "points": [{"z": ", ".join(partial.doprint(v) for v in at.point),
                            "outputs": [_step_view(step, partial) for step in at.outputs],
                            "substituted": partial.doprint(at.substituted),
                            "numbers": partial.doprint(at.values)}
                           for at in item.values]}
    if isinstance(item, ExpressionDerivative):
        several = len(item.derived.definition.free_symbols) > 1
        local = _printer(problem, partial=several)
        return {"kind": item.kind, "derived": _derived_view(item.derived, local),
                "evaluations": [_step_view(step, local) for step in item.values]}
    partial = _printer(problem, partial=item.name == "mse_sigmoid",
                       symbol_names={sp.Symbol("f", real=True): "f(x)"})
    return {"kind": item.kind, "name": item.name, "title": DERIVATION_TITLES[item.name],
            "definitions": [" = ".join(partial.doprint(e) for e in
                                       (d.lhs, d.rhs, *(() if d.shown is None else (d.shown,))))
                            for d in item.definitions],
            "parts": [_derived_view(part, partial) for part in item.parts],
            "chains": [{"lhs": partial.doprint(chain.lhs),
                        "lines": [{"expr": partial.doprint(chain.factors), "why": "chain rule"}]
                        + [{"expr": partial.doprint(line.expression),
                            "why": REASON_TITLES[line.reason]} for line in chain.lines]}
                       for chain in item.chains]}


def _printer(problem: DerivativeProblem, **settings) -> CalculusPrinter:
    return CalculusPrinter({"digits": problem.digits, "rounding": problem.rounding,
                            **settings})


def _view(solution: CalculusSolution) -> dict:
    problem = solution.problem
    printer = _printer(problem)
    return {"title": problem.title, "note": problem.note, "version": __version__,
            "items": [_item_view(item, printer, problem) for item in solution.items]}


def _json(solution: CalculusSolution) -> str:
    values = {name: (None if math.isnan(value) else value)
              for name, value in solution.values.items()}
    document = {"derive": __version__, "kind": "derivative",
                "title": solution.problem.title, "derivatives": solution.results,
                "values": values}
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"
