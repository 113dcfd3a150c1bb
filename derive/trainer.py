"""Training a network with NumPy in matrix form: every update of every epoch.

The trainer of :mod:`derive.training`. Every activation, its slope, the loss and its
slope are the catalog's SymPy forms (the ones :meth:`derive.network.Network.evaluate`
uses), compiled once to NumPy (:class:`Trainer`); the parameters live in one flat
vector θ (:class:`Layout`); :func:`train` runs the updates (one per epoch with the
whole data set, or one per sample) and records θ after each, the loss per epoch and
the outputs before and after.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from . import catalog, spec
from .errors import DeriveError
from .notation import parameter_names

if TYPE_CHECKING:
    from .training import TrainingProblem


def parameter_names_of(problem: spec.Problem) -> dict[tuple, Any]:
    """Parameter id → its name, in the order of :attr:`derive.network.Network.parameters`."""
    return parameter_names(problem.parameter_names, problem.widths,
                           tuple(layer.shared_bias for layer in problem.layers),
                           tuple(layer.bias is not None for layer in problem.layers))


class Layout:
    """Where each parameter sits in the flat vector θ: all weights, then all biases, in
    the order of :attr:`derive.network.Network.parameters`."""

    def __init__(self, problem: spec.Problem):
        self.pids = tuple(parameter_names_of(problem))
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
