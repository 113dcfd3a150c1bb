"""The network of a problem: parameters, symbols, and the values of one pass.

``Network`` turns a validated :class:`~derive.spec.Problem` into arrays (for the
numbers) and symbols (for the formulas). ``Network.evaluate`` runs the forward
and backward pass layer by layer with NumPy, using the local forms from
:mod:`derive.catalog` compiled once per layer: each factor is derived once
symbolically and evaluated for all neurons at once, so the cost grows linearly
with the number of parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp

from . import catalog
from .notation import Name, Notation, parameter_names
from .spec import Problem


@dataclass(frozen=True)
class LayerArrays:
    """The numbers of one layer for every sample (rows are samples)."""

    z: np.ndarray             # pre-activations, (samples, width)
    a: np.ndarray             # activations, (samples, width)
    dL_da: np.ndarray         # ∂L_s/∂a, (samples, width)
    da_dz: np.ndarray         # ∂a/∂z: (samples, width) or the softmax Jacobian (s, k, j)
    delta: np.ndarray         # ∂L_s/∂z, (samples, width)
    grad_W_sample: np.ndarray  # ∂L_s/∂W, (samples, width, inputs)
    grad_b_sample: np.ndarray | None  # ∂L_s/∂b: (samples, width) or (samples,) if shared


@dataclass(frozen=True)
class Values:
    """Everything one forward and backward pass computes."""

    x: np.ndarray
    y: np.ndarray
    layers: tuple[LayerArrays, ...]
    loss_terms: np.ndarray     # (samples, outputs)
    loss_samples: np.ndarray   # (samples,)
    loss: float
    gradients: dict[tuple, float]
    updated: dict[tuple, float]


class Network:
    """Arrays, names and symbols of one problem's network."""

    def __init__(self, problem: Problem):
        self.problem = problem
        self.widths = problem.widths
        self.depth = len(problem.layers)
        self.samples = len(problem.data)
        self.W = [np.array(layer.weights, dtype=float) for layer in problem.layers]
        self.b = [None if layer.bias is None else np.array(layer.bias_vector(), dtype=float)
                  for layer in problem.layers]
        self.notation = Notation(problem.notation, self.widths, self.samples)
        self.param_names: dict[tuple, Name] = parameter_names(
            problem.parameter_names, self.widths,
            tuple(layer.shared_bias for layer in problem.layers),
            tuple(layer.bias is not None for layer in problem.layers))
        self._symbols: dict[tuple, sp.Symbol] = {}
        self._keys: dict[sp.Symbol, tuple] = {}

    # -- parameters -----------------------------------------------------------
    @cached_property
    def parameters(self) -> tuple[tuple, ...]:
        """Parameter ids in the slides' order: all weights, then all biases."""
        return tuple(self.param_names)

    def parameter_value(self, pid: tuple) -> float:
        if pid[0] == "W":
            _, l, j, k = pid
            return float(self.W[l][j, k])
        return float(self.b[pid[1]][pid[2] if len(pid) == 3 else 0])

    def activation_parameter(self, l: int) -> float:
        layer = self.problem.layers[l]
        if layer.activation == "leaky_relu":
            return layer.leaky_slope
        return self.problem.relu_grad_at_zero

    def updates(self, pid: tuple) -> bool:
        return pid[0] == "W" or self.problem.update_biases

    @property
    def log_base(self) -> int | None:
        return None if self.problem.log_base == "e" else int(self.problem.log_base)

    # -- symbols --------------------------------------------------------------
    def symbol(self, kind: str, *index: int) -> sp.Symbol:
        """The symbol of a quantity: ``("x", s, k)``, ``("z", s, l, j)``, ``("W", l, j, k)`` …"""
        key = (kind, *index)
        if key not in self._symbols:
            symbol = self.notation.symbol(self._name(kind, index))
            self._symbols[key] = symbol
            self._keys[symbol] = key
        return self._symbols[key]

    def key_of(self, symbol: sp.Basic) -> tuple | None:
        """The structural key of a symbol made by :meth:`symbol`, else None."""
        return self._keys.get(symbol)

    def _name(self, kind: str, index: tuple) -> Name:
        n = self.notation
        if kind in ("W", "b"):
            return self.param_names[(kind, *index)]
        if kind == "x":
            return n.input(index[1], index[0])
        if kind == "y":
            return n.target(index[1], index[0])
        if kind == "z":
            return n.pre_activation(index[1], index[2], index[0])
        if kind == "a":
            return n.activation(index[1], index[2], index[0])
        if kind == "loss_term":
            return n.loss_term(index[1], index[0])
        if kind == "loss_sample":
            return n.loss(index[0])
        if kind == "loss":
            return n.total_loss()
        if kind == "eta":
            return n.learning_rate()
        raise KeyError(kind)

    def input_symbol(self, s: int, l: int, k: int) -> sp.Symbol:
        """Input ``k`` of layer ``l``: an input of the network or a previous activation."""
        return self.symbol("x", s, k) if l == 0 else self.symbol("a", s, l - 1, k)

    def param_symbol(self, pid: tuple) -> sp.Symbol:
        return self.symbol(*pid)

    def bias_id(self, l: int, j: int) -> tuple | None:
        layer = self.problem.layers[l]
        if layer.bias is None:
            return None
        return ("b", l) if layer.shared_bias else ("b", l, j)

    # -- the numbers ------------------------------------------------------------
    def evaluate(self) -> Values:
        """Forward pass, loss, backward pass and update, vectorized per layer."""
        problem = self.problem
        x = np.array([sample.x for sample in problem.data], dtype=float)
        y = np.array([sample.targets for sample in problem.data], dtype=float)
        Z = catalog.Z
        A = catalog.A

        zs, as_ = [], []
        inputs = x
        for l, layer in enumerate(problem.layers):
            z = inputs @ self.W[l].T
            if self.b[l] is not None:
                z = z + self.b[l]
            if layer.activation == "softmax":
                e = np.exp(z - z.max(axis=1, keepdims=True))
                a = e / e.sum(axis=1, keepdims=True)
            else:
                act = catalog.ACTIVATIONS[layer.activation]
                a = catalog.compiled(act.function(Z, self.activation_parameter(l)), Z)(z)
            zs.append(z)
            as_.append(a)
            inputs = a

        k_out = self.widths[-1]
        outputs = (y, as_[-1], self._complement(zs[-1], as_[-1]))
        term = catalog.loss_term(problem.loss, k_out, self.log_base)
        loss_terms = catalog.compiled(catalog.in_complement(term), *catalog.LOSS_ARGS)(*outputs)
        loss_samples = loss_terms.sum(axis=1)
        scale = 1.0 / self.samples if problem.reduction == "mean" else 1.0
        loss = float(loss_samples.sum() * scale)

        slope = catalog.loss_derivative(problem.loss, k_out, self.log_base)
        dL_da = catalog.compiled(catalog.in_complement(slope), *catalog.LOSS_ARGS)(*outputs)
        arrays: list[LayerArrays] = [None] * self.depth  # type: ignore[list-item]
        for l in reversed(range(self.depth)):
            layer = problem.layers[l]
            z, a = zs[l], as_[l]
            if l < self.depth - 1:
                dL_da = arrays[l + 1].delta @ self.W[l + 1]
            if layer.activation == "softmax":
                diagonal = catalog.compiled(catalog.softmax_jacobian(A, A, True), A)(a)
                a_j = sp.Symbol("a_j")
                off = catalog.compiled(catalog.softmax_jacobian(A, a_j, False), A, a_j)
                da_dz = off(a[:, :, None], a[:, None, :])
                index = np.arange(a.shape[1])
                da_dz[:, index, index] = diagonal
                delta = np.einsum("sk,skj->sj", dL_da, da_dz)
            else:
                act = catalog.ACTIVATIONS[layer.activation]
                da_dz = catalog.compiled(act.numeric_slope(self.activation_parameter(l)), Z, A)(z, a)
                delta = dL_da * da_dz
            previous = x if l == 0 else as_[l - 1]
            grad_W = delta[:, :, None] * previous[:, None, :]
            grad_b = None
            if self.b[l] is not None:
                grad_b = delta.sum(axis=1) if layer.shared_bias else delta
            arrays[l] = LayerArrays(z, a, dL_da, np.array(da_dz), delta, grad_W, grad_b)

        gradients: dict[tuple, float] = {}
        for pid in self.parameters:
            gradients[pid] = float(self._per_sample(arrays, pid).sum() * scale)
        eta = problem.learning_rate
        updated = {pid: self.parameter_value(pid) - eta * gradients[pid]
                   for pid in self.parameters if self.updates(pid)}
        return Values(x, y, tuple(arrays), loss_terms, loss_samples, loss, gradients, updated)

    def _complement(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        """``1 − a`` of the output layer, computed without cancellation where a ≈ 1.

        Cross-entropy's ``log(1 − a)`` and ``1/(1 − a)`` need it: ``σ(−z)`` for the
        sigmoid, the sum of the other outputs for softmax.
        """
        activation = self.problem.layers[-1].activation
        if activation == "sigmoid":
            return catalog.compiled(catalog.sigmoid(-catalog.Z), catalog.Z)(z)
        if activation == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            others = np.ones((z.shape[1], z.shape[1])) - np.eye(z.shape[1])
            return (e @ others) / e.sum(axis=1, keepdims=True)
        return 1.0 - a

    @staticmethod
    def _per_sample(arrays, pid: tuple) -> np.ndarray:
        if pid[0] == "W":
            _, l, j, k = pid
            return arrays[l].grad_W_sample[:, j, k]
        l = pid[1]
        return arrays[l].grad_b_sample if len(pid) == 2 else arrays[l].grad_b_sample[:, pid[2]]

    def per_sample_gradient(self, values: Values, pid: tuple) -> np.ndarray:
        return self._per_sample(values.layers, pid)
