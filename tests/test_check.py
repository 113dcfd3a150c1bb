"""Tests of derive.check: NumPy backprop, finite differences and the cross-check."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from derive import check
from derive.check import cross_check, finite_difference_gradients, reference_values
from derive.errors import CrossCheckError
from derive.spec import load_problem, parse_problem

PROBLEMS = Path(__file__).resolve().parent.parent / "problems"


def within(value: float, expected: float, tolerance: float) -> bool:
    return abs(value - expected) <= tolerance


def agrees_with_fd(reference: float, fd: float) -> bool:
    return abs(reference - fd) <= 1e-6 * max(1.0, abs(reference))


# --- Mazur's 2-2-2 network ----------------------------------------------------------

MAZUR = {  # key: (value printed by Mazur, digits after the point)
    ("a", 0, 0, 0): (0.593269992, 9),         # out_h1
    ("a", 0, 1, 0): (0.75136507, 8),          # out_o1
    ("a", 0, 1, 1): (0.772928465, 9),         # out_o2
    ("loss",): (0.298371109, 9),              # E_total
    ("grad", "W", 1, 0, 0): (0.082167041, 9),  # dE/dw5
    ("updated", "W", 0, 0, 0): (0.149780716, 9),  # w1+
    ("updated", "W", 0, 0, 1): (0.19956143, 8),   # w2+
    ("updated", "W", 0, 1, 0): (0.24975114, 8),   # w3+
    ("updated", "W", 0, 1, 1): (0.29950229, 8),   # w4+
    ("updated", "W", 1, 0, 0): (0.35891648, 8),   # w5+
    ("updated", "W", 1, 0, 1): (0.408666186, 9),  # w6+
    ("updated", "W", 1, 1, 0): (0.511301270, 9),  # w7+
    ("updated", "W", 1, 1, 1): (0.561370121, 9),  # w8+
}


@pytest.fixture(scope="module")
def mazur():
    return load_problem(PROBLEMS / "mazur.yaml")


@pytest.mark.parametrize("key", list(MAZUR), ids=str)
def test_mazur_values(mazur, key):
    expected, digits = MAZUR[key]
    assert within(reference_values(mazur)[key], expected, max(5e-10, 0.5 * 10.0 ** -digits))


def test_mazur_has_no_bias_updates_and_shared_bias_gradients(mazur):
    values = reference_values(mazur)
    assert not [key for key in values if key[:2] == ("updated", "b")]
    assert ("grad", "b", 0) in values and ("grad", "b", 0, 0) not in values
    assert all(type(value) is float for value in values.values())


def test_mazur_keys_follow_the_shared_convention(mazur):
    values = reference_values(mazur)
    assert ("da/dz", 0, 1, 1, 1) in values and ("da/dz", 0, 1, 0, 1) not in values
    assert {("grad_sample", 0, "b", 1), ("dL/da", 0, 0, 1), ("loss_term", 0, 1),
            ("loss_sample", 0), ("delta", 0, 1, 0)} <= values.keys()


# --- small cases by hand --------------------------------------------------------------

def one_layer(activation: str, loss: str, y, **extra):
    """x = (0.5, −1.5) into one neuron (two under softmax), learning rate 0.5."""
    weights, bias = [[0.4, -0.7]], [0.2]
    if activation == "softmax":
        weights, bias = [[0.4, -0.7], [0.1, 0.3]], [0.2, -0.1]
    layer = {"activation": activation, "weights": weights, "bias": bias}
    return parse_problem({"x": [0.5, -1.5], "y": y, "layers": [layer], "loss": loss,
                          "learning_rate": 0.5, **extra}, source="test")


@pytest.mark.parametrize("log_base, ln_base", [("e", 1.0), (2, math.log(2)), (10, math.log(10))])
def test_sigmoid_neuron_with_bce_by_hand(log_base, ln_base):
    values = reference_values(one_layer("sigmoid", "bce", 1, log_base=log_base))
    z = 0.4 * 0.5 - 0.7 * -1.5 + 0.2
    a = 1.0 / (1.0 + math.exp(-z))
    expected = {
        ("z", 0, 0, 0): z,
        ("a", 0, 0, 0): a,
        ("loss",): -math.log(a) / ln_base,
        ("dL/da", 0, 0, 0): -1.0 / a / ln_base,
        ("da/dz", 0, 0, 0, 0): a * (1 - a),
        ("delta", 0, 0, 0): (a - 1) / ln_base,
        ("grad", "W", 0, 0, 0): (a - 1) * 0.5 / ln_base,
        ("grad", "W", 0, 0, 1): (a - 1) * -1.5 / ln_base,
        ("grad", "b", 0, 0): (a - 1) / ln_base,
        ("updated", "W", 0, 0, 1): -0.7 - 0.5 * (a - 1) * -1.5 / ln_base,
        ("updated", "b", 0, 0): 0.2 - 0.5 * (a - 1) / ln_base,
    }
    for key, value in expected.items():
        assert within(values[key], value, 1e-12), key


def test_softmax_with_cce_by_hand():
    values = reference_values(one_layer("softmax", "cce", [0.0, 1.0]))
    z = np.array([0.4 * 0.5 - 0.7 * -1.5 + 0.2, 0.1 * 0.5 + 0.3 * -1.5 - 0.1])
    a = np.exp(z) / np.exp(z).sum()
    delta = a - [0.0, 1.0]
    assert within(values[("loss",)], -math.log(a[1]), 1e-12)
    assert within(values[("da/dz", 0, 0, 0, 1)], -a[0] * a[1], 1e-12)
    assert within(values[("da/dz", 0, 0, 1, 1)], a[1] * (1 - a[1]), 1e-12)
    for j in range(2):
        assert within(values[("delta", 0, 0, j)], delta[j], 1e-12)
        assert within(values[("grad", "W", 0, j, 1)], delta[j] * -1.5, 1e-12)


@pytest.mark.parametrize("loss, factor", [("mse", 2.0), ("sse", 2.0), ("half_sse", 1.0)])
def test_linear_neuron_squared_errors_by_hand(loss, factor):
    values = reference_values(one_layer("linear", loss, 2.0))
    a = 0.4 * 0.5 - 0.7 * -1.5 + 0.2
    assert within(values[("loss",)], factor / 2 * (2.0 - a) ** 2, 1e-12)
    assert within(values[("grad", "W", 0, 0, 1)], factor * (a - 2.0) * -1.5, 1e-12)


def test_sum_and_mean_over_samples():
    samples = [{"x": [1.0], "y": 0.0}, {"x": [2.0], "y": 1.0}]
    problems = {reduction: parse_problem(
        {"samples": samples, "layers": [{"activation": "linear", "weights": [[0.5]]}],
         "loss": "half_sse", "learning_rate": 0.1, "reduction": reduction}, source="test")
        for reduction in ("mean", "sum")}
    grads = [0.5 * 1.0 * 1.0, (1.0 - 1.0) * 2.0]  # (a - y) x per sample: 0.5, 0
    mean, total = (reference_values(problems[r]) for r in ("mean", "sum"))
    assert within(mean[("grad_sample", 0, "W", 0, 0, 0)], grads[0], 1e-12)
    assert within(mean[("grad", "W", 0, 0, 0)], sum(grads) / 2, 1e-12)
    assert within(total[("grad", "W", 0, 0, 0)], sum(grads), 1e-12)
    assert within(total[("loss",)], 0.5 * 0.25, 1e-12)


def test_relu_at_zero_uses_the_convention_and_fd_is_flagged():
    problem = parse_problem({
        "x": [1.0], "y": 1.0, "relu_grad_at_zero": 0.5, "loss": "half_sse", "learning_rate": 1,
        "layers": [{"activation": "relu", "weights": [[1.0]], "bias": [-1.0]},
                   {"activation": "linear", "weights": [[2.0]], "bias": [0.25]}]},
        source="test")
    values = reference_values(problem)
    assert values[("z", 0, 0, 0)] == 0.0
    assert within(values[("da/dz", 0, 0, 0, 0)], 0.5, 1e-15)
    # a = 0.25, dL/da = -0.75, delta_hidden = -0.75 * 2 * 0.5
    assert within(values[("grad", "b", 0, 0)], -0.75, 1e-15)
    fd = finite_difference_gradients(problem)
    assert fd.kink and fd.kinked == {("grad", "W", 0, 0, 0), ("grad", "b", 0, 0)}
    report = cross_check(problem, values, names={})
    assert report.finite_differences.compared == 2
    assert report.fd_skipped is not None and report.fd_skipped.startswith("2 of 4 gradients")


def test_saturated_units_keep_their_relative_accuracy():
    """1 − a, σ' and tanh' are computed from z: no cancellation where a rounds to 1."""
    problem = parse_problem({
        "x": [1.0], "y": 0.0, "loss": "bce", "learning_rate": 1,
        "layers": [{"activation": "tanh", "weights": [[12.0]]},
                   {"activation": "sigmoid", "weights": [[30.0]]}]}, source="test")
    values = reference_values(problem)
    z = values[("z", 0, 1, 0)]  # 30 tanh(12): a = σ(z) = 1 − 9e-14
    expected = {
        ("da/dz", 0, 0, 0, 0): 1.0 / math.cosh(12.0) ** 2,
        ("da/dz", 0, 1, 0, 0): math.exp(-z) / (1.0 + math.exp(-z)) ** 2,
        ("dL/da", 0, 1, 0): 1.0 + math.exp(z),  # 1 / (1 − a)
        ("loss",): z + math.log1p(math.exp(-z)),  # −ln(1 − σ(z))
    }
    for key, value in expected.items():
        assert math.isclose(values[key], value, rel_tol=1e-12), key
    fd = finite_difference_gradients(problem)
    assert agrees_with_fd(values[("grad", "W", 1, 0, 0)], fd.values[("grad", "W", 1, 0, 0)])


# --- random networks against finite differences ---------------------------------------

HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "linear")
coefficient = st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False)


@st.composite
def problems(draw):
    """A random valid problem: every activation, loss, bias kind, reduction and base."""
    depth = draw(st.integers(1, 4))
    loss = draw(st.sampled_from(("mse", "sse", "half_sse", "bce", "cce")))
    outputs = ("sigmoid", "softmax") if loss in ("bce", "cce") else (*HIDDEN, "softmax")
    activations = [draw(st.sampled_from(HIDDEN)) for _ in range(depth - 1)]
    activations.append(draw(st.sampled_from(outputs)))
    widths = [draw(st.integers(1, 6)) for _ in range(depth + 1)]
    if activations[-1] == "softmax":
        widths[-1] = max(widths[-1], 2)
    layers = []
    for l, activation in enumerate(activations):
        n, n_in = widths[l + 1], widths[l]
        layer = {"activation": activation,
                 "weights": draw(st.lists(st.lists(coefficient, min_size=n_in, max_size=n_in),
                                          min_size=n, max_size=n)),
                 "bias": draw(st.one_of(st.none(), coefficient,
                                        st.lists(coefficient, min_size=n, max_size=n)))}
        if activation == "leaky_relu":
            layer["leaky_slope"] = draw(st.floats(0.0, 0.5))
        layers.append(layer)

    def target():
        k = widths[-1]
        if loss == "cce" and activations[-1] == "softmax":
            return np.eye(k)[draw(st.integers(0, k - 1))].tolist()
        unit = st.floats(0.0, 1.0) if loss in ("bce", "cce") else coefficient
        return draw(st.lists(unit, min_size=k, max_size=k))

    samples = [{"x": draw(st.lists(coefficient, min_size=widths[0], max_size=widths[0])),
                "y": target()} for _ in range(draw(st.integers(1, 3)))]
    return parse_problem({
        "samples": samples, "layers": layers, "loss": loss,
        "log_base": draw(st.sampled_from(("e", 2, 10))),
        "reduction": draw(st.sampled_from(("mean", "sum"))),
        "learning_rate": draw(st.floats(0.01, 2.0)),
        "update_biases": draw(st.booleans()),
        "relu_grad_at_zero": draw(st.sampled_from((0.0, 0.5, 1.0)))}, source="test")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_reference_agrees_with_finite_differences(problem):
    values = reference_values(problem)
    fd = finite_difference_gradients(problem)
    gradients = [key for key in values if key[0] == "grad"]
    assert sorted(gradients) == sorted(fd.values)
    if not any(layer.activation in check.KINKED for layer in problem.layers):
        assert not fd.kink
    for key in gradients:
        if key not in fd.kinked:
            assert agrees_with_fd(values[key], fd.values[key]), (key, values[key], fd.values[key])
    report = cross_check(problem, values, names={})
    assert report.numpy.compared == len(values) and report.numpy.max_abs == 0.0
    assert report.finite_differences.compared == len(gradients) - len(fd.kinked)
    # On slide-sized numbers the allowance for rounding adds less than the tolerance's floor.
    assert max(fd.rounding.values()) < 1e-6


# --- cross_check ----------------------------------------------------------------------

NAMES = {("grad", "W", 1, 0, 0): "∂E/∂w5", ("z", 0, 0, 1): "net_h2"}


def test_cross_check_passes_on_the_reference(mazur):
    values = reference_values(mazur)
    report = cross_check(mazur, values, names=NAMES)
    assert report.numpy.compared == len(values)
    assert report.numpy.max_abs == 0.0 and report.numpy.max_rel == 0.0
    assert report.numpy.max_abs_quantity == "('z', 0, 0, 0)"  # ties: the first key
    assert report.finite_differences.compared == 10  # 8 weights, 2 shared biases
    assert report.fd_skipped is None and report.eps == 1e-6


@pytest.mark.parametrize("key", list(NAMES), ids=str)
def test_cross_check_names_a_value_off_by_a_millionth(mazur, key):
    values = reference_values(mazur)
    values[key] *= 1 + 1e-6
    with pytest.raises(CrossCheckError) as caught:
        cross_check(mazur, values, names=NAMES)
    assert caught.value.quantity == NAMES[key]
    assert caught.value.method == "NumPy backprop"
    assert NAMES[key] in str(caught.value)


def test_cross_check_reports_the_largest_differences(mazur):
    values = reference_values(mazur)
    values[("a", 0, 1, 0)] += 3e-13                 # largest absolute difference
    values[("grad", "W", 1, 0, 0)] *= 1 + 5e-10     # largest relative difference
    report = cross_check(mazur, values, names=NAMES)
    assert report.numpy.max_abs_quantity == "∂E/∂w5"  # 0.08 * 5e-10 = 4e-11 > 3e-13
    assert within(report.numpy.max_abs, 0.082167041 * 5e-10, 1e-15)
    assert report.numpy.max_rel_quantity == "∂E/∂w5"
    assert within(report.numpy.max_rel, 5e-10, 1e-15)

    fd = finite_difference_gradients(mazur)
    gradients = [key for key in values if key[0] == "grad"]
    differences = [abs(values[key] - fd.values[key]) for key in gradients]
    largest = gradients[int(np.argmax(differences))]
    assert math.isclose(report.finite_differences.max_abs, max(differences), rel_tol=1e-12)
    assert report.finite_differences.max_abs_quantity == NAMES.get(largest, str(largest))


def test_cross_check_ignores_unknown_kinds_but_not_unknown_keys(mazur):
    values = reference_values(mazur)
    cross_check(mazur, {**values, ("note", 1): 3.0, ("step",): 1.0}, names={})
    with pytest.raises(CrossCheckError) as caught:
        cross_check(mazur, {**values, ("updated", "b", 0): 0.35}, names={})
    assert caught.value.quantity == "('updated', 'b', 0)"
    assert math.isnan(caught.value.reference)


def test_finite_differences_catch_a_bug_shared_with_numpy(mazur, monkeypatch):
    wrong = reference_values(mazur)
    wrong[("grad", "W", 1, 0, 0)] *= 1 + 1e-4  # 8e-6 off: beyond 1e-6, the FD tolerance
    monkeypatch.setattr(check, "reference_values", lambda problem: dict(wrong))
    with pytest.raises(CrossCheckError) as caught:
        cross_check(mazur, wrong, names=NAMES)
    assert caught.value.method == "central finite differences"
    assert caught.value.quantity == "∂E/∂w5"


HUGE_LOSS = {"x": [0.001, 2.0], "y": 10000.0, "loss": "mse", "learning_rate": 0.1,
             "layers": [{"activation": "linear", "weights": [[1000.0, 0.5]], "bias": 0.0}]}


def test_finite_differences_allow_for_their_own_rounding():
    # L = (z − y)² ≈ 10⁸: rounding L to 16 digits moves each difference quotient by about
    # 10⁸·1e-16/1e-6 = 0.01, more than 1e-6·|∂L/∂w1| = 2e-5. The exact gradients are
    # 2(z − y)·x with z = 2: -19.996, -39992 and -19996.
    problem = parse_problem(HUGE_LOSS, source="test")
    values = reference_values(problem)
    assert [values[("grad", "W", 0, 0, k)] for k in (0, 1)] == [-19.996, -39992.0]
    fd = finite_difference_gradients(problem)
    key = ("grad", "W", 0, 0, 0)
    off = abs(fd.values[key] - values[key])
    assert off > 1e-6 * 20  # the fixed tolerance alone would refuse the exact gradient
    assert off <= fd.rounding[key] < 0.01 * 20  # allowed, yet a 1% error is not
    report = cross_check(problem, values, names={})
    assert report.finite_differences.compared == 3


def test_finite_differences_still_catch_a_bug_when_the_loss_is_huge(monkeypatch):
    problem = parse_problem(HUGE_LOSS, source="test")
    wrong = reference_values(problem)
    wrong[("grad", "W", 0, 0, 0)] *= 1.01  # 0.2 off, beyond the rounding bound of 0.04
    monkeypatch.setattr(check, "reference_values", lambda problem: dict(wrong))
    with pytest.raises(CrossCheckError) as caught:
        cross_check(problem, wrong, names={})
    assert caught.value.method == "central finite differences"
    assert "for rounding" in str(caught.value)


# --- a realistic size ------------------------------------------------------------------

def test_finite_differences_of_a_784_32_10_network():
    rng = np.random.default_rng(20240601)
    problem = parse_problem({
        "samples": [{"x": rng.uniform(0, 1, 784).tolist(), "y": np.eye(10)[c].tolist()}
                    for c in (3, 7)],
        "layers": [
            {"activation": "relu", "weights": rng.normal(0, 784 ** -0.5, (32, 784)).tolist(),
             "bias": rng.normal(0, 0.1, 32).tolist()},
            {"activation": "softmax", "weights": rng.normal(0, 32 ** -0.5, (10, 32)).tolist(),
             "bias": rng.normal(0, 0.1, 10).tolist()}],
        "loss": "cce", "learning_rate": 0.1}, source="test")
    values = reference_values(problem)
    fd = finite_difference_gradients(problem)
    assert len(fd.values) == 784 * 32 + 32 + 32 * 10 + 10
    assert len(fd.kinked) < 100
    for key, value in fd.values.items():
        if key not in fd.kinked:
            assert agrees_with_fd(values[key], value), key
