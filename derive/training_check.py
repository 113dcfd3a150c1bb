"""The independent check of a training run: the updates redone in plain Python floats.

:func:`plain_pass` is a backpropagation for one sample written from the textbook
formulas, in Python floats (no NumPy, no SymPy, no catalog). :func:`check_training`
compares the trainer's first update with the core's worked one, redoes every update
from the trainer's parameters before it (so that rounding differences cannot grow from
one update to the next), and recomputes every epoch's loss and the predictions before
and after training; a value further than :data:`ABS_TOL` + :data:`REL_TOL`·|value|
from its reference raises :class:`~derive.errors.CrossCheckError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import spec
from .descent_check import Agreement
from .errors import CrossCheckError
from .trainer import Layout, Run, arrays, batches, parameter_names_of

if TYPE_CHECKING:
    from .solution import Solution
    from .training import TrainingProblem

REL_TOL, ABS_TOL = 1e-9, 1e-12  # trainer against the plain-Python re-run


# --- one sample, in plain Python floats ---------------------------------------------------

def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def _activate(layer: spec.Layer, z: list[float]) -> list[float]:
    match layer.activation:
        case "sigmoid":
            return [_sigmoid(v) for v in z]
        case "tanh":
            return [math.tanh(v) for v in z]
        case "relu":
            return [max(v, 0.0) for v in z]
        case "leaky_relu":
            return [v if v > 0 else layer.leaky_slope * v for v in z]
        case "linear":
            return list(z)
    top = max(z)  # softmax
    e = [math.exp(v - top) for v in z]
    return [v / sum(e) for v in e]


def _slope(layer: spec.Layer, z: float, at_zero: float) -> float:
    match layer.activation:
        case "sigmoid":
            return _sigmoid(z) * _sigmoid(-z)
        case "tanh":
            e = math.exp(-2.0 * abs(z))
            return 4.0 * e / (1.0 + e) ** 2
        case "relu":
            return 1.0 if z > 0 else (at_zero if z == 0 else 0.0)
        case "leaky_relu":
            return 1.0 if z > 0 else layer.leaky_slope
    return 1.0


def _complement(layer: spec.Layer, z: list[float], a: list[float]) -> list[float]:
    """1 − a_k, from z where a rounds to 1."""
    if layer.activation == "sigmoid":
        return [_sigmoid(-v) for v in z]
    if layer.activation == "softmax":
        top = max(z)
        e = [math.exp(v - top) for v in z]
        return [(sum(e) - v) / sum(e) for v in e]
    return [1.0 - v for v in a]


def _times_log(t: float, v: float) -> float:
    return 0.0 if t == 0 else t * math.log(v)


def _over(t: float, v: float) -> float:
    return 0.0 if t == 0 else t / v


def _loss(problem: spec.Problem, y: float, a: float, c: float, k: int) -> tuple[float, float]:
    """One output's loss term and its derivative by the output."""
    ln = 1.0 if problem.log_base == "e" else math.log(problem.log_base)
    match problem.loss:
        case "mse":
            return (y - a) ** 2 / k, 2.0 * (a - y) / k
        case "sse":
            return (y - a) ** 2, 2.0 * (a - y)
        case "half_sse":
            return 0.5 * (y - a) ** 2, a - y
        case "bce":
            return (-(_times_log(y, a) + _times_log(1.0 - y, c)) / ln,
                    (_over(1.0 - y, c) - _over(y, a)) / ln)
    return -_times_log(y, a) / ln, -_over(y, a) / ln  # cce


def plain_pass(problem: spec.Problem, layout: Layout, theta: list[float], x, y, *,
               backward: bool = True) -> tuple[float, list[float], list[float]]:
    """One sample through the network with Python floats: its loss, its gradient (in the
    layout's order, empty if not ``backward``) and the network's outputs."""
    weights, biases = [], []
    for l, layer in enumerate(problem.layers):
        n, m = layout.shapes[l]
        start = layout.weights[l].start
        weights.append([theta[start + j * m:start + (j + 1) * m] for j in range(n)])
        part = layout.biases[l]
        biases.append(None if part is None else (theta[part] * n if layer.shared_bias
                                                 else theta[part]))
    zs, outputs, a = [], [], list(x)
    for l, layer in enumerate(problem.layers):
        z = [sum(w * v for w, v in zip(row, a)) + (biases[l][j] if biases[l] else 0.0)
             for j, row in enumerate(weights[l])]
        a = _activate(layer, z)
        zs.append(z)
        outputs.append(a)
    c = _complement(problem.layers[-1], zs[-1], outputs[-1])
    terms = [_loss(problem, t, v, w, len(a)) for t, v, w in zip(y, outputs[-1], c)]
    loss = sum(term for term, _ in terms)
    if not backward:
        return loss, [], outputs[-1]
    gradient = [0.0] * len(theta)
    g = [slope for _, slope in terms]  # ∂L/∂a of the output layer
    for l in reversed(range(len(problem.layers))):
        layer, a = problem.layers[l], outputs[l]
        if layer.activation == "softmax":
            total = sum(gk * ak for gk, ak in zip(g, a))
            delta = [aj * (gj - total) for gj, aj in zip(g, a)]
        else:
            delta = [gj * _slope(layer, zj, problem.relu_grad_at_zero)
                     for gj, zj in zip(g, zs[l])]
        previous = list(x) if l == 0 else outputs[l - 1]
        start, m = layout.weights[l].start, len(previous)
        for j, d in enumerate(delta):
            for k, v in enumerate(previous):
                gradient[start + j * m + k] = d * v
        part = layout.biases[l]
        if part is not None:
            gradient[part] = [sum(delta)] if layer.shared_bias else delta
        g = [sum(delta[j] * weights[l][j][k] for j in range(len(delta))) for k in range(m)]
    return loss, gradient, outputs[-1]


# --- the check -----------------------------------------------------------------------------

@dataclass(frozen=True)
class TrainingCheck:
    """What the independent computations confirmed (each raises on disagreement)."""

    first_update: Agreement   # the trainer's first update against the core's
    updates: Agreement        # every update, redone in plain Python
    losses: Agreement         # every epoch's loss, recomputed in plain Python
    outputs: Agreement        # predictions before and after, recomputed
    gradient: Agreement | None  # the core's gradient against SymPy's derivative
    table: Agreement | None     # the finite-difference table, recomputed


def agree(method: str, names: list[str], derived: np.ndarray, reference: np.ndarray,
          scale: np.ndarray) -> Agreement:
    """Each derived value within ABS_TOL + REL_TOL·scale of its reference.

    Raises:
        CrossCheckError: naming the first value outside.
    """
    gap = np.abs(derived - reference)
    ok = gap <= ABS_TOL + REL_TOL * scale
    if not ok.all():
        i = int(np.argmin(ok))
        raise CrossCheckError(quantity=names[i], derived=float(derived.flat[i]),
                              reference=float(reference.flat[i]), method=method,
                              tolerance=f"{ABS_TOL:g} + {REL_TOL:g}·|value|")
    return Agreement(method, int(gap.size), float(gap.max()) if gap.size else 0.0)


def check_training(problem: TrainingProblem, run: Run, first: Solution) -> tuple:
    """The trainer against the core's first update and against a plain-Python re-run.

    Each update is redone from the trainer's own parameters before it, so that rounding
    differences cannot grow from one update to the next.
    """
    network = problem.network
    layout = Layout(network)
    names = [name.plain for name in parameter_names_of(network).values()]
    params = run.parameters

    # The first update against the core's worked solution.
    core = np.array([first.updated.get(name, layout.initial[i]) for i, name in
                     enumerate(names)])
    first_update = agree("derive's worked update", names, params[1], core,
                          np.abs(core))

    # Every update again, in plain Python.
    x, y, shown = arrays(problem)
    rows, eta = batches(problem), network.learning_rate
    rate = [0.0 if is_bias and not network.update_biases else eta for is_bias in layout.is_bias]
    expected = np.empty_like(params[1:])
    for t in range(len(params) - 1):
        theta = params[t].tolist()
        block = rows[t % len(rows)]
        total = [0.0] * len(theta)
        for s in block:
            _, gradient, _ = plain_pass(network, layout, theta, x[s], y[s])
            total = [u + v for u, v in zip(total, gradient)]
        scale = 1.0 / len(block) if network.reduction == "mean" else 1.0
        expected[t] = [v - r * g * scale for v, r, g in zip(theta, rate, total)]
    step_names = [f"{name} after update {t + 1}" for t in range(len(expected)) for name in names]
    updates = agree("plain-Python backpropagation", step_names, params[1:].ravel(),
                     expected.ravel(), np.maximum(np.abs(params[:-1]), np.abs(params[1:])).ravel())

    # Every epoch's loss, and the predictions before and after training.
    per_epoch = problem.updates_per_epoch
    losses = []
    for epoch in range(problem.epochs + 1):
        theta = params[epoch * per_epoch].tolist()
        values = [plain_pass(network, layout, theta, x[s], y[s], backward=False)[0]
                  for s in range(len(x))]
        losses.append(sum(values) / len(values) if network.reduction == "mean" else sum(values))
    loss_check = agree("plain-Python forward pass", [f"loss after epoch {e}" for e in
                        range(problem.epochs + 1)], run.losses, np.array(losses),
                        np.abs(run.losses))
    outputs = []
    for theta in (params[0].tolist(), params[-1].tolist()):
        outputs += [plain_pass(network, layout, theta, row, [0.0] * network.widths[-1],
                               backward=False)[2] for row in shown]
    derived = np.concatenate([run.outputs_before, run.outputs_after])
    output_check = agree("plain-Python forward pass",
                          [f"output {i}" for i in range(derived.size)], derived.ravel(),
                          np.array(outputs).ravel(), np.abs(derived).ravel())
    return first_update, updates, loss_check, output_check
