"""Activation functions differentiated from their definitions, kinks examined.

For ``kind: derivative`` problems (:mod:`derive.calculus`) that ask ``of: [sigmoid, …]``:

1. catalog (data): each activation's definition in elementary functions
   (:class:`Smooth`, with the rewrites from the raw derivative to the form the slides use,
   ``σ(z)(1 − σ(z))``), or piece by piece for ReLU, leaky ReLU, ELU, the unit step and
   the sign (:class:`Pieces`);
2. derivative: worked out by rules and checked (:func:`derive.worked.derived`); a
   piecewise function piece by piece, then examined at its kink (:class:`Kink`:
   continuity, one-sided slopes checked against the limits of the difference quotients,
   the convention used at 0, or none where the derivative is undefined there);
3. values at the given points in three forms, each checked at 30 digits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import sympy as sp

from .catalog import sigmoid
from .errors import CrossCheckError
from .forms import Shown, substitute
from .latex import format_given
from .rules import Factors, evaluated
from .steps import Step
from .stepwise import same
from .worked import Derived, Prime, Rewrite, Z, check_value, derived, expand, frac, plus

if TYPE_CHECKING:
    from .calculus import DerivativeProblem

# The activations a problem may ask for (softmax: :mod:`derive.softmax_jacobian`).
ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "linear",
               "step", "sign", "softmax")
ALPHA = sp.Symbol("alpha", positive=True)
ReLU, LeakyReLU, ELU = sp.Function("ReLU"), sp.Function("LeakyReLU"), sp.Function("ELU")
softplus, step, sgn, linear = (sp.Function("softplus"), sp.Function("step"),
                               sp.Function("sgn"), sp.Function("linear"))


# -- the catalog (data) ------------------------------------------------------------------

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


def activation(name: str, problem: DerivativeProblem) -> Smooth | Pieces:
    """The catalog entry of an activation, with the problem's conventions."""
    e = sp.exp
    if name == "sigmoid":
        one_plus = plus(1, e(-Z))
        return Smooth(sigmoid(Z), 1 / one_plus, (
            Rewrite(frac(e(-Z), one_plus**2), "simplify"),
            Rewrite(Factors(1 / one_plus, frac(e(-Z), one_plus)), "split"),
            Rewrite(Factors(1 / one_plus, plus(1, -1 / one_plus)), "complement"),
            Rewrite(Factors(sigmoid(Z), plus(1, -sigmoid(Z))), "name")))
    if name == "tanh":
        above, below = plus(e(Z), -e(-Z)), plus(e(Z), e(-Z))
        return Smooth(sp.tanh(Z), frac(above, below), (
            Rewrite(plus(frac(below**2, below**2), -frac(above**2, below**2)), "split"),
            Rewrite(plus(1, -sp.Pow(frac(above, below), 2, evaluate=False)), "cancel"),
            Rewrite(1 - sp.tanh(Z)**2, "name")))
    if name == "softplus":
        return Smooth(softplus(Z), sp.log(plus(1, e(Z))), (
            Rewrite(frac(e(Z), plus(1, e(Z))), "simplify"),
            Rewrite(1 / plus(1, e(-Z)), "divide"),
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
        left = ALPHA * plus(e(Z), -1)
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


# -- the derivatives -----------------------------------------------------------------------

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


def derive_activation(name: str, problem: DerivativeProblem) -> ActivationDerivative:
    """An activation's derivative from its definition (piece by piece, and at its kink),
    and its values at the problem's points.

    Raises:
        CrossCheckError: a line, a one-sided slope or a value disagrees with SymPy.
    """
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
    value = sp.N(evaluated(expand(form, numbers)).subs(Z, at), 30)
    applied = {atom: Shown(float(sp.N(atom.xreplace({given: at}), 30)))
               for atom in formula.atoms(sp.Function) if atom.has(given)}
    substituted = substitute(formula, applied)
    if not (kink is not None and at == 0):
        definition = entry.definition if isinstance(entry, Smooth) else (
            entry.left if at < 0 else entry.right)
        check_value(f"{name}'({format_given(point)})", value, expand(definition, numbers), Z, at)
    return Step(("value", name, float(point)), f"{name}'({format_given(point)})", lhs, formula,
                substituted, float(value))


def _shown_parameters(expr: sp.Expr, numbers: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
    return substitute(expr, {symbol: Shown(float(value), given=True)
                             for symbol, value in numbers.items()})

