"""The independent numerical computation: NumPy backprop in float64 matrix form.

`derive` computes every quantity of a worked solution symbolically; this module
computes them again another way (NumPy, one matrix product per layer over all samples,
no SymPy), for :mod:`derive.check` to compare.

Values are keyed by tuples (s sample, l layer, j/k neuron, all 0-based):
``("z", s, l, j)``, ``("a", s, l, j)``, ``("loss_term", s, k)``,
``("loss_sample", s)``, ``("loss",)``, ``("dL/da", s, l, j)``,
``("da/dz", s, l, k, j)`` (only ``k == j`` for elementwise activations),
``("delta", s, l, j)``, ``("grad_sample", s, "W", l, j, k)``,
``("grad_sample", s, "b", l, j)`` (``("grad_sample", s, "b", l)`` for a shared
bias), ``("grad", "W", l, j, k)``, ``("grad", "b", l[, j])`` and
``("updated", "W", l, j, k)``, ``("updated", "b", l[, j])``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from .spec import Layer, Problem

# --- the network as arrays ------------------------------------------------------

def _arrays(problem: Problem) -> tuple[np.ndarray, np.ndarray, list[np.ndarray],
                                       list[np.ndarray]]:
    """Inputs (S, n_0), targets (S, K), W[l] (n_l, n_{l-1}) and b[l] (n_l,)."""
    x = np.array([sample.x for sample in problem.data], dtype=np.float64)
    y = np.array([sample.targets for sample in problem.data], dtype=np.float64)
    weights = [np.array(layer.weights, dtype=np.float64) for layer in problem.layers]
    biases = [np.array(layer.bias_vector() or (0.0,) * layer.width, dtype=np.float64)
              for layer in problem.layers]
    return x, y, weights, biases


def _sigmoid(z: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(z))  # never overflows
    return np.where(z >= 0, 1.0, e) / (1.0 + e)


def _activate(layer: Layer, z: np.ndarray) -> np.ndarray:
    """The activation of `layer` on z (neurons on the last axis)."""
    match layer.activation:
        case "sigmoid":
            return _sigmoid(z)
        case "tanh":
            return np.tanh(z)
        case "relu":
            return np.maximum(z, 0.0)
        case "leaky_relu":
            return np.where(z > 0, z, layer.leaky_slope * z)
        case "linear":
            return z
        case "softmax":
            e = np.exp(z - z.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True)
    raise ValueError(f"unknown activation {layer.activation!r}")


def _complement(layer: Layer, z: np.ndarray) -> np.ndarray:
    """1 − a of a sigmoid or softmax layer, accurate even where a rounds to 1.

    1 − σ(z) = σ(−z); 1 − softmax(z)_k = Σ_{j≠k} e^{z_j} / Σ_j e^{z_j}.
    """
    if layer.activation == "sigmoid":
        return _sigmoid(-z)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e @ (1.0 - np.eye(z.shape[-1])) / e.sum(axis=-1, keepdims=True)


def _slope(layer: Layer, z: np.ndarray, at_zero: float) -> np.ndarray:
    """da_j/dz_j of an elementwise activation; `at_zero` is relu's slope at z = 0.

    Computed from z, so that it keeps its relative accuracy where a saturates.
    """
    match layer.activation:
        case "sigmoid":
            return _sigmoid(z) * _sigmoid(-z)
        case "tanh":
            e = np.exp(-2.0 * np.abs(z))
            return 4.0 * e / (1.0 + e) ** 2  # 1 − tanh² = sech²
        case "relu":
            return np.where(z > 0, 1.0, np.where(z < 0, 0.0, at_zero))
        case "leaky_relu":
            return np.where(z > 0, 1.0, layer.leaky_slope)
        case "linear":
            return np.ones_like(z)
    raise ValueError(f"no elementwise slope for {layer.activation!r}")


def _softmax_jacobian(a: np.ndarray, complement: np.ndarray) -> np.ndarray:
    """da_k/dz_j = a_k(δ_kj − a_j) as [..., k, j], the diagonal as a_k(1 − a_k)."""
    jacobian = -a[..., :, None] * a[..., None, :]
    diagonal = np.arange(a.shape[-1])
    jacobian[..., diagonal, diagonal] = a * complement
    return jacobian


def forward(problem: Problem, weights: list[np.ndarray], biases: list[np.ndarray],
             z: np.ndarray, *, start: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Pre-activations and activations of layers start, start+1, ... from z of `start`.

    Any leading axes of z (samples, perturbed copies) are carried along.
    """
    zs, activations = [z], [_activate(problem.layers[start], z)]
    for l in range(start + 1, len(problem.layers)):
        zs.append(activations[-1] @ weights[l].T + biases[l])
        activations.append(_activate(problem.layers[l], zs[-1]))
    return zs, activations


# --- loss -------------------------------------------------------------------------

def _ln_base(problem: Problem) -> float:
    return 1.0 if problem.log_base == "e" else math.log(problem.log_base)


def _y_log(y: np.ndarray, a: np.ndarray) -> np.ndarray:
    """y·ln a, taken as 0 where y == 0 (even where a == 0)."""
    return y * np.log(np.where(y == 0, 1.0, a))


def _y_over(y: np.ndarray, a: np.ndarray) -> np.ndarray:
    """y / a, taken as 0 where y == 0 (even where a == 0)."""
    return y / np.where(y == 0, 1.0, a)


def loss_terms(problem: Problem, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The summands of the per-sample loss, one per output (outputs on the last axis).

    z and a are the output layer's; z gives 1 − a accurately for bce.
    """
    match problem.loss:
        case "mse":
            return (y - a) ** 2 / a.shape[-1]
        case "sse":
            return (y - a) ** 2
        case "half_sse":
            return 0.5 * (y - a) ** 2
        case "bce":
            complement = _complement(problem.layers[-1], z)
            return -(_y_log(y, a) + _y_log(1.0 - y, complement)) / _ln_base(problem)
        case "cce":
            return -_y_log(y, a) / _ln_base(problem)
    raise ValueError(f"unknown loss {problem.loss!r}")


def _loss_slope(problem: Problem, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂L_s/∂a_k: the derivative of the per-sample loss by each output."""
    match problem.loss:
        case "mse":
            return 2.0 * (a - y) / a.shape[-1]
        case "sse":
            return 2.0 * (a - y)
        case "half_sse":
            return a - y
        case "bce":
            complement = _complement(problem.layers[-1], z)
            return (_y_over(1.0 - y, complement) - _y_over(y, a)) / _ln_base(problem)
        case "cce":
            return -_y_over(y, a) / _ln_base(problem)
    raise ValueError(f"unknown loss {problem.loss!r}")


def reduce_samples(problem: Problem, per_sample: np.ndarray) -> np.ndarray:
    """Mean or sum over the samples (axis 0)."""
    return per_sample.mean(axis=0) if problem.reduction == "mean" else per_sample.sum(axis=0)


# --- NumPy backprop ---------------------------------------------------------------

def _store(out: dict[tuple, float], key: tuple, array: np.ndarray) -> None:
    """out[key + index] = entry, for every entry of `array`, as plain floats."""
    array = np.asarray(array)
    indices = itertools.product(*(range(n) for n in array.shape))
    out.update(zip((key + index for index in indices), array.ravel().tolist(), strict=True))


@dataclass(frozen=True)
class Pass:
    """One forward and backward pass over all samples (each list: one array per layer)."""

    x: np.ndarray
    y: np.ndarray
    weights: list[np.ndarray]
    biases: list[np.ndarray]
    zs: list[np.ndarray]
    activations: list[np.ndarray]
    terms: np.ndarray        # loss terms [s, k]
    per_sample: np.ndarray   # L_s
    dl_da: list[np.ndarray]  # ∂L_s/∂a [s, j]
    da_dz: list[np.ndarray]  # [s, j], or the softmax Jacobian [s, k, j]
    deltas: list[np.ndarray]  # ∂L_s/∂z [s, j]


def backprop(problem: Problem) -> Pass:
    """Forward pass, loss and backward pass of every sample, by NumPy in float64."""
    x, y, weights, biases = _arrays(problem)
    layers, last = problem.layers, len(problem.layers) - 1

    # Forward pass and loss, all samples at once.
    zs, activations = forward(problem, weights, biases, x @ weights[0].T + biases[0])
    terms = loss_terms(problem, zs[-1], activations[-1], y)
    per_sample = terms.sum(axis=1)

    # Backward pass: dL/da, then delta = dL/dz through the activation's Jacobian.
    dl_da, da_dz, deltas = [None] * len(layers), [None] * len(layers), [None] * len(layers)
    for l in range(last, -1, -1):
        z, a = zs[l], activations[l]
        if l == last:
            dl_da[l] = _loss_slope(problem, z, a, y)
        else:
            dl_da[l] = deltas[l + 1] @ weights[l + 1]
        if layers[l].activation == "softmax":
            da_dz[l] = _softmax_jacobian(a, _complement(layers[l], z))  # [s, k, j]
            deltas[l] = np.einsum("sk,skj->sj", dl_da[l], da_dz[l])
        else:
            da_dz[l] = _slope(layers[l], z, problem.relu_grad_at_zero)  # [s, j]
            deltas[l] = dl_da[l] * da_dz[l]
    return Pass(x, y, weights, biases, zs, activations, terms, per_sample, dl_da, da_dz,
                 deltas)


def reference_values(problem: Problem) -> dict[tuple, float]:
    """Every quantity of one gradient-descent step, by NumPy backprop in float64.

    Each layer is one matrix product over all samples (Z = A_prev Wᵀ + b), so the
    cost is linear in the number of parameters.

    Args:
        problem: a validated problem.

    Returns:
        Plain floats keyed as described in the module docstring. Biases have an
        ``"updated"`` key only if ``problem.update_biases``.
    """
    run = backprop(problem)
    x, weights, biases, layers = run.x, run.weights, run.biases, problem.layers
    zs, activations, terms, per_sample = run.zs, run.activations, run.terms, run.per_sample
    dl_da, da_dz, deltas = run.dl_da, run.da_dz, run.deltas

    # Gradients per sample: delta times the layer's input (summed over a shared bias).
    inputs = [x, *activations[:-1]]
    grad_w = [d[:, :, None] * a[:, None, :]  # [s, j, k]
              for d, a in zip(deltas, inputs, strict=True)]
    grad_b = [d.sum(axis=1) if layer.shared_bias else d  # [s] or [s, j]
              for d, layer in zip(deltas, layers, strict=True)]

    # Everything as plain floats, forward pass first.
    out: dict[tuple, float] = {}
    samples = range(len(x))
    for s in samples:
        for l in range(len(layers)):
            _store(out, ("z", s, l), zs[l][s])
            _store(out, ("a", s, l), activations[l][s])
    for s in samples:
        _store(out, ("loss_term", s), terms[s])
        out[("loss_sample", s)] = float(per_sample[s])
    out[("loss",)] = float(reduce_samples(problem, per_sample))
    for s in samples:
        for l in range(len(layers)):
            _store(out, ("dL/da", s, l), dl_da[l][s])
            if layers[l].activation == "softmax":
                _store(out, ("da/dz", s, l), da_dz[l][s])
            else:
                for j, value in enumerate(da_dz[l][s].tolist()):
                    out[("da/dz", s, l, j, j)] = value
            _store(out, ("delta", s, l), deltas[l][s])
    rate = problem.learning_rate
    for l, layer in enumerate(layers):
        for s in samples:
            _store(out, ("grad_sample", s, "W", l), grad_w[l][s])
        _store(out, ("grad", "W", l), reduce_samples(problem, grad_w[l]))
        _store(out, ("updated", "W", l), weights[l] - rate * reduce_samples(problem, grad_w[l]))
        if layer.bias is None:
            continue
        for s in samples:
            _store(out, ("grad_sample", s, "b", l), grad_b[l][s])
        _store(out, ("grad", "b", l), reduce_samples(problem, grad_b[l]))
        if problem.update_biases:
            bias = biases[l][0] if layer.shared_bias else biases[l]
            _store(out, ("updated", "b", l), bias - rate * reduce_samples(problem, grad_b[l]))
    return out
