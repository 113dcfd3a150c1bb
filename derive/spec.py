"""Problem files: load YAML safely, validate with msgspec, return an immutable spec.

A problem describes one network (a single neuron or a fully connected network),
its data, its loss and one gradient-descent step. Nothing in the file is ever
evaluated as code: YAML is read safely (:func:`derive.validation.read_yaml`) and every
value is validated against the records below, which refuse unknown keys.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from msgspec import Meta

from .errors import ProblemError
from .validation import Digits, Positive, Record, convert, read_yaml

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "linear", "softmax")
LOSSES = ("mse", "sse", "half_sse", "bce", "cce")

Number = float  # finite: see derive.validation.convert
Vector = Annotated[tuple[Number, ...], Meta(min_length=1)]


class Layer(Record):
    """One fully connected layer: ``z = W a_prev + b``, ``a = activation(z)``.

    ``weights`` has one row per neuron and one column per input of the layer.
    ``bias`` is absent (no bias), one number (one bias shared by every neuron of
    the layer, as in Mazur's example) or one number per neuron.
    """

    activation: Literal[ACTIVATIONS]  # type: ignore[valid-type]
    weights: Annotated[tuple[Vector, ...], Meta(min_length=1)]
    bias: Number | Vector | None = None
    units: Annotated[int, Meta(ge=1)] | None = None
    leaky_slope: Number = 0.01

    @property
    def width(self) -> int:
        return len(self.weights)

    @property
    def shared_bias(self) -> bool:
        return isinstance(self.bias, float)

    def bias_vector(self) -> tuple[float, ...] | None:
        """The bias of each neuron (the shared value repeated), or None."""
        if self.bias is None:
            return None
        if isinstance(self.bias, float):
            return (self.bias,) * self.width
        return tuple(self.bias)


class Sample(Record):
    """One training example: inputs ``x`` and target(s) ``y``."""

    x: Vector
    y: Number | Vector

    @property
    def targets(self) -> tuple[float, ...]:
        return (self.y,) if isinstance(self.y, float) else tuple(self.y)


class Problem(Record, kw_only=True):
    """A validated problem: network, data, loss, learning rate and display settings."""

    kind: Literal["network"] = "network"
    title: str = "Worked solution"
    notation: Literal["mazur", "layer", "zhou"] = "layer"
    parameter_names: Literal["flat", "layer"] = "flat"
    x: Vector | None = None
    y: Number | Vector | None = None
    samples: tuple[Sample, ...] | None = None
    layers: Annotated[tuple[Layer, ...], Meta(min_length=1)]
    loss: Literal[LOSSES]  # type: ignore[valid-type]
    log_base: Literal["e", 2, 10] = "e"
    reduction: Literal["mean", "sum"] = "mean"
    learning_rate: Positive
    update_biases: bool = True
    relu_grad_at_zero: Number = 0.0
    digits: Digits = 4
    rounding: Literal["decimals", "significant"] = "decimals"
    show: tuple[str, ...] = ()
    max_listed_parameters: Annotated[int, Meta(ge=0)] = 60

    @property
    def data(self) -> tuple[Sample, ...]:
        """The samples, whether given as ``x``/``y`` or as a ``samples`` list."""
        if self.samples is not None:
            return self.samples
        return (Sample(x=self.x, y=self.y),)

    @property
    def widths(self) -> tuple[int, ...]:
        """Input width followed by the width of each layer."""
        return (len(self.data[0].x),) + tuple(layer.width for layer in self.layers)


def _check_shapes(problem: Problem, source: str) -> None:
    """Cross-field rules that the records' per-field types cannot express."""

    def fail(field: str, expected: str) -> None:
        raise ProblemError(source, field, expected)

    if problem.samples is not None:
        if problem.x is not None or problem.y is not None:
            fail("samples", "expected either `samples` or `x` and `y`, not both")
    elif problem.x is None or problem.y is None:
        fail("x" if problem.x is None else "y",
             "required field is missing (give `x` and `y`, or a list of `samples`)")
    if problem.samples is not None and not problem.samples:
        fail("samples", "expected at least one sample")

    data = problem.data
    where = "samples[{i}]" if problem.samples is not None else ""
    n_in = len(data[0].x)
    n_out = problem.layers[-1].width
    for i, sample in enumerate(data):
        prefix = where.format(i=i)
        x_field = f"{prefix}.x" if prefix else "x"
        y_field = f"{prefix}.y" if prefix else "y"
        if len(sample.x) != n_in:
            fail(x_field, f"expected {n_in} inputs like the first sample, got {len(sample.x)}")
        if len(sample.targets) != n_out:
            fail(y_field, f"expected {n_out} target(s), one per output neuron, "
                          f"got {len(sample.targets)}")
        if problem.loss in ("bce", "cce"):
            for t in sample.targets:
                if not 0.0 <= t <= 1.0:
                    fail(y_field, f"expected targets in [0, 1] for {problem.loss} "
                                  f"loss, got {t!r}")

    width_in = n_in
    for l, layer in enumerate(problem.layers):
        field = f"layers[{l}]"
        for r, row in enumerate(layer.weights):
            if len(row) != width_in:
                fail(f"{field}.weights[{r}]",
                     f"expected {width_in} numbers (one per input of the layer), got {len(row)}")
        if layer.units is not None and layer.units != layer.width:
            fail(f"{field}.weights", f"expected {layer.units} rows (units: {layer.units}), "
                                     f"got {layer.width}")
        if isinstance(layer.bias, tuple) and len(layer.bias) != layer.width:
            fail(f"{field}.bias", f"expected one number shared by the layer or "
                                  f"{layer.width} numbers (one per neuron), got {len(layer.bias)}")
        if layer.activation == "softmax":
            if l != len(problem.layers) - 1:
                fail(f"{field}.activation", "expected softmax on the output layer only")
            if layer.width < 2:
                fail(f"{field}.activation", "expected at least 2 neurons under softmax")
        width_in = layer.width

    if problem.show:
        from .notation import parameter_names  # names depend on the notation settings

        names = {name.plain for name in parameter_names(
            problem.parameter_names, problem.widths,
            tuple(layer.shared_bias for layer in problem.layers),
            tuple(layer.bias is not None for layer in problem.layers)).values()}
        for i, wanted in enumerate(problem.show):
            if wanted not in names:
                fail(f"show[{i}]", f"expected a parameter name such as "
                                   f"{', '.join(sorted(names)[:4])}, got {wanted!r}")

    output = problem.layers[-1].activation
    if problem.loss in ("bce", "cce") and output not in ("sigmoid", "softmax"):
        fail(f"layers[{len(problem.layers) - 1}].activation",
             f"expected sigmoid or softmax output for {problem.loss} loss "
             f"(its log needs outputs in (0, 1)), got {output}")
    if problem.loss == "cce" and output == "softmax":
        for i, sample in enumerate(data):
            if not math.isclose(sum(sample.targets), 1.0, abs_tol=1e-12):
                prefix = where.format(i=i)
                fail(f"{prefix}.y" if prefix else "y",
                     "expected targets that sum to 1 for softmax with cce")


# Problem kinds other than "network" live in their own modules, each with its own
# ``parse_problem(mapping, *, source)`` and ``solve(problem, *, template_dir)``; the
# modules are imported only when a problem of their kind is read.
KINDS: dict[str, str] = {
    "network": __name__,
    "graph": "derive.graph_problem",
    "derivative": "derive.calculus",
    "descent": "derive.descent",
    "training": "derive.training",
}


def kind_module(kind: str):
    """The module that parses and solves problems of ``kind``."""
    import importlib

    return importlib.import_module(KINDS[kind])


def parse_problem(mapping: Any, *, source: str = "<problem>") -> Any:
    """Validate an already-parsed mapping (e.g. from a script) into a problem.

    A mapping without ``kind`` (or with ``kind: network``) describes a network and
    gives a :class:`Problem`; other kinds are validated by their own modules.

    Raises:
        ProblemError: naming ``source``, the field path and what was expected.
    """
    if not isinstance(mapping, Mapping):
        raise ProblemError(source, "", "expected a mapping of fields at the top level")
    kind = mapping.get("kind", "network")
    if kind not in KINDS:
        raise ProblemError(source, "kind", f"expected one of {', '.join(sorted(KINDS))}, "
                                           f"got {kind!r}")
    if kind != "network":
        return kind_module(kind).parse_problem(mapping, source=source)
    problem = convert(mapping, Problem, source)
    _check_shapes(problem, source)
    return problem


def load_problem(path: str | Path) -> Any:
    """Read and validate a YAML problem file.

    Args:
        path: the problem file.

    Returns:
        The validated, immutable :class:`Problem`.

    Raises:
        ProblemError: the file is missing, is not YAML, or fails validation.
    """
    return parse_problem(read_yaml(path), source=str(path))
