"""The layer-level (matrix) form of a network, for networks too large to list.

One statement per layer and pass, in the vectorized notation of seeds 002 and 003:
``z^[l] = W^[l] a^[l-1] + b^[l]``, ``a^[l] = f(z^[l])``, ``δ^[L] = ∂L/∂a^[L] ⊙ f'(z^[L])``,
``δ^[l] = ((W^[l+1])ᵀ δ^[l+1]) ⊙ f'(z^[l])``, ``∂L/∂W^[l] = δ^[l] (a^[l-1])ᵀ``,
``∂L/∂b^[l] = δ^[l]`` and the update. Matrix products keep their order because the
symbols are non-commutative; ``⊙`` is :class:`Hadamard`.
"""

from __future__ import annotations

import sympy as sp

from . import catalog
from .forms import Partial
from .network import Network
from .steps import Block, LayerStatement, Section

SLOPE_NAMES = {"sigmoid": r"\sigma", "tanh": r"\tanh", "relu": r"\operatorname{ReLU}",
               "leaky_relu": r"\operatorname{LeakyReLU}"}
SLOPE_TYPST_NAMES = {"sigmoid": "sigma", "tanh": "tanh", "relu": 'op("ReLU")',
                     "leaky_relu": 'op("LeakyReLU")'}


class Hadamard(sp.Expr):
    """The elementwise product ``u ⊙ v`` (printed, never evaluated)."""

    is_commutative = False

    def __new__(cls, left: sp.Expr, right: sp.Expr):
        return sp.Expr.__new__(cls, left, right)


class Slope(sp.Expr):
    """``f'(z)``: the derivative of the activation named ``f``, elementwise on ``z``."""

    is_commutative = False

    def __new__(cls, name: sp.Symbol, z: sp.Expr):
        return sp.Expr.__new__(cls, name, z)


class _Vectors:
    """Non-commutative symbols for the layer quantities, named in layer notation."""

    def __init__(self, net: Network):
        self.net = net

    def __call__(self, plain: str, latex: str, typst: str) -> sp.Symbol:
        symbol = sp.Symbol(plain, commutative=False)
        self.net.notation.latex[symbol] = latex
        self.net.notation.typst[symbol] = typst
        return symbol

    def of(self, letter: str, l: int) -> sp.Symbol:
        """``letter^[l]`` for layer ``l`` (0-based); ``a`` before the first layer is ``x``."""
        if letter == "a" and l < 0:
            return self("x", r"\mathbf{x}", "bold(x)")
        bold = r"\boldsymbol{\delta}" if letter == "delta" else rf"\mathbf{{{letter}}}"
        typst_bold = "bold(delta)" if letter == "delta" else f"bold({letter})"
        return self(f"{letter}[{l + 1}]", rf"{bold}^{{[{l + 1}]}}", f"{typst_bold}^([{l + 1}])")

    def weights(self, l: int, transposed: bool = False) -> sp.Symbol:
        if transposed:
            return self(f"W[{l + 1}]T", rf"\left(W^{{[{l + 1}]}}\right)^{{\top}}",
                        f"(W^([{l + 1}]))^top")
        return self(f"W[{l + 1}]", rf"W^{{[{l + 1}]}}", f"W^([{l + 1}])")

    def transposed(self, vector: sp.Symbol) -> sp.Symbol:
        return self(f"{vector.name}T", rf"\left({self.net.notation.latex[vector]}\right)^{{\top}}",
                    f"({self.net.notation.typst[vector]})^top")


def layer_form(net: Network) -> Section:
    """Every layer's forward, backward and update statements in matrix form."""
    v = _Vectors(net)
    loss, eta = net.symbol("loss"), net.symbol("eta")
    blocks = []
    for l, spec in enumerate(net.problem.layers):
        z, a = v.of("z", l), v.of("a", l)
        with sp.evaluate(False):
            linear = sp.Mul(v.weights(l), v.of("a", l - 1))
            if spec.bias is not None:
                linear = sp.Add(linear, v.of("b", l))
        blocks.append(Block(a, (LayerStatement(z, linear),
                                LayerStatement(a, _activation(net, l, z)))))
    for l in reversed(range(net.depth)):
        spec = net.problem.layers[l]
        z, a, delta = v.of("z", l), v.of("a", l), v.of("delta", l)
        with sp.evaluate(False):
            if l == net.depth - 1:
                upstream = Partial(loss, a)
            else:
                upstream = sp.Mul(v.weights(l + 1, transposed=True), v.of("delta", l + 1))
            if spec.activation == "softmax":
                jacobian = v(f"J[{l + 1}]T", rf"\left(\frac{{\partial \mathbf{{a}}^{{[{l + 1}]}}}}"
                                             rf"{{\partial \mathbf{{z}}^{{[{l + 1}]}}}}\right)^{{\top}}",
                             f"(frac(partial bold(a)^([{l + 1}]), "
                             f"partial bold(z)^([{l + 1}])))^top")
                backward = sp.Mul(jacobian, upstream)
            elif spec.activation == "linear":
                backward = upstream
            else:
                backward = Hadamard(upstream, Slope(sp.Symbol(spec.activation), z))
            W = v.weights(l)
            statements = [LayerStatement(delta, backward),
                          LayerStatement(Partial(loss, W),
                                         sp.Mul(delta, v.transposed(v.of("a", l - 1))))]
            if spec.bias is not None:
                bias = v.of("b", l)
                statements.append(LayerStatement(
                    Partial(loss, bias),
                    sp.Function("Sum")(delta) if spec.shared_bias else delta))
            statements.append(LayerStatement(
                v(f"W[{l + 1}]+", rf"{{W^{{[{l + 1}]}}}}^{{+}}", f"#$W^([{l + 1}])$^+"),
                sp.Add(W, sp.Mul(-1, eta, Partial(loss, W)))))
            if spec.bias is not None and net.problem.update_biases:
                bias = v.of("b", l)
                statements.append(LayerStatement(
                    v(f"b[{l + 1}]+", rf"{{{net.notation.latex[bias]}}}^{{+}}",
                      f"#${net.notation.typst[bias]}$^+"),
                    sp.Add(bias, sp.Mul(-1, eta, Partial(loss, bias)))))
        blocks.append(Block(delta, tuple(statements)))
    return Section("layer_form", tuple(blocks))


def _activation(net: Network, l: int, z: sp.Symbol) -> sp.Expr:
    name = net.problem.layers[l].activation
    if name == "softmax":
        return sp.Function("softmax")(z)
    return catalog.ACTIVATIONS[name].function(z, net.activation_parameter(l))
