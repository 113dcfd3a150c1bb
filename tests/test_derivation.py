"""derive's numbers against independent computations, on random networks."""

from __future__ import annotations

import math

import sympy as sp
from conftest import solved
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import derive
from derive import catalog
from derive.check import finite_difference_gradients, reference_values
from derive.forms import value_of
from derive.network import Network

ELEMENTWISE = ["sigmoid", "tanh", "relu", "leaky_relu", "linear"]
weights_value = st.floats(-2, 2, allow_nan=False).map(lambda v: round(v, 3))


@st.composite
def problems(draw, max_depth=4, max_width=6):
    depth = draw(st.integers(1, max_depth))
    widths = [draw(st.integers(1, max_width)) for _ in range(depth + 1)]
    loss = draw(st.sampled_from(["mse", "sse", "half_sse", "bce", "cce"]))
    activations = [draw(st.sampled_from(ELEMENTWISE)) for _ in range(depth)]
    if loss in ("bce", "cce"):
        softmax = loss == "cce" and widths[-1] >= 2 and draw(st.booleans())
        activations[-1] = "softmax" if softmax else "sigmoid"
    elif widths[-1] >= 2 and draw(st.booleans()):
        activations[-1] = "softmax"
    n = draw(st.integers(1, 3))
    samples = []
    for _ in range(n):
        x = [draw(weights_value) for _ in range(widths[0])]
        if activations[-1] == "softmax" and loss == "cce":
            hot = draw(st.integers(0, widths[-1] - 1))
            y = [1.0 if k == hot else 0.0 for k in range(widths[-1])]
        elif loss in ("bce", "cce"):
            y = [draw(st.sampled_from([0.0, 1.0, 0.25])) for _ in range(widths[-1])]
        else:
            y = [draw(weights_value) for _ in range(widths[-1])]
        samples.append({"x": x, "y": y})
    layers = []
    for l in range(depth):
        rows = [[draw(weights_value) for _ in range(widths[l])] for _ in range(widths[l + 1])]
        kind = draw(st.sampled_from(["none", "shared", "each"]))
        layer = {"activation": activations[l], "weights": rows}
        if kind == "shared":
            layer["bias"] = draw(weights_value)
        elif kind == "each":
            layer["bias"] = [draw(weights_value) for _ in range(widths[l + 1])]
        if activations[l] == "leaky_relu":
            layer["leaky_slope"] = draw(st.sampled_from([0.01, 0.1, 0.2]))
        layers.append(layer)
    return {
        "samples": samples,
        "layers": layers,
        "loss": loss,
        "log_base": draw(st.sampled_from(["e", 2, 10])),
        "reduction": draw(st.sampled_from(["mean", "sum"])),
        "learning_rate": draw(st.sampled_from([0.1, 0.5, 1])),
        "update_biases": draw(st.booleans()),
        "relu_grad_at_zero": draw(st.sampled_from([0, 0.5, 1])),
        "notation": draw(st.sampled_from(["mazur", "layer", "zhou"])),
        "parameter_names": draw(st.sampled_from(["flat", "layer"])),
        "max_listed_parameters": draw(st.sampled_from([0, 60])),
        "digits": draw(st.integers(2, 9)),
    }


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_gradients_match_numpy_backprop_and_finite_differences(mapping):
    problem = derive.parse_problem(mapping, source="random")
    solution = derive.solve(problem)  # raises CrossCheckError on any disagreement
    reference = reference_values(problem)
    network = solution.derivation.network
    for pid, value in solution.derivation.values.gradients.items():
        assert close(value, reference[("grad", *pid)])
    for pid, value in solution.derivation.values.updated.items():
        assert close(value, reference[("updated", *pid)])
    assert close(solution.loss, reference[("loss",)])
    # Every printed step agrees with the reference wherever the reference names it.
    for step in solution.derivation.steps:
        if step.key in reference:
            assert close(step.value, reference[step.key]), step.name
    fd = finite_difference_gradients(problem)
    if not fd.kink:
        for pid, value in solution.derivation.values.gradients.items():
            assert abs(value - fd.values[("grad", *pid)]) <= 1e-6 * max(1.0, abs(value))
    assert set(solution.gradients) == {name.plain for name in network.param_names.values()}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_depth=3, max_width=3))
def test_every_printed_line_evaluates_to_its_value(mapping):
    """The form with numbers substituted, evaluated at 30 digits, gives the value."""
    solution = derive.solve(derive.parse_problem(mapping, source="random"))
    for step in solution.derivation.steps:
        if step.kind == "given":
            continue
        evaluated = value_of(step.substituted)
        assert math.isclose(evaluated, step.value, rel_tol=1e-9, abs_tol=1e-12), step.name


def test_softmax_outputs_write_each_loss_slope_once_and_reuse_it():
    solution = solved("cce_4_4_3")
    slopes = [step.key for step in solution.derivation.steps if step.key[0] == "dL/da"
              and step.key[2] == 1]
    assert sorted(slopes) == [("dL/da", 0, 1, k) for k in range(3)]
    sums = [step for step in solution.derivation.steps if step.key[:3] == ("delta", 0, 1)]
    assert len(sums) == 3 and all(len(step.reused) == 3 for step in sums)


def test_output_is_deterministic():
    mapping = {"x": [0.3, -0.2], "y": [1.0, 0.0], "loss": "cce", "learning_rate": 0.1,
               "layers": [{"activation": "tanh", "weights": [[0.1, 0.2], [0.3, -0.4]],
                           "bias": [0.1, 0.0]},
                          {"activation": "softmax", "weights": [[0.5, -0.6], [0.7, 0.8]]}]}
    first = derive.solve(derive.parse_problem(mapping))
    second = derive.solve(derive.parse_problem(mapping))
    for fmt in ("md", "tex", "json"):
        assert first.render(fmt) == second.render(fmt)


def test_activation_derivatives_are_sympys_derivatives_of_their_definitions():
    z, a = catalog.Z, catalog.A
    for name, activation in catalog.ACTIVATIONS.items():
        if not activation.elementwise:
            continue
        definition = activation.function(z, 0.1).rewrite(sp.exp).rewrite(sp.Piecewise)
        derivative = activation.derivative(0.1).xreplace({a: definition})
        for point in (-1.3, -0.2, 0.4, 2.0):
            expected = sp.diff(definition, z).subs(z, point)
            assert math.isclose(float(derivative.subs(z, point)), float(expected),
                                rel_tol=1e-12), name
        stable = activation.numeric_slope(0.1).xreplace({a: definition})
        for point in (-30, sp.Rational(-13, 10), sp.Rational(2, 5), 12):
            exact = sp.diff(definition, z).subs(z, point).evalf(40)
            assert math.isclose(float(stable.subs(z, point).evalf(40)), float(exact),
                                rel_tol=1e-12), name
    assert catalog.ACTIVATIONS["sigmoid"].derivative() == a * (1 - a)
    assert catalog.ACTIVATIONS["tanh"].derivative() == 1 - a**2


def test_softmax_jacobian_matches_the_derivative_of_its_definition():
    zs = sp.symbols("z1:4")
    total = sum(sp.exp(zj) for zj in zs)
    outputs = [sp.exp(zk) / total for zk in zs]
    point = {zs[0]: 0.3, zs[1]: -0.7, zs[2]: 1.1}
    values = [float(o.subs(point)) for o in outputs]
    for k in range(3):
        for j in range(3):
            exact = float(sp.diff(outputs[k], zs[j]).subs(point))
            a_k, a_j = sp.symbols("a_k a_j")
            form = catalog.softmax_jacobian(a_k, a_j if j != k else a_k, j == k)
            assert math.isclose(float(form.subs({a_k: values[k], a_j: values[j]})), exact,
                                rel_tol=1e-12)


def test_relu_derivative_at_zero_is_the_problem_setting():
    mapping = {"x": [0.0], "y": 1.0, "loss": "mse", "learning_rate": 1, "relu_grad_at_zero": 0.5,
               "layers": [{"activation": "relu", "weights": [[1.0]], "bias": [0.0]}]}
    solution = derive.solve(derive.parse_problem(mapping))
    assert solution.quantities["da/dz"] == 0.5
    assert "finite differences" in solution.to_markdown().lower()


def test_large_network_lists_chosen_parameters_and_keeps_every_gradient():
    import numpy as np

    rng = np.random.default_rng(7)
    mapping = {"x": rng.uniform(-1, 1, 20).round(3).tolist(), "y": [0, 1, 0], "loss": "cce",
               "learning_rate": 0.1, "parameter_names": "layer", "show": ["W1[2,3]"],
               "layers": [{"activation": "relu", "weights": rng.uniform(-1, 1, (8, 20)).round(3).tolist(),
                           "bias": 0.1},
                          {"activation": "softmax", "weights": rng.uniform(-1, 1, (3, 8)).round(3).tolist()}]}
    solution = derive.solve(derive.parse_problem(mapping))
    assert not solution.derivation.listed
    assert len(solution.gradients) == 8 * 20 + 1 + 3 * 8
    names = {step.name for step in solution.derivation.steps}
    assert "dL/dW1[2,3]" in names and "dL/dW1[1,1]" not in names
    network = Network(derive.parse_problem(mapping))
    assert network.parameters[0] == ("W", 0, 0, 0)
