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
3. train: every update with NumPy in matrix form (:mod:`derive.trainer`);
4. check (:mod:`derive.training_check`): the first update against the core's; every
   update redone from the trainer's parameters by a backpropagation in plain Python
   floats written from the textbook formulas; every loss and prediction recomputed;
5. finite differences (optional, :mod:`derive.differences`): the first update's loss as
   a SymPy expression in one parameter, evaluated with 60 digits, against the
   backpropagated gradient;
6. views → templates (``training.md.j2`` with an SVG plot, ``training.tex.j2``) and JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import sympy as sp
from msgspec import Meta
from msgspec.structs import replace

from . import __version__, catalog, curves, differences, render, spec
from .descent_check import check_differences, to_elementary
from .errors import ProblemError
from .forms import Shown
from .kinds import CurveSolution, exact, gap, validate
from .latex import format_given, format_number
from .network import Network
from .solution import Solution
from .solution import solve as solve_network
from .trainer import Layout, Run, arrays, parameter_names_of, train
from .training_check import TrainingCheck, agree, check_training
from .validation import Record

MAX_EPOCHS = 100_000
MAX_UPDATES = 200_000   # epochs × updates per epoch


# --- the problem file ---------------------------------------------------------------

class Prediction(Record):
    """An input to predict after training, e.g. ``{name: Emily, x: [-7, -3]}``."""

    name: str
    x: spec.Vector


class TrainingDifferences(differences.DifferenceSettings, kw_only=True):
    """``finite_differences:`` a parameter (``w1``) and the steps ε, at the initial values."""

    parameter: str


class TrainingFields(Record):
    """The fields a ``kind: training`` problem adds to a network problem."""

    kind: Literal["training"]
    epochs: Annotated[int, Meta(ge=1, le=MAX_EPOCHS)]
    mode: Literal["batch", "sgd"] = "batch"
    report_every: Annotated[int, Meta(ge=1)] | None = None
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


def parse_problem(mapping: Mapping[str, Any], *, source: str = "<problem>") -> TrainingProblem:
    """Validate a ``kind: training`` mapping: network fields by the core, the rest here.

    Raises:
        ProblemError: naming ``source``, the field and what was expected.
    """
    own = set(TrainingFields.__struct_fields__)
    network_fields = set(spec.Problem.__struct_fields__) - {"kind"}
    for key in mapping:
        if key not in own | network_fields:
            raise ProblemError(source, str(key), "unknown key; expected one of: "
                               + ", ".join(sorted(own | network_fields)))
    fields = validate(TrainingFields, {k: v for k, v in mapping.items() if k in own}, source)
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
        by_name = {name.plain: key for key, name in parameter_names_of(network).items()}
        wanted = fields.finite_differences.parameter
        if wanted not in by_name:
            raise ProblemError(source, "finite_differences.parameter",
                               f"expected a parameter name such as "
                               f"{', '.join(list(by_name)[:4])}, got {wanted!r}")
        pid = by_name[wanted]
        epsilons = tuple(exact(e) for e in fields.finite_differences.epsilons)
    first = network if fields.mode == "batch" else single(network, 0)
    return TrainingProblem(
        kind="training", title=network.title, network=network, first=first,
        epochs=fields.epochs, mode=fields.mode,
        report_every=fields.report_every or max(1, fields.epochs // 10),
        sample_names=names, predict=fields.predict, difference_parameter=pid,
        epsilons=epsilons, source=source)


def single(problem: spec.Problem, s: int) -> spec.Problem:
    """The same network with sample ``s`` alone."""
    return replace(problem, samples=(problem.data[s],), x=None, y=None)


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
    return to_elementary(loss)


# --- the solution ------------------------------------------------------------------

@dataclass(frozen=True)
class TrainingSolution(CurveSolution):
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
    table: differences.Differences | None
    table_steps: tuple
    names: differences.Names
    check: TrainingCheck
    template_dir: Path | None = None
    template = "training"

    @cached_property
    def network(self) -> Network:
        """Names and symbols, from the network with one sample (no sample superscripts)."""
        return Network(single(self.problem.network, 0))

    @property
    def final(self) -> dict[str, float]:
        """Parameter name → its value after training."""
        names = [name.plain for name in parameter_names_of(self.problem.network).values()]
        return dict(zip(names, self.run.parameters[-1].tolist()))

    @cached_property
    def curve(self) -> curves.Curve:
        epochs = self.problem.epochs
        return curves.Curve(tuple(range(epochs + 1)), tuple(self.run.losses.tolist()),
                            "epoch", self._latex(self.network.symbol("loss")),
                            markers=epochs <= 30)

    def _latex(self, expr) -> str:
        return differences.printer(self.network.notation.latex, 4, "decimals").doprint(expr)

    def reported_epochs(self) -> list[int]:
        epochs, every = self.problem.epochs, self.problem.report_every
        return sorted({0, 1, epochs} | set(range(every, epochs + 1, every)))

    def view(self, stem: str) -> dict:
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
        table_view = None
        if self.table is not None:
            symbol = network.param_names[problem.difference_parameter].latex
            print_ = differences.printer(self.names.latex, net.digits, net.rounding)
            table_view = differences.differences_view(
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
            "differences": table_view,
            "check": self._check_view(),
            "plot": self.plot(stem),
        }

    def _check_view(self) -> dict:
        view = {}
        for name in ("first_update", "updates", "losses", "outputs", "gradient", "table"):
            agreement = getattr(self.check, name)
            view[name] = None if agreement is None else {
                "compared": agreement.compared, "max_abs": gap(agreement.max_abs)}
        return view

    def document(self) -> dict:
        problem, run = self.problem, self.run
        names = [name.plain for name in parameter_names_of(problem.network).values()]
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
            else differences.differences_json(self.table),
            "check": {name: None if getattr(self.check, name) is None
                      else vars(getattr(self.check, name))
                      for name in ("first_update", "updates", "losses", "outputs",
                                   "gradient", "table")},
        }


def _differences(problem: TrainingProblem, first: Solution, names: differences.Names):
    """The finite-difference table of the first update's loss in one parameter, its
    first ε written out, and the checks of the core's gradient and of the table."""
    pid = problem.difference_parameter
    network = Network(problem.first)
    name = network.param_names[pid]
    theta = sp.Dummy(name.plain, real=True)
    loss = loss_expression(problem.first, pid, theta)
    at = sp.Rational(repr(network.parameter_value(pid)))
    slope = differences.evaluate(sp.diff(loss, theta), theta, at,
                                 exact=differences.is_exact(loss, theta))
    gradient = agree(
        "SymPy's derivative of the loss, 60 digits", [f"dL/d{name.plain}"],
        np.array([first.gradients[name.plain]]), np.array([float(slope)]),
        np.array([abs(float(slope))]))
    table = differences.finite_differences(loss, theta, at, slope, problem.epsilons)
    table_check = check_differences(loss, theta, table, name.plain)
    symbol = names(name.plain, name.latex)
    loss_at = names(f"L({name.plain})", rf"L\left({name.latex}\right)")
    shown = {symbol: Shown(float(at), given=True), loss_at: Shown(float(table.loss))}
    steps = differences.difference_steps(table, names, symbol, shown, loss_at)
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
    names = differences.Names()
    table, steps, gradient_check, table_check = (None, (), None, None)
    if problem.difference_parameter is not None:
        table, steps, gradient_check, table_check = _differences(problem, first, names)

    # Every number again, independently.
    first_update, updates, losses, outputs = check_training(problem, run, first)
    check = TrainingCheck(first_update, updates, losses, outputs, gradient_check, table_check)
    return TrainingSolution(problem, first, run, table, steps, names, check,
                            None if template_dir is None else Path(template_dir))
