"""Activations and losses as data: name -> SymPy definition and local derivative.

Each activation is a SymPy function of the pre-activation ``z``; its derivative is
obtained with ``sympy.diff`` and written in terms of the activation's own output
``a`` wherever the slides do (``σ'(z) = a(1 − a)``, ``tanh'(z) = 1 − a²``). The
numeric evaluators are compiled from the same expressions with ``lambdify``, once
per form, so that every neuron of a layer shares one symbolic form.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

import numpy as np
import sympy as sp


class sigmoid(sp.Function):
    """The logistic function σ(z) = 1 / (1 + e^{−z}); σ'(z) = σ(z)(1 − σ(z)).

    σ(0) = 1/2; at other arguments σ stays unevaluated so that exact values keep
    their shape; ``evalf`` goes through ``rewrite(exp)``.
    """

    nargs = 1

    @classmethod
    def eval(cls, z):
        if z.is_zero:
            return sp.S.Half
        return None

    def fdiff(self, argindex=1):
        if argindex != 1:
            raise sp.ArgumentIndexError(self, argindex)
        return self * (1 - self)

    def _eval_rewrite_as_exp(self, z, **kwargs):
        return 1 / (1 + sp.exp(-z))

    def _eval_evalf(self, prec):
        return self.rewrite(sp.exp)._eval_evalf(prec)

    def _eval_is_real(self):
        return self.args[0].is_real


class relu(sp.Function):
    """ReLU(z) = max(0, z); its derivative at 0 is a convention (``at_zero``)."""

    nargs = 2  # (z, value of the derivative at 0)

    def fdiff(self, argindex=1):
        z, at_zero = self.args
        return sp.Piecewise((1, z > 0), (at_zero, sp.Eq(z, 0)), (0, True))

    def _eval_rewrite_as_Max(self, z, at_zero, **kwargs):
        return sp.Max(0, z)


class leaky_relu(sp.Function):
    """Leaky ReLU(z) = z for z > 0, α·z otherwise; derivative 1 or α."""

    nargs = 2  # (z, slope α)

    def fdiff(self, argindex=1):
        z, slope = self.args
        return sp.Piecewise((1, z > 0), (slope, True))

    def _eval_rewrite_as_Piecewise(self, z, slope, **kwargs):
        return sp.Piecewise((z, z > 0), (slope * z, True))


Z, A = sp.symbols("z a")  # the generic pre-activation and activation of one neuron
Y = sp.Symbol("y")         # the generic target of one output
C = sp.Symbol("c")         # 1 − a, when the numbers are evaluated (see in_complement)
LOSS_ARGS = (Y, A, C)


@dataclass(frozen=True)
class Activation:
    """An activation function.

    Attributes:
        name: the name used in problem files.
        function: builds the SymPy function application ``f(z)`` (parameters bound).
        shown: how the slides write ``f(z)``: ``1/(1 + e^{-z})`` for the sigmoid.
        elementwise: False for softmax, whose outputs all depend on every input.
    """

    name: str
    function: Callable[[sp.Expr, float], sp.Expr]
    shown: Callable[[sp.Expr, float], sp.Expr]
    elementwise: bool = True
    stable_slope: Callable[[sp.Expr], sp.Expr] | None = None

    def numeric_slope(self, parameter: float = 0.0) -> sp.Expr:
        """The derivative as evaluated in floating point, in ``z`` and ``a``.

        Equal to :meth:`derivative`, but written so that it keeps its relative
        accuracy where the unit saturates (``σ(z)σ(−z)`` rather than ``a(1 − a)``
        with ``a`` rounded to 1); ``tests/test_derivation.py`` checks the equality.
        """
        if self.stable_slope is None:
            return self.derivative(parameter)
        return self.stable_slope(Z)

    def derivative(self, parameter: float = 0.0) -> sp.Expr:
        """``∂a/∂z`` derived by SymPy, in terms of ``a`` where the output appears."""
        return _activation_derivative(self.name, float(parameter))


@cache
def _activation_derivative(name: str, parameter: float) -> sp.Expr:
    applied = ACTIVATIONS[name].function(Z, parameter)
    return sp.diff(applied, Z).xreplace({applied: A})


ACTIVATIONS: dict[str, Activation] = {
    "sigmoid": Activation(
        "sigmoid", lambda z, p: sigmoid(z), lambda z, p: sigmoid(z).rewrite(sp.exp),
        stable_slope=lambda z: sigmoid(z) * sigmoid(-z)),
    "tanh": Activation("tanh", lambda z, p: sp.tanh(z), lambda z, p: sp.tanh(z),
                       stable_slope=lambda z: sp.cosh(z) ** -2),
    "relu": Activation(
        "relu", lambda z, p: relu(z, sp.Float(p)), lambda z, p: sp.Max(0, z, evaluate=False)),
    "leaky_relu": Activation(
        "leaky_relu", lambda z, p: leaky_relu(z, sp.Float(p)),
        lambda z, p: sp.Max(sp.Float(p) * z, z, evaluate=False)),
    "linear": Activation("linear", lambda z, p: z, lambda z, p: z),
    "softmax": Activation("softmax", None, None, elementwise=False),  # see below
}


def softmax_shown(z: sp.Symbol, zs: tuple[sp.Symbol, ...]) -> sp.Expr:
    """``e^{z_k} / Σ_j e^{z_j}`` written out over the layer's pre-activations."""
    with sp.evaluate(False):
        return sp.exp(z) / sp.Add(*[sp.exp(zj) for zj in zs])


def softmax_jacobian(a_k: sp.Symbol, a_j: sp.Symbol, same: bool) -> sp.Expr:
    """``∂a_k/∂z_j = a_k(δ_kj − a_j)``: ``a_k(1 − a_k)`` on the diagonal, ``−a_k a_j`` off it.

    ``tests/test_catalog.py`` checks this against ``sympy.diff`` of the definition.
    """
    return a_k * (1 - a_k) if same else -a_k * a_j


@dataclass(frozen=True)
class Loss:
    """A loss, written as a sum over outputs of per-output terms.

    Attributes:
        name: the name used in problem files.
        term: builds the term of one output from target ``y``, output ``a``, the
            number of outputs ``k`` and the log base (None for the natural log).
    """

    name: str
    term: Callable[[sp.Expr, sp.Expr, int, int | None], sp.Expr]


def _log(x: sp.Expr, base: int | None) -> sp.Expr:
    return sp.log(x) if base is None else sp.log(x, base)


def _squared(y: sp.Expr, a: sp.Expr) -> sp.Expr:
    return sp.Pow(sp.Add(y, -a, evaluate=False), 2, evaluate=False)


LOSSES: dict[str, Loss] = {
    "mse": Loss("mse", lambda y, a, k, base: _squared(y, a) if k == 1
                else sp.Mul(sp.Rational(1, k), _squared(y, a), evaluate=False)),
    "sse": Loss("sse", lambda y, a, k, base: _squared(y, a)),
    "half_sse": Loss("half_sse", lambda y, a, k, base:
                     sp.Mul(sp.Rational(1, 2), _squared(y, a), evaluate=False)),
    "bce": Loss("bce", lambda y, a, k, base: -(y * _log(a, base) + (1 - y) * _log(1 - a, base))),
    "cce": Loss("cce", lambda y, a, k, base: -y * _log(a, base)),
}


@cache
def loss_term(name: str, k: int, base: int | None) -> sp.Expr:
    """The generic per-output loss term in ``Y`` and ``A``."""
    return LOSSES[name].term(Y, A, k, base)


@cache
def loss_derivative(name: str, k: int, base: int | None) -> sp.Expr:
    """``∂term/∂a`` of the generic loss term, derived by SymPy (common factors pulled out)."""
    return sp.factor_terms(sp.diff(loss_term(name, k, base), A))


def in_complement(expr: sp.Expr) -> sp.Expr:
    """``expr`` with ``1 − a`` written as the symbol ``c``, for evaluation.

    ``1 − a`` computed from a rounded ``a`` close to 1 loses most of its digits;
    the numeric pass supplies ``c`` computed from ``z`` instead.
    """
    return expr.xreplace({1 - A: C})


def _stable_sigmoid(x: np.ndarray) -> np.ndarray:
    """σ without overflow, and with full relative accuracy for large negative x."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


_NUMERIC = {
    "sigmoid": lambda x: _stable_sigmoid(np.asarray(x, dtype=float)),
    "relu": lambda x, at_zero: np.maximum(x, 0.0),
    "leaky_relu": lambda x, slope: np.where(x > 0, x, slope * x),
}


@cache
def _printer():
    from sympy.printing.numpy import NumPyPrinter

    return NumPyPrinter({"fully_qualified_modules": True, "inline": True,
                         "allow_unknown_functions": True, "user_functions": {}})


@cache
def compiled(expr: sp.Expr, *args: sp.Symbol) -> Callable[..., np.ndarray]:
    """Compile a generic form once; evaluate it on whole layers with NumPy."""
    # NumPy's printer, but only the `numpy` name in the namespace: lambdify's
    # "numpy" module setting would run `from numpy import *` (a tenth of a second).
    function = sp.lambdify(args, expr, modules=[_NUMERIC, {"numpy": np}], printer=_printer())

    def evaluate(*values):
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            result = function(*values)
        shape = np.broadcast_shapes(*(np.shape(v) for v in values))
        return np.array(np.broadcast_to(np.asarray(result, dtype=float), shape))

    return evaluate
