"""Bad problem files: one clear line naming file, field and expectation; exit 2; no output."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import derive
from derive.errors import ProblemError

GOOD = {
    "x": [0.05, 0.1],
    "y": [0.01, 0.99],
    "layers": [
        {"activation": "sigmoid", "weights": [[0.15, 0.2], [0.25, 0.3]], "bias": 0.35},
        {"activation": "sigmoid", "weights": [[0.4, 0.45], [0.5, 0.55]], "bias": 0.6},
    ],
    "loss": "half_sse",
    "learning_rate": 0.5,
}


def changed(path: str, value):
    """GOOD with one field (dotted path, ints index lists) replaced or deleted."""
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    target = data
    for part in parents:
        target = target[part]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return data


DELETE = object()

CASES = [
    # (field changed, new value, field path in the message, words in the message)
    ("colour", "red", "colour", "unknown key"),
    ("layers.0.activaton", "tanh", "layers[0].activaton", "unknown key"),
    ("layers.1.weights", DELETE, "layers[1].weights", "required field is missing"),
    ("layers.1.weights", [[0.4, 0.45, 0.1], [0.5, 0.55, 0.2]], "layers[1].weights[0]",
     "expected 2 numbers"),
    ("layers.1.weights", [[0.4, 0.45]], "y", "expected 1 target"),
    ("layers.0.activation", "softplus", "layers[0].activation", "'sigmoid'"),
    ("layers.0.activation", "softmax", "layers[0].activation", "output layer only"),
    ("layers.0.bias", [0.1, 0.2, 0.3], "layers[0].bias", "2 numbers (one per neuron)"),
    ("learning_rate", "fast", "learning_rate", "expected a number, got text ('fast')"),
    ("learning_rate", -0.5, "learning_rate", "greater than 0"),
    ("learning_rate", float("inf"), "learning_rate", "finite number"),
    ("learning_rate", True, "learning_rate", "boolean"),
    ("x", [0.05, float("nan")], "x[1]", "finite number"),
    ("loss", "hinge", "loss", "'mse'"),
    ("show", ["w42"], "show[0]", "expected a parameter name"),
    ("x", DELETE, "x", "required field is missing"),
]


@pytest.mark.parametrize("path, value, field, words", CASES)
def test_invalid_fields_are_named(path, value, field, words):
    with pytest.raises(ProblemError) as caught:
        derive.parse_problem(changed(path, value), source="p.yaml")
    error = caught.value
    assert error.field == field
    assert words in error.expected
    assert str(error).startswith(f"p.yaml: {field}: ")
    assert "\n" not in str(error)


def test_cross_entropy_needs_targets_in_unit_interval():
    data = changed("loss", "bce")
    data["y"] = [0.5, 1.5]
    with pytest.raises(ProblemError, match=r"y: expected targets in \[0, 1\]"):
        derive.parse_problem(data, source="p.yaml")


def test_cross_entropy_needs_a_probability_output():
    data = changed("loss", "bce")
    data["layers"][1]["activation"] = "relu"
    with pytest.raises(ProblemError, match=r"layers\[1\].activation: expected sigmoid or softmax"):
        derive.parse_problem(data, source="p.yaml")


def test_a_valid_problem_is_frozen():
    problem = derive.parse_problem(GOOD, source="p.yaml")
    assert problem.widths == (2, 2, 2)
    with pytest.raises(AttributeError):
        problem.loss = "mse"


def test_yaml_is_loaded_safely(tmp_path: Path):
    hostile = tmp_path / "hostile.yaml"
    hostile.write_text("x: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(ProblemError, match="not valid YAML"):
        derive.load_problem(hostile)
    assert not (tmp_path / "pwned").exists()


def run_cli(*args, cwd):
    return subprocess.run([sys.executable, "-m", "derive", *args], cwd=cwd,
                          capture_output=True, text=True)


@pytest.mark.parametrize("text, words", [
    ("x: [1, 2\n", "not valid YAML at line"),
    ("- just\n- a list\n", "expected a mapping"),
    (yaml.safe_dump(changed("layers.0.activation", "swish")), "layers[0].activation"),
])
def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, text, words):
    problem = tmp_path / "bad.yaml"
    problem.write_text(text)
    out = tmp_path / "out"
    result = run_cli("solve", str(problem), "--out", str(out), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(problem) in lines[0] and words in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()


def test_cli_missing_file(tmp_path):
    result = run_cli("solve", "nowhere.yaml", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert result.returncode == 2
    assert "nowhere.yaml" in result.stderr and "Traceback" not in result.stderr


def test_cli_one_bad_file_among_good_ones_writes_nothing(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(GOOD))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(changed("loss", "hinge")))
    result = run_cli("solve", str(good), str(bad), "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert result.returncode == 2
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("text, value", [("1e-3", 1e-3), ("2.5E+2", 250.0), ("-1e2", -100.0)])
def test_exponent_numbers_are_numbers(tmp_path, text, value):
    # YAML 1.1 reads 1e-3 (no dot) as text; problem files read it as the number it shows.
    problem = tmp_path / "p.yaml"
    problem.write_text(yaml.safe_dump(changed("learning_rate", 0.5)).replace(
        "learning_rate: 0.5", f"learning_rate: {text}"))
    if value <= 0:
        with pytest.raises(ProblemError, match=f"learning_rate: expected a number greater "
                                               f"than 0, got {value!r}"):
            derive.load_problem(problem)
    else:
        assert derive.load_problem(problem).learning_rate == value


@pytest.mark.parametrize("mapping, field, message", [
    # a wrong type where a choice is expected lists the choices
    (changed("loss", 3), "loss", "expected 'bce', 'cce', 'half_sse', 'mse' or 'sse', got 3"),
    (changed("log_base", 3), "log_base", "expected 2, 10 or 'e', got 3"),
    # an unknown key inside a layer lists a layer's keys, not the problem's
    (changed("layers.1.bais", 0.1), "layers[1].bais",
     "unknown key; expected one of: activation, bias, leaky_slope, units, weights"),
    (changed("layers.0.bias", {"a": 1}), "layers[0].bias",
     "expected a number, a list or nothing, got a mapping"),
    (changed("layers.0.weights", []), "layers[0].weights",
     "expected a list of at least 1 item, got 0"),
    (changed("digits", 16), "digits", "expected a whole number less than or equal to 15, got 16"),
    (changed("layers.0.3", 1), "layers[0]", "expected names (text) as keys, got 3"),
    # msgspec names no key of a mapping: the one whose value has the wrong type is found
    ({"kind": "graph", "expression": "x*y", "values": {"x": 1, "y": "two"}}, "values.y",
     "expected a number, got text ('two')"),
    # the file's name is set by derive, never by the file
    ({"kind": "graph", "expression": "x*y", "values": {"x": 1, "y": 2}, "source": "x"},
     "source", "unknown key; expected one of: digits, expression, kind"),
])
def test_messages_name_what_was_expected_and_found(mapping, field, message):
    with pytest.raises(ProblemError) as caught:
        derive.parse_problem(mapping, source="p.yaml")
    assert caught.value.field == field
    assert message in caught.value.expected


def test_scripts_may_give_numpy_arrays_and_other_numbers():
    import fractions

    import numpy as np

    plain = derive.parse_problem(GOOD, source="script")
    mapping = {**GOOD, "x": np.array(GOOD["x"]), "learning_rate": fractions.Fraction(1, 2),
               "digits": np.int64(4),
               "layers": [{**layer, "weights": np.array(layer["weights"]),
                           "bias": np.float64(layer["bias"])} for layer in GOOD["layers"]]}
    assert derive.parse_problem(mapping, source="script") == plain
