"""Independent numerical checks: NumPy backprop and central finite differences.

`derive` computes every quantity of a worked solution symbolically. This module
computes them again, a second and independent way (float64 NumPy in matrix form,
no SymPy), and compares:

    reference_values             forward pass, loss, backward pass, update
    finite_difference_gradients  central differences of the total loss
    cross_check                  derive's values against both

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
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .errors import CrossCheckError
from .spec import Layer, Problem

KINDS = frozenset({"z", "a", "loss_term", "loss_sample", "loss", "dL/da", "da/dz",
                   "delta", "grad_sample", "grad", "updated"})
NUMPY = "NumPy backprop"
FINITE_DIFFERENCES = "central finite differences"
REL_TOL, ABS_TOL = 1e-9, 1e-12   # derive against NumPy: both exact up to rounding
FD_TOL = 1e-6                    # against finite differences, times max(1, |derived|)
KINKED = ("relu", "leaky_relu")


@dataclass(frozen=True)
class FiniteDifferences:
    """Central-difference gradients of the total loss.

    Attributes:
        values: ``("grad", ...)`` key -> (L(θ+ε) − L(θ−ε)) / (2ε), every parameter.
        eps: the step ε.
        kinked: the keys whose value is meaningless: perturbing that parameter by
            ±ε moves a relu or leaky_relu pre-activation across 0, where the loss
            has a kink. Empty when there is none.
        rounding: key -> a bound on the rounding error of its value (see
            :func:`rounding_bounds`).
    """

    values: dict[tuple, float]
    eps: float
    kinked: frozenset[tuple]
    rounding: dict[tuple, float]

    @property
    def kink(self) -> bool:
        """Whether any value is unreliable because of a kink."""
        return bool(self.kinked)


@dataclass(frozen=True)
class Agreement:
    """How closely derive's values matched one independent computation.

    The relative difference is |d − r| / max(|d|, |r|) (0 when both are 0).
    Ties go to the first key in derive's order.

    Attributes:
        method: ``"NumPy backprop"`` or ``"central finite differences"``.
        compared: how many values were compared.
        max_abs: the largest absolute difference (0.0 if nothing was compared).
        max_abs_quantity: the name of the quantity where it occurs, or None.
        max_rel: the largest relative difference (0.0 if nothing was compared).
        max_rel_quantity: the name of the quantity where it occurs, or None.
    """

    method: str
    compared: int
    max_abs: float
    max_abs_quantity: str | None
    max_rel: float
    max_rel_quantity: str | None


@dataclass(frozen=True)
class CheckReport:
    """The outcome of a successful :func:`cross_check`.

    Attributes:
        numpy: agreement with the NumPy backprop (every known key of derive).
        finite_differences: agreement of the gradients with finite differences.
        eps: the finite-difference step.
        fd_skipped: why some gradients were not compared with finite
            differences, or None if all were.
    """

    numpy: Agreement
    finite_differences: Agreement
    eps: float
    fd_skipped: str | None


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


def _forward(problem: Problem, weights: list[np.ndarray], biases: list[np.ndarray],
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


def _loss_terms(problem: Problem, z: np.ndarray, a: np.ndarray, y: np.ndarray) -> np.ndarray:
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


def _reduce(problem: Problem, per_sample: np.ndarray) -> np.ndarray:
    """Mean or sum over the samples (axis 0)."""
    return per_sample.mean(axis=0) if problem.reduction == "mean" else per_sample.sum(axis=0)


# --- NumPy backprop ---------------------------------------------------------------

def _store(out: dict[tuple, float], key: tuple, array: np.ndarray) -> None:
    """out[key + index] = entry, for every entry of `array`, as plain floats."""
    array = np.asarray(array)
    indices = itertools.product(*(range(n) for n in array.shape))
    out.update(zip((key + index for index in indices), array.ravel().tolist(), strict=True))


@dataclass(frozen=True)
class _Pass:
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


def _backprop(problem: Problem) -> _Pass:
    """Forward pass, loss and backward pass of every sample, by NumPy in float64."""
    x, y, weights, biases = _arrays(problem)
    layers, last = problem.layers, len(problem.layers) - 1

    # Forward pass and loss, all samples at once.
    zs, activations = _forward(problem, weights, biases, x @ weights[0].T + biases[0])
    terms = _loss_terms(problem, zs[-1], activations[-1], y)
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
    return _Pass(x, y, weights, biases, zs, activations, terms, per_sample, dl_da, da_dz,
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
    run = _backprop(problem)
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
    out[("loss",)] = float(_reduce(problem, per_sample))
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
        _store(out, ("grad", "W", l), _reduce(problem, grad_w[l]))
        _store(out, ("updated", "W", l), weights[l] - rate * _reduce(problem, grad_w[l]))
        if layer.bias is None:
            continue
        for s in samples:
            _store(out, ("grad_sample", s, "b", l), grad_b[l][s])
        _store(out, ("grad", "b", l), _reduce(problem, grad_b[l]))
        if problem.update_biases:
            bias = biases[l][0] if layer.shared_bias else biases[l]
            _store(out, ("updated", "b", l), bias - rate * _reduce(problem, grad_b[l]))
    return out


# --- finite differences -----------------------------------------------------------

def _directions(layer: Layer, l: int, inputs: np.ndarray) -> tuple[list[tuple], np.ndarray]:
    """How the pre-activations of layer l move per unit change of each of its parameters.

    Returns:
        The ``("grad", ...)`` keys of the layer's parameters, and an array
        [s, parameter, j]: dz_j/dθ for sample s (a_prev[k] on z_j for W[j, k],
        1 on z_j for b[j], 1 on every z for a shared bias).
    """
    samples, n_in = inputs.shape
    n = layer.width
    eye = np.eye(n)
    keys = [("grad", "W", l, j, k) for j in range(n) for k in range(n_in)]
    blocks = [np.einsum("sk,jm->sjkm", inputs, eye).reshape(samples, n * n_in, n)]
    if layer.shared_bias:
        keys.append(("grad", "b", l))
        blocks.append(np.ones((samples, 1, n)))
    elif layer.bias is not None:
        keys += [("grad", "b", l, j) for j in range(n)]
        blocks.append(np.broadcast_to(eye, (samples, n, n)))
    return keys, np.concatenate(blocks, axis=1)


def finite_difference_gradients(problem: Problem, *, eps: float = 1e-6) -> FiniteDifferences:
    """Central differences (L(θ+ε) − L(θ−ε)) / (2ε) of the total loss, every parameter.

    Perturbing a parameter of layer l changes only that layer's pre-activations,
    and exactly by ±ε·dz/dθ; so, per layer, all perturbed copies of z (one per
    parameter and sample) are pushed through the later layers as one batch of
    matrix products.

    Args:
        problem: a validated problem.
        eps: the step ε.

    Returns:
        The gradients, the keys made unreliable by a relu kink, and each gradient's bound
        on rounding (:func:`rounding_bounds`).
    """
    run = _backprop(problem)
    y, weights, biases, zs = run.y, run.weights, run.biases, run.zs
    inputs = [run.x, *run.activations[:-1]]
    bounds = rounding_bounds(problem, eps, run)
    values: dict[tuple, float] = {}
    kinked: set[tuple] = set()
    rounding: dict[tuple, float] = {}
    for l, layer in enumerate(problem.layers):
        keys, direction = _directions(layer, l, inputs[l])
        losses, sides = [], []
        for step in (eps, -eps):
            z_batch, a_batch = _forward(problem, weights, biases,
                                        zs[l][:, None, :] + step * direction, start=l)
            per_sample = _loss_terms(problem, z_batch[-1], a_batch[-1],
                                     y[:, None, :]).sum(axis=-1)
            losses.append(_reduce(problem, per_sample))
            sides.append(z_batch)
        crossed = np.zeros(len(keys), dtype=bool)
        for m in range(l, len(problem.layers)):
            if problem.layers[m].activation in KINKED:
                sign = np.sign(zs[m][:, None, :])
                for z_side in sides:
                    crossed |= (np.sign(z_side[m - l]) != sign).any(axis=(0, 2))
        gradient = (losses[0] - losses[1]) / (2.0 * eps)
        values.update(zip(keys, gradient.tolist(), strict=True))
        kinked.update(key for key, bad in zip(keys, crossed, strict=True) if bad)
        rounding.update(dict.fromkeys(keys, bounds[l]))
    return FiniteDifferences(values=values, eps=eps, kinked=frozenset(kinked),
                             rounding=rounding)


def rounding_bounds(problem: Problem, eps: float, run: _Pass | None = None) -> list[float]:
    """Per layer, a bound on the rounding error of the central difference of any of its
    parameters, (L(θ+ε) − L(θ−ε)) / (2ε).

    To first order, rounding changes a computed loss by at most u·K (u = 2⁻⁵³): each
    number the step recomputes carries a relative error (n·u for a sum of n products,
    u for an activation or a loss term) and reaches the loss multiplied by its
    derivative. So K adds |∂L/∂z|·Σ|w·a| over the pre-activations of the later layers,
    |∂L/∂z|·|z| over the layer's own (the step moves them directly), |∂L/∂a|·|a| over
    the activations and |L| for the loss terms; the two losses differ by 2·u·K at most,
    and the quotient by u·K/ε. A factor 4 covers what the first order leaves out.

    Slide-sized problems get bounds far below the 1e-6 the differences are held to; a
    loss of 10⁸ gets about 0.04, so that a correct solution is not refused for the
    rounding of its check.
    """
    run = run or _backprop(problem)
    u = np.finfo(np.float64).eps / 2
    weight = 1.0 / len(run.x) if problem.reduction == "mean" else 1.0
    inputs = [run.x, *run.activations[:-1]]
    loss = weight * np.abs(run.terms).sum()
    activation, own, recomputed = [], [], []
    for l, (z, a, delta) in enumerate(zip(run.zs, run.activations, run.deltas, strict=True)):
        activation.append(weight * (np.abs(run.dl_da[l]) * np.abs(a)).sum())
        own.append(weight * (np.abs(delta) * np.abs(z)).sum())
        magnitude = np.abs(inputs[l]) @ np.abs(run.weights[l]).T + np.abs(run.biases[l])
        terms = inputs[l].shape[1] + 1
        recomputed.append(weight * terms * (np.abs(delta) * magnitude).sum())
    return [float(4.0 * u * (loss + own[l] + sum(activation[l:]) + sum(recomputed[l + 1:])) / eps)
            for l in range(len(run.zs))]


# --- cross-check ------------------------------------------------------------------

def _compare(method: str, keys: list[tuple], derived: np.ndarray, reference: np.ndarray,
             ok: np.ndarray, tolerance: Callable[[int], str],
             names: Mapping[tuple, str]) -> Agreement:
    """Raise at the first key that is not ok (saying the ``tolerance`` of its index);
    otherwise the largest differences."""
    def name(i: int) -> str:
        return names.get(keys[i], str(keys[i]))

    if not ok.all():
        i = int(np.argmin(ok))
        raise CrossCheckError(quantity=name(i), derived=float(derived[i]),
                              reference=float(reference[i]), method=method,
                              tolerance=tolerance(i))
    if not keys:
        return Agreement(method, 0, 0.0, None, 0.0, None)
    absolute = np.abs(derived - reference)
    scale = np.maximum(np.abs(derived), np.abs(reference))
    relative = np.divide(absolute, scale, out=np.zeros_like(absolute), where=scale > 0)
    i, k = int(np.argmax(absolute)), int(np.argmax(relative))  # argmax: first of ties
    return Agreement(method, len(keys), float(absolute[i]), name(i),
                     float(relative[k]), name(k))


def cross_check(problem: Problem, derived: Mapping[tuple, float], *,
                names: Mapping[tuple, str], eps: float = 1e-6) -> CheckReport:
    """Compare derive's values with NumPy backprop, and its gradients with finite differences.

    Values agree with NumPy if |d − r| <= 1e-9·max(|d|, |r|) or |d − r| <= 1e-12;
    gradients agree with finite differences if |d − fd| <= 1e-6·max(1, |d|) plus the
    differences' own rounding error (:func:`rounding_bounds`).
    Gradients whose finite difference crosses a relu kink are not compared (the
    report says so). Keys whose first element is not a known kind are ignored.

    Args:
        problem: the validated problem.
        derived: derive's values, keyed as described in the module docstring.
        names: the display name of each key (the key itself when missing).
        eps: the finite-difference step.

    Returns:
        The number of values compared and the largest differences, per method.

    Raises:
        CrossCheckError: at the first disagreement in `derived`'s order (NumPy
            first, then finite differences), or for a known kind of key that
            the NumPy backprop does not have (reference nan).
    """
    known = [key for key in derived if isinstance(key, tuple) and key and key[0] in KINDS]
    values = np.array([float(derived[key]) for key in known], dtype=np.float64)

    # Every value against the NumPy backprop (nan where it has no such key).
    reference = reference_values(problem)
    expected = np.array([reference.get(key, math.nan) for key in known], dtype=np.float64)
    difference = np.abs(values - expected)
    ok = ((difference <= REL_TOL * np.maximum(np.abs(values), np.abs(expected)))
          | (difference <= ABS_TOL))
    numpy = _compare(NUMPY, known, values, expected, ok,
                     lambda i: f"{REL_TOL:g} relative or {ABS_TOL:g} absolute", names)

    # Gradients against finite differences, except where a step crosses a kink.
    fd = finite_difference_gradients(problem, eps=eps)
    gradients = [i for i, key in enumerate(known) if key[0] == "grad"]
    compared = [i for i in gradients if known[i] not in fd.kinked]
    values = values[compared]
    expected = np.array([fd.values[known[i]] for i in compared], dtype=np.float64)
    rounding = np.array([fd.rounding[known[i]] for i in compared], dtype=np.float64)
    ok = np.abs(values - expected) <= FD_TOL * np.maximum(1.0, np.abs(values)) + rounding
    finite = _compare(FINITE_DIFFERENCES, [known[i] for i in compared], values, expected, ok,
                      lambda i: f"{FD_TOL:g}·max(1, |derived|) + {rounding[i]:.2g} for "
                                f"rounding, with eps {eps:g}", names)

    skipped = len(gradients) - len(compared)
    reason = None
    if skipped:
        reason = (f"{skipped} of {len(gradients)} gradients not compared with finite "
                  f"differences: a ±{eps:g} step moves a relu/leaky_relu pre-activation "
                  f"across its kink at 0")
    return CheckReport(numpy=numpy, finite_differences=finite, eps=eps, fd_skipped=reason)
