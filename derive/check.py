"""The cross-check: derive's values against NumPy backprop and finite differences.

    reference_values             every value, by NumPy backprop (:mod:`derive.backprop`)
    finite_difference_gradients  central differences of the total loss, every parameter
    cross_check                  derive's values against both

Values are keyed as in :mod:`derive.backprop`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from .backprop import Pass, backprop, forward, loss_terms, reduce_samples, reference_values
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
    run = backprop(problem)
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
            z_batch, a_batch = forward(problem, weights, biases,
                                        zs[l][:, None, :] + step * direction, start=l)
            per_sample = loss_terms(problem, z_batch[-1], a_batch[-1],
                                     y[:, None, :]).sum(axis=-1)
            losses.append(reduce_samples(problem, per_sample))
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


def rounding_bounds(problem: Problem, eps: float, run: Pass | None = None) -> list[float]:
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
    run = run or backprop(problem)
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
