"""Training a network for several epochs: the first update in full, then the loss per epoch.

A ``kind: training`` problem is a ``network`` problem (the same fields, validated by
:func:`derive.spec.parse_problem`, so its errors read the same) plus ``epochs``,
``mode`` and what to report. ``mode: batch`` makes one update per epoch with the
gradient of the whole data set's loss; ``mode: sgd`` one update per sample, in the
order of the data, each with that sample's loss. The pipeline reads top to bottom:

1. parse: the network's fields by the core, the training fields here;
2. first update: :func:`derive.solution.solve` on its problem (the whole data set, or
   the first sample): forward pass, loss, backward pass and update written out in
   full and cross-checked by the core;
3. train: every update with NumPy in matrix form, from the catalog's SymPy forms
   compiled once (:class:`Trainer`);
4. check: the first update against the core's; every update redone from the
   trainer's parameters by a backpropagation in plain Python floats written from the
   textbook formulas (:func:`plain_pass`); every loss and prediction recomputed;
5. finite differences (optional): the first update's loss as a SymPy expression in
   one parameter, evaluated with 60 digits, against the backpropagated gradient;
6. views → templates (``training.md.j2`` with an SVG plot, ``training.tex.j2``) and JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import sympy as sp
from pydantic import Field, ValidationError
from sympy.printing.numpy import NumPyPrinter

from . import __version__, catalog, curves, descent, render, spec
from .errors import CrossCheckError, DeriveError, ProblemError
from .forms import Shown
from .latex import format_given, format_number
from .network import Network
from .notation import parameter_names
from .solution import Solution
from .solution import solve as solve_network

MAX_EPOCHS = 100_000
MAX_UPDATES = 200_000   # epochs × updates per epoch
REL_TOL, ABS_TOL = 1e-9, 1e-12  # trainer against the plain-Python re-run


# --- the problem file ---------------------------------------------------------------

class Prediction(descent.StrictModel):
    """An input to predict after training, e.g. ``{name: Emily, x: [-7, -3]}``."""

    name: str
    x: spec.Vector = Field(min_length=1)


class TrainingDifferences(descent.DifferenceSettings):
    """``finite_differences:`` a parameter (``w1``) and the steps ε, at the initial values."""

    parameter: str


class TrainingFields(descent.StrictModel):
    """The fields a ``kind: training`` problem adds to a network problem."""

    kind: Literal["training"]
    epochs: Annotated[int, Field(ge=1, le=MAX_EPOCHS)]
    mode: Literal["batch", "sgd"] = "batch"
    report_every: Annotated[int, Field(ge=1)] | None = None
    sample_names: tuple[str, ...] | None = None
    predict: tuple[Prediction, ...] = ()
    finite_differences: TrainingDifferences | None = None


@dataclass(frozen=True)
class TrainingProblem:
    """A validated training problem.

    Attributes:
        network: the network and the whole data set.
        first: the problem of the first update, solved in full: ``network`` itself
            (batch) or ``network`` with the first sample only (sgd).
        difference_parameter: the id of the parameter of the finite-difference table.
    """

    kind: str
    title: str
    network: spec.Problem
    first: spec.Problem
    epochs: int
    mode: str
    report_every: int
    sample_names: tuple[str, ...]
    predict: tuple[Prediction, ...]
    difference_parameter: tuple | None
    epsilons: tuple[sp.Rational, ...]
    source: str

    @property
    def updates_per_epoch(self) -> int:
        return len(self.network.data) if self.mode == "sgd" else 1


def _names(problem: spec.Problem) -> dict[tuple, Any]:
    return parameter_names(problem.parameter_names, problem.widths,
                           tuple(layer.shared_bias for layer in problem.layers),
                           tuple(layer.bias is not None for layer in problem.layers))


def parse_problem(mapping: Mapping[str, Any], *, source: str = "<problem>") -> TrainingProblem:
    """Validate a ``kind: training`` mapping: network fields by the core, the rest here.

    Raises:
        ProblemError: naming ``source``, the field and what was expected.
    """
    own = set(TrainingFields.model_fields)
    network_fields = set(spec.Problem.model_fields) - {"kind"}
    for key in mapping:
        if key not in own | network_fields:
            raise ProblemError(source, str(key), "unknown key; expected one of: "
                               + ", ".join(sorted(own | network_fields)))
    try:
        fields = TrainingFields.model_validate({k: v for k, v in mapping.items() if k in own})
    except ValidationError as exc:
        raise descent.validation_error(exc, source, {
            None: own | network_fields, "predict": Prediction.model_fields,
            "finite_differences": TrainingDifferences.model_fields}) from None
    network = spec.parse_problem({k: v for k, v in mapping.items() if k not in own},
                                 source=source)

    data = network.data
    names = fields.sample_names or tuple(str(s + 1) for s in range(len(data)))
    if len(names) != len(data):
        raise ProblemError(source, "sample_names", f"expected {len(data)} names, one per "
                                                   f"sample, got {len(names)}")
    for i, item in enumerate(fields.predict):
        if len(item.x) != len(data[0].x):
            raise ProblemError(source, f"predict[{i}].x", f"expected {len(data[0].x)} inputs "
                                                          f"like the samples, got {len(item.x)}")
    updates = fields.epochs * (len(data) if fields.mode == "sgd" else 1)
    if updates > MAX_UPDATES:
        raise ProblemError(source, "epochs", f"expected at most {MAX_UPDATES} updates in all, "
                                             f"got {updates}")
    pid, epsilons = None, ()
    if fields.finite_differences is not None:
        by_name = {name.plain: key for key, name in _names(network).items()}
        wanted = fields.finite_differences.parameter
        if wanted not in by_name:
            raise ProblemError(source, "finite_differences.parameter",
                               f"expected a parameter name such as "
                               f"{', '.join(list(by_name)[:4])}, got {wanted!r}")
        pid = by_name[wanted]
        epsilons = tuple(descent.exact(e) for e in fields.finite_differences.epsilons)
    first = network if fields.mode == "batch" else single(network, 0)
    return TrainingProblem(
        kind="training", title=network.title, network=network, first=first,
        epochs=fields.epochs, mode=fields.mode,
        report_every=fields.report_every or max(1, fields.epochs // 10),
        sample_names=names, predict=fields.predict, difference_parameter=pid,
        epsilons=epsilons, source=source)


def single(problem: spec.Problem, s: int) -> spec.Problem:
    """The same network with sample ``s`` alone."""
    return problem.model_copy(update={"samples": (problem.data[s],), "x": None, "y": None})


# --- the trainer: NumPy in matrix form ------------------------------------------------

class Layout:
    """Where each parameter sits in the flat vector θ: all weights, then all biases, in
    the order of :attr:`derive.network.Network.parameters`."""

    def __init__(self, problem: spec.Problem):
        self.pids = tuple(_names(problem))
        index = {pid: i for i, pid in enumerate(self.pids)}
        widths = problem.widths
        self.weights = [slice(index[("W", l, 0, 0)], index[("W", l, 0, 0)]
                              + widths[l + 1] * widths[l]) for l in range(len(problem.layers))]
        self.biases = []
        for l, layer in enumerate(problem.layers):
            ids = [pid for pid in self.pids if pid[0] == "b" and pid[1] == l]
            self.biases.append(slice(index[ids[0]], index[ids[-1]] + 1) if ids else None)
        self.shapes = [(widths[l + 1], widths[l]) for l in range(len(problem.layers))]
        values = [float(w) for layer in problem.layers for row in layer.weights for w in row]
        for layer in problem.layers:
            if layer.bias is not None:
                values += [layer.bias] if layer.shared_bias else list(layer.bias_vector())
        self.initial = np.array(values, dtype=float)
        self.is_bias = np.array([pid[0] == "b" for pid in self.pids])

    def unpack(self, theta: np.ndarray) -> tuple[list[np.ndarray], list[np.ndarray | None]]:
        weights = [theta[part].reshape(shape) for part, shape in zip(self.weights, self.shapes)]
        return weights, [None if part is None else theta[part] for part in self.biases]


# derive's own functions in NumPy: σ(z) = exp(−log(1 + e^{−z})) keeps its relative
# accuracy in both tails and never overflows.
NUMERIC = {"sigmoid": lambda z: np.exp(-np.logaddexp(0.0, -z)),
           "relu": lambda z, at_zero: np.maximum(z, 0.0),
           "leaky_relu": lambda z, slope: np.where(z > 0, z, slope * z)}


def compile_form(expr: sp.Expr, *args: sp.Symbol):
    """A catalog form as a plain NumPy function (the training loop sets NumPy's error
    state once, so no wrapper is needed around each call)."""
    printer = NumPyPrinter({"fully_qualified_modules": True, "inline": True,
                            "allow_unknown_functions": True, "user_functions": {}})
    return sp.lambdify(args, expr, modules=[NUMERIC, {"numpy": np}], printer=printer)


class Trainer:
    """Forward and backward passes of one network over a block of samples (rows).

    Every activation, its slope, the loss and its slope are the catalog's SymPy forms
    (the ones :meth:`derive.network.Network.evaluate` uses), compiled once.
    """

    def __init__(self, problem: spec.Problem):
        self.problem = problem
        self.layout = Layout(problem)
        Z, A = catalog.Z, catalog.A
        self.activations, self.slopes = [], []
        for layer in problem.layers:
            parameter = layer.leaky_slope if layer.activation == "leaky_relu" \
                else problem.relu_grad_at_zero
            if layer.activation == "softmax":
                self.activations.append(None)
                self.slopes.append(None)
                continue
            activation = catalog.ACTIVATIONS[layer.activation]
            self.activations.append(compile_form(activation.function(Z, parameter), Z))
            self.slopes.append(compile_form(activation.numeric_slope(parameter), Z, A))
        k = problem.widths[-1]
        base = None if problem.log_base == "e" else int(problem.log_base)
        self.loss_terms = compile_form(catalog.in_complement(
            catalog.loss_term(problem.loss, k, base)), *catalog.LOSS_ARGS)
        self.loss_slope = compile_form(catalog.in_complement(
            catalog.loss_derivative(problem.loss, k, base)), *catalog.LOSS_ARGS)
        self.complement = compile_form(catalog.sigmoid(-Z), Z)
        self.mean = problem.reduction == "mean"
        self.shared = [layer.shared_bias for layer in problem.layers]

    def forward(self, theta: np.ndarray, x: np.ndarray):
        weights, biases = self.layout.unpack(theta)
        zs, outputs, a = [], [], x
        for W, b, activate in zip(weights, biases, self.activations):
            z = a @ W.T if b is None else a @ W.T + b
            if activate is None:  # softmax
                e = np.exp(z - z.max(axis=1, keepdims=True))
                a = e / e.sum(axis=1, keepdims=True)
            else:
                a = activate(z)
            zs.append(z)
            outputs.append(a)
        return zs, outputs

    def _loss_inputs(self, zs, outputs, y):
        """``y``, ``a`` and ``c = 1 − a`` of the output layer (c from z where a ≈ 1)."""
        z, a = zs[-1], outputs[-1]
        match self.problem.layers[-1].activation:
            case "sigmoid":
                c = self.complement(z)
            case "softmax":
                e = np.exp(z - z.max(axis=1, keepdims=True))
                others = 1.0 - np.eye(z.shape[1])  # Σ_{j≠k} e_j, without cancellation
                c = (e @ others) / e.sum(axis=1, keepdims=True)
            case _:
                c = 1.0 - a
        return y, a, c

    def loss(self, theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
        """The loss of the samples (rows), reduced by the problem's mean or sum."""
        zs, outputs = self.forward(theta, x)
        per_sample = self.loss_terms(*self._loss_inputs(zs, outputs, y)).sum(axis=1)
        return float(per_sample.mean() if self.mean else per_sample.sum())

    def gradient(self, theta: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """∂L/∂θ of the samples' reduced loss, in the layout's order."""
        weights, biases = self.layout.unpack(theta)
        zs, outputs = self.forward(theta, x)
        dL_da = self.loss_slope(*self._loss_inputs(zs, outputs, y))
        scale = 1.0 / len(x) if self.mean else 1.0
        gradient = np.empty_like(theta)
        for l in reversed(range(len(weights))):
            a = outputs[l]
            if self.slopes[l] is None:  # softmax: δ_j = a_j (g_j − Σ_k g_k a_k)
                delta = a * (dL_da - (dL_da * a).sum(axis=1, keepdims=True))
            else:
                delta = dL_da * self.slopes[l](zs[l], a)
            previous = x if l == 0 else outputs[l - 1]
            gradient[self.layout.weights[l]] = (delta.T @ previous).ravel() * scale
            if biases[l] is not None:
                total = delta.sum(axis=0)
                gradient[self.layout.biases[l]] = (total.sum() if self.shared[l]
                                                   else total) * scale
            dL_da = delta @ weights[l]
        return gradient


@dataclass(frozen=True)
class Run:
    """What training computed.

    Attributes:
        parameters: θ before the first update and after each, (updates + 1, P).
        losses: the whole data set's loss before training and after each epoch.
        outputs: the network's outputs for the samples, then the ``predict`` inputs,
            before and after training, each (rows, outputs).
    """

    parameters: np.ndarray
    losses: np.ndarray
    outputs_before: np.ndarray
    outputs_after: np.ndarray


def batches(problem: TrainingProblem) -> list[np.ndarray]:
    """The samples of each update of an epoch."""
    count = len(problem.network.data)
    return [np.arange(count)] if problem.mode == "batch" else [np.array([s])
                                                               for s in range(count)]


def arrays(problem: TrainingProblem) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inputs and targets of the samples, and the samples' inputs then ``predict``'s."""
    data = problem.network.data
    x = np.array([sample.x for sample in data], dtype=float)
    y = np.array([sample.targets for sample in data], dtype=float)
    shown = np.array([sample.x for sample in data] + [item.x for item in problem.predict],
                     dtype=float)
    return x, y, shown


def train(problem: TrainingProblem) -> Run:
    """Every update of every epoch.

    Raises:
        DeriveError: the loss stopped being a finite number (training diverged).
    """
    trainer = Trainer(problem.network)
    x, y, shown = arrays(problem)
    blocks = [(x[rows], y[rows]) for rows in batches(problem)]
    eta = problem.network.learning_rate
    rate = np.where(trainer.layout.is_bias & (not problem.network.update_biases), 0.0, eta)
    theta = trainer.layout.initial
    history = np.empty((problem.epochs * len(blocks) + 1, theta.size))
    history[0] = theta
    losses = np.empty(problem.epochs + 1)
    losses[0] = trainer.loss(theta, x, y)
    step = 0
    with np.errstate(all="ignore"):
        for epoch in range(1, problem.epochs + 1):
            for inputs, targets in blocks:
                theta = theta - rate * trainer.gradient(theta, inputs, targets)
                step += 1
                history[step] = theta
            losses[epoch] = trainer.loss(theta, x, y)
            if not math.isfinite(losses[epoch]):
                raise DeriveError(f"{problem.source}: training diverged in epoch {epoch} "
                                  f"(the loss is {losses[epoch]}); try a smaller learning_rate")
        before, after = (trainer.forward(theta, shown)[1][-1] for theta in (history[0], theta))
    return Run(history, losses, before, after)


# --- the independent re-run: plain Python floats -----------------------------------------

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


@dataclass(frozen=True)
class TrainingCheck:
    """What the independent computations confirmed (each raises on disagreement)."""

    first_update: descent.Agreement   # the trainer's first update against the core's
    updates: descent.Agreement        # every update, redone in plain Python
    losses: descent.Agreement         # every epoch's loss, recomputed in plain Python
    outputs: descent.Agreement        # predictions before and after, recomputed
    gradient: descent.Agreement | None  # the core's gradient against SymPy's derivative
    table: descent.Agreement | None     # the finite-difference table, recomputed


def _agree(method: str, names: list[str], derived: np.ndarray, reference: np.ndarray,
           scale: np.ndarray) -> descent.Agreement:
    gap = np.abs(derived - reference)
    ok = gap <= ABS_TOL + REL_TOL * scale
    if not ok.all():
        i = int(np.argmin(ok))
        raise CrossCheckError(quantity=names[i], derived=float(derived.flat[i]),
                              reference=float(reference.flat[i]), method=method,
                              tolerance=f"{ABS_TOL:g} + {REL_TOL:g}·|value|")
    return descent.Agreement(method, int(gap.size), float(gap.max()) if gap.size else 0.0)


def check_training(problem: TrainingProblem, run: Run, first: Solution) -> tuple:
    """The trainer against the core's first update and against a plain-Python re-run.

    Each update is redone from the trainer's own parameters before it, so that rounding
    differences cannot grow from one update to the next.
    """
    network = problem.network
    layout = Layout(network)
    names = [name.plain for name in _names(network).values()]
    params = run.parameters

    # The first update against the core's worked solution.
    core = np.array([first.updated.get(name, layout.initial[i]) for i, name in
                     enumerate(names)])
    first_update = _agree("derive's worked update", names, params[1], core,
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
    updates = _agree("plain-Python backpropagation", step_names, params[1:].ravel(),
                     expected.ravel(), np.maximum(np.abs(params[:-1]), np.abs(params[1:])).ravel())

    # Every epoch's loss, and the predictions before and after training.
    per_epoch = problem.updates_per_epoch
    losses = []
    for epoch in range(problem.epochs + 1):
        theta = params[epoch * per_epoch].tolist()
        values = [plain_pass(network, layout, theta, x[s], y[s], backward=False)[0]
                  for s in range(len(x))]
        losses.append(sum(values) / len(values) if network.reduction == "mean" else sum(values))
    loss_check = _agree("plain-Python forward pass", [f"loss after epoch {e}" for e in
                        range(problem.epochs + 1)], run.losses, np.array(losses),
                        np.abs(run.losses))
    outputs = []
    for theta in (params[0].tolist(), params[-1].tolist()):
        outputs += [plain_pass(network, layout, theta, row, [0.0] * network.widths[-1],
                               backward=False)[2] for row in shown]
    derived = np.concatenate([run.outputs_before, run.outputs_after])
    output_check = _agree("plain-Python forward pass",
                          [f"output {i}" for i in range(derived.size)], derived.ravel(),
                          np.array(outputs).ravel(), np.abs(derived).ravel())
    return first_update, updates, loss_check, output_check


# --- finite differences of the first update's loss --------------------------------------

def loss_expression(problem: spec.Problem, pid: tuple, theta: sp.Symbol) -> sp.Expr:
    """The problem's loss as a SymPy expression in one parameter, every other number exact.

    Built from the catalog's definitions of the activations and the loss (never
    differentiated here); for the finite-difference table only.
    """
    def number(value: float) -> sp.Rational:
        return sp.Rational(repr(float(value)))  # the decimal the file gave

    def parameter(key: tuple, value: float):
        return theta if key == pid else number(value)

    base = None if problem.log_base == "e" else int(problem.log_base)
    k = problem.widths[-1]
    per_sample = []
    for sample in problem.data:
        a = [number(v) for v in sample.x]
        for l, layer in enumerate(problem.layers):
            z = []
            for j, row in enumerate(layer.weights):
                total = sum(parameter(("W", l, j, i), w) * a[i] for i, w in enumerate(row))
                if layer.bias is not None:
                    key = ("b", l) if layer.shared_bias else ("b", l, j)
                    total += parameter(key, layer.bias_vector()[j])
                z.append(total)
            if layer.activation == "softmax":
                a = [sp.exp(v) / sum(sp.exp(u) for u in z) for v in z]
            else:
                p = layer.leaky_slope if layer.activation == "leaky_relu" \
                    else problem.relu_grad_at_zero
                a = [catalog.ACTIVATIONS[layer.activation].function(v, p) for v in z]
        term = catalog.loss_term(problem.loss, k, base)
        per_sample.append(sum(term.xreplace({catalog.Y: number(t), catalog.A: v})
                              for t, v in zip(sample.targets, a)))
    total = sum(per_sample)
    loss = total / len(per_sample) if problem.reduction == "mean" else total
    return descent.to_elementary(loss)


# --- the solution ------------------------------------------------------------------

@dataclass(frozen=True)
class TrainingSolution(descent.KindSolution):
    """A trained and checked network, ready to render.

    Attributes:
        problem: the validated problem.
        first: the core's solution of the first update.
        run: parameters after every update, loss per epoch, outputs before and after.
        table: the finite-difference table of the first update's loss, or None.
        table_steps: its first ε written out.
        names: LaTeX names of the symbols made for the table.
        check: what the independent computations confirmed.
    """

    problem: TrainingProblem
    first: Solution
    run: Run
    table: descent.Differences | None
    table_steps: tuple
    names: descent.Names
    check: TrainingCheck
    template_dir: Path | None = None
    kind = "training"

    @cached_property
    def network(self) -> Network:
        """Names and symbols, from the network with one sample (no sample superscripts)."""
        return Network(single(self.problem.network, 0))

    @property
    def final(self) -> dict[str, float]:
        """Parameter name → its value after training."""
        names = [name.plain for name in _names(self.problem.network).values()]
        return dict(zip(names, self.run.parameters[-1].tolist()))

    @cached_property
    def curve(self) -> curves.Curve:
        epochs = self.problem.epochs
        return curves.Curve(tuple(range(epochs + 1)), tuple(self.run.losses.tolist()),
                            "epoch", self._latex(self.network.symbol("loss")),
                            markers=epochs <= 30)

    def _latex(self, expr) -> str:
        return descent.printer(self.network.notation.latex, 4, "decimals").doprint(expr)

    def reported_epochs(self) -> list[int]:
        epochs, every = self.problem.epochs, self.problem.report_every
        return sorted({0, 1, epochs} | set(range(every, epochs + 1, every)))

    def view(self) -> dict:
        problem, network, run = self.problem, self.network, self.run
        net = problem.network
        number = lambda v: format_number(v, digits=net.digits,
                                        rounding=net.rounding)
        vector = lambda values: ", ".join(number(v) for v in values)
        given = lambda values: ", ".join(format_given(v) for v in values)
        count = len(net.data)
        predictions = []
        for i, name in enumerate(problem.sample_names + tuple(p.name for p in problem.predict)):
            target = given(net.data[i].targets) if i < count else None
            predictions.append({"name": name, "y": target,
                                "before": vector(run.outputs_before[i]),
                                "after": vector(run.outputs_after[i])})
        pids = Layout(net).pids
        parameters = [{"symbol": network.param_names[pid].latex,
                       "initial": format_given(run.parameters[0][i]),
                       "final": number(run.parameters[-1][i])} for i, pid in enumerate(pids)]
        differences = None
        if self.table is not None:
            symbol = network.param_names[problem.difference_parameter].latex
            print_ = descent.printer(self.names.latex, net.digits, net.rounding)
            differences = descent.differences_view(
                self.table, self.table_steps, print_, theta=symbol, at_symbol=symbol,
                digits=net.digits, rounding=net.rounding)
        first = render.build_view(self.first)
        return {
            "title": net.title,
            "architecture": first["architecture"],
            "activations": first["activations"],
            "loss_title": first["loss_title"],
            "reduction": net.reduction,
            "samples": count,
            "mode": problem.mode,
            "epochs": problem.epochs,
            "updates": problem.epochs * problem.updates_per_epoch,
            "learning_rate": format_given(net.learning_rate),
            "update_biases": net.update_biases,
            "inputs": [self._latex(network.symbol("x", 0, k)) for k in range(net.widths[0])],
            "targets": [self._latex(network.symbol("y", 0, k)) for k in range(net.widths[-1])],
            "outputs": ", ".join(self._latex(network.symbol("a", 0, network.depth - 1, k))
                                 for k in range(net.widths[-1])),
            "loss_symbol": self._latex(network.symbol("loss")),
            "data": [{"name": name, "x": [format_given(v) for v in sample.x],
                      "y": [format_given(v) for v in sample.targets]}
                     for name, sample in zip(problem.sample_names, net.data)],
            "first_name": problem.sample_names[0],
            "first": first,
            "first_loss": first["loss_value"],
            "losses": [{"epoch": e, "loss": number(run.losses[e])}
                       for e in self.reported_epochs()],
            "final_loss": number(run.losses[-1]),
            "parameters": parameters,
            "predictions": predictions,
            "differences": differences,
            "check": self._check_view(),
        }

    def _check_view(self) -> dict:
        number = lambda v: f"{v:.1e}" if v else "0"
        view = {}
        for name in ("first_update", "updates", "losses", "outputs", "gradient", "table"):
            agreement = getattr(self.check, name)
            view[name] = None if agreement is None else {
                "compared": agreement.compared, "max_abs": number(agreement.max_abs)}
        return view

    def document(self) -> dict:
        problem, run = self.problem, self.run
        names = [name.plain for name in _names(problem.network).values()]
        count = len(problem.network.data)
        labels = problem.sample_names + tuple(p.name for p in problem.predict)
        return {
            "derive": __version__,
            "kind": "training",
            "title": problem.title,
            "mode": problem.mode,
            "epochs": problem.epochs,
            "learning_rate": problem.network.learning_rate,
            "first_update": json.loads(self.first.to_json()),
            "losses": run.losses.tolist(),
            "parameters": {"initial": dict(zip(names, run.parameters[0].tolist())),
                           "final": self.final},
            "predictions": [{"name": label, "x": list(x),
                             "y": list(problem.network.data[i].targets) if i < count else None,
                             "before": run.outputs_before[i].tolist(),
                             "after": run.outputs_after[i].tolist()}
                            for i, (label, x) in enumerate(zip(labels, arrays(problem)[2]
                                                               .tolist()))],
            "finite_differences": None if self.table is None
            else descent.differences_json(self.table),
            "check": {name: None if getattr(self.check, name) is None
                      else vars(getattr(self.check, name))
                      for name in ("first_update", "updates", "losses", "outputs",
                                   "gradient", "table")},
        }


def _differences(problem: TrainingProblem, first: Solution, names: descent.Names):
    """The finite-difference table of the first update's loss in one parameter, its
    first ε written out, and the checks of the core's gradient and of the table."""
    pid = problem.difference_parameter
    network = Network(problem.first)
    name = network.param_names[pid]
    theta = sp.Dummy(name.plain, real=True)
    loss = loss_expression(problem.first, pid, theta)
    at = sp.Rational(repr(network.parameter_value(pid)))
    slope = descent.evaluate(sp.diff(loss, theta), theta, at, exact=descent.is_exact(loss, theta))
    gradient = _agree(
        "SymPy's derivative of the loss, 60 digits", [f"dL/d{name.plain}"],
        np.array([first.gradients[name.plain]]), np.array([float(slope)]),
        np.array([abs(float(slope))]))
    table = descent.finite_differences(loss, theta, at, slope, problem.epsilons)
    table_check = descent.check_differences(loss, theta, table, name.plain)
    symbol = names(name.plain, name.latex)
    loss_at = names(f"L({name.plain})", rf"L\left({name.latex}\right)")
    shown = {symbol: Shown(float(at), given=True), loss_at: Shown(float(table.loss))}
    steps = descent.difference_steps(table, names, symbol, shown, loss_at)
    return table, steps, gradient, table_check


def solve(problem: TrainingProblem, *, template_dir: str | Path | None = None
          ) -> TrainingSolution:
    """The first update in full, all updates, and their checks.

    Raises:
        CrossCheckError: a value disagrees with an independent computation.
        DeriveError: training diverged.
    """
    # The first update in full, by the core (which cross-checks it).
    first = solve_network(problem.first, template_dir=template_dir)

    # Every update; the finite differences of the first update's loss.
    run = train(problem)
    names = descent.Names()
    table, steps, gradient_check, table_check = (None, (), None, None)
    if problem.difference_parameter is not None:
        table, steps, gradient_check, table_check = _differences(problem, first, names)

    # Every number again, independently.
    first_update, updates, losses, outputs = check_training(problem, run, first)
    check = TrainingCheck(first_update, updates, losses, outputs, gradient_check, table_check)
    return TrainingSolution(problem, first, run, table, steps, names, check,
                            None if template_dir is None else Path(template_dir))
