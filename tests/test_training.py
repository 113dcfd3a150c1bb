"""Training a network for several epochs (kind: training).

Seed 004's four people are trained with the article's own algorithm as the oracle
(Victor Zhou's per-sample SGD, written out below as the article codes it); full-batch
training is compared with one core solution per epoch; random networks exercise every
activation and loss against the plain-Python re-run built into the check.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
from dataclasses import replace

import numpy as np
import pytest
from conftest import agrees_to_printed_digits, published, solved
from hypothesis import HealthCheck, given, settings
from test_derivation import problems

import derive
from derive import training
from derive.network import Network

needs_pdflatex = pytest.mark.skipif(
    shutil.which("pdflatex") is None and not os.environ.get("CI"),
    reason="pdflatex is not installed (CI installs it, and there this test runs)")

PEOPLE = [([-2, -1], 1), ([25, 6], 0), ([17, 4], 0), ([-15, -6], 1)]  # Alice … Diana


def zhou(epochs: int) -> tuple[dict, list]:
    """The article's OurNeuralNetwork.train, from w = 1, b = 0 instead of random values.

    Returns:
        The parameters after training and the loss over all four after each epoch.
    """
    sigmoid = lambda v: 1 / (1 + math.exp(-v))
    deriv = lambda v: sigmoid(v) * (1 - sigmoid(v))
    w1 = w2 = w3 = w4 = w5 = w6 = 1.0
    b1 = b2 = b3 = 0.0
    losses = []
    for _ in range(epochs):
        for x, y_true in PEOPLE:
            sum_h1 = w1 * x[0] + w2 * x[1] + b1
            h1 = sigmoid(sum_h1)
            sum_h2 = w3 * x[0] + w4 * x[1] + b2
            h2 = sigmoid(sum_h2)
            sum_o1 = w5 * h1 + w6 * h2 + b3
            y_pred = sigmoid(sum_o1)
            d_L_d_ypred = -2 * (y_true - y_pred)
            d_ypred_d_w5, d_ypred_d_w6 = h1 * deriv(sum_o1), h2 * deriv(sum_o1)
            d_ypred_d_b3 = deriv(sum_o1)
            d_ypred_d_h1, d_ypred_d_h2 = w5 * deriv(sum_o1), w6 * deriv(sum_o1)
            d_h1_d_w1, d_h1_d_w2, d_h1_d_b1 = (x[0] * deriv(sum_h1), x[1] * deriv(sum_h1),
                                               deriv(sum_h1))
            d_h2_d_w3, d_h2_d_w4, d_h2_d_b2 = (x[0] * deriv(sum_h2), x[1] * deriv(sum_h2),
                                               deriv(sum_h2))
            learn_rate = 0.1
            w1 -= learn_rate * d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w1
            w2 -= learn_rate * d_L_d_ypred * d_ypred_d_h1 * d_h1_d_w2
            b1 -= learn_rate * d_L_d_ypred * d_ypred_d_h1 * d_h1_d_b1
            w3 -= learn_rate * d_L_d_ypred * d_ypred_d_h2 * d_h2_d_w3
            w4 -= learn_rate * d_L_d_ypred * d_ypred_d_h2 * d_h2_d_w4
            b2 -= learn_rate * d_L_d_ypred * d_ypred_d_h2 * d_h2_d_b2
            w5 -= learn_rate * d_L_d_ypred * d_ypred_d_w5
            w6 -= learn_rate * d_L_d_ypred * d_ypred_d_w6
            b3 -= learn_rate * d_L_d_ypred * d_ypred_d_b3
        loss = 0.0
        for x, y_true in PEOPLE:
            h1 = sigmoid(w1 * x[0] + w2 * x[1] + b1)
            h2 = sigmoid(w3 * x[0] + w4 * x[1] + b2)
            loss += (y_true - sigmoid(w5 * h1 + w6 * h2 + b3)) ** 2
        losses.append(loss / len(PEOPLE))
    parameters = {"w1": w1, "w2": w2, "w3": w3, "w4": w4, "w5": w5, "w6": w6,
                  "b1": b1, "b2": b2, "b3": b3}
    return parameters, losses


# --- seed 004: per-sample SGD, the article's algorithm ------------------------------------

def test_seed_004_sgd_is_the_articles_training_loop():
    parameters, losses = zhou(1000)
    data = published("training_zhou_sgd")
    for name, value in parameters.items():
        assert math.isclose(data["parameters"]["final"][name], value, rel_tol=1e-9), name
    assert np.allclose(data["losses"][1:], losses, rtol=1e-9, atol=0)


def test_seed_004_update_1_is_the_articles_alice_example():
    # Update 1 uses Alice alone: exactly problems/zhou_alice.yaml, the article's worked
    # example (its printed values, and where they are wrong, are tested in test_seeds.py).
    first = published("training_zhou_sgd")["first_update"]
    alice = published("zhou_alice")
    assert first["quantities"] == alice["quantities"]
    assert first["updated"] == alice["updated"]
    q = first["quantities"]
    assert agrees_to_printed_digits(q["h1"], "0.0474")
    assert agrees_to_printed_digits(q["y_pred"], "0.524")
    assert agrees_to_printed_digits(q["dL/dw1"], "0.0215")  # article: 0.0214, rounded factors
    markdown = solved("training_zhou_sgd").to_markdown()
    assert "The first update uses Alice alone" in markdown
    assert "&= \\left(-0.2376\\right) \\cdot 0.04518 \\cdot \\left(-2\\right) \\\\\n&= 0.02147" \
        in markdown


def test_seed_004_sgd_tables():
    data = published("training_zhou_sgd")
    assert len(data["losses"]) == 1001
    markdown = solved("training_zhou_sgd").to_markdown()
    assert "| 0 | 0.5071 |" in markdown and "| 1000 | 0.002393 |" in markdown
    assert "| Alice | 1 | 0.5237 | 0.9402 |" in markdown
    assert "| Emily |  | 0.5 | 0.9468 |" in markdown
    assert "| $w_{5}$ | 1 | -3.032 |" in markdown
    predictions = {p["name"]: p for p in data["predictions"]}
    for name, (x, y) in zip(["Alice", "Bob", "Charlie", "Diana"], PEOPLE):
        assert abs(predictions[name]["after"][0] - y) < 0.07  # trained: every person right
    assert predictions["Emily"]["after"][0] > 0.9
    assert predictions["Frank"]["after"][0] < 0.1


def test_seed_004_finite_differences_of_alices_loss():
    table = published("training_zhou_sgd")["finite_differences"]
    gradient = published("zhou_alice")["gradients"]["w1"]
    assert math.isclose(table["gradient"], gradient, rel_tol=1e-12)
    errors = [(row["forward_error"], row["central_error"]) for row in table["rows"]]
    for (f1, c1), (f2, c2) in itertools.pairwise(errors):
        assert 9 < f1 / f2 < 11 and 90 < c1 / c2 < 110  # O(eps) and O(eps^2)
    markdown = solved("training_zhou_sgd").to_markdown()
    assert "&= \\frac{0.2288 - 0.2269}{0.1} \\\\\n&= 0.01967" in markdown


# --- full batch: one core solution per epoch ---------------------------------------------

def _network(weights: dict) -> dict:
    w = weights
    return {"notation": "zhou", "samples": [{"x": x, "y": y} for x, y in PEOPLE], "loss": "mse",
            "learning_rate": 0.1,
            "layers": [{"activation": "sigmoid", "weights": [[w["w1"], w["w2"]],
                                                              [w["w3"], w["w4"]]],
                        "bias": [w["b1"], w["b2"]]},
                       {"activation": "sigmoid", "weights": [[w["w5"], w["w6"]]],
                        "bias": [w["b3"]]}]}


def test_full_batch_training_is_one_core_update_per_epoch():
    weights = {"w1": 1, "w2": 1, "w3": 1, "w4": 1, "w5": 1, "w6": 1, "b1": 0, "b2": 0, "b3": 0}
    solution = derive.solve(derive.parse_problem(
        {**_network(weights), "kind": "training", "epochs": 3, "mode": "batch"}))
    for _ in range(3):
        weights = derive.solve(derive.parse_problem(_network(weights))).updated
    for name, value in weights.items():
        assert math.isclose(solution.final[name], value, rel_tol=1e-12, abs_tol=1e-15), name


def test_seed_004_batch_writes_every_sample_of_update_1():
    markdown = solved("training_zhou_batch").to_markdown()
    assert "The first update uses all 4 samples" in markdown
    assert "1 is Alice, 2 is Bob, 3 is Charlie, 4 is Diana." in markdown
    assert "### Gradients of the batch loss" in markdown
    first = published("training_zhou_batch")["first_update"]
    assert len(first["gradients"]) == 9
    data = published("training_zhou_batch")
    assert data["losses"][-1] > 4 * published("training_zhou_sgd")["losses"][-1]


# --- random networks: every activation and loss ----------------------------------------

@settings(max_examples=10, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(problems(max_depth=2, max_width=3))
def test_random_networks_train_and_pass_the_plain_python_re_run(mapping):
    for mode in ("batch", "sgd"):
        problem = derive.parse_problem({**mapping, "kind": "training", "epochs": 2,
                                        "mode": mode})
        layout = training.Layout(problem.network)
        assert layout.pids == Network(problem.network).parameters
        solution = derive.solve(problem)  # raises CrossCheckError on any disagreement
        assert solution.check.updates.compared == layout.initial.size * 2 * (
            len(problem.network.data) if mode == "sgd" else 1)
        assert json.loads(solution.to_json())["kind"] == "training"


def test_a_wrong_update_is_refused():
    solution = solved("training_zhou_sgd")
    parameters = solution.run.parameters.copy()
    parameters[2, 2] += 1e-6  # w3 after update 2
    with pytest.raises(derive.CrossCheckError, match="w3 after update 2.*plain-Python"):
        training.check_training(solution.problem, replace(solution.run, parameters=parameters),
                                solution.first)


def test_divergence_is_reported():
    mapping = {"kind": "training", "epochs": 300, "x": [1.0], "y": 3.0, "loss": "mse",
               "learning_rate": 10, "layers": [{"activation": "linear", "weights": [[1.0]]}]}
    with pytest.raises(derive.DeriveError, match="training diverged in epoch"):
        derive.solve(derive.parse_problem(mapping, source="t.yaml"))


# --- validation ------------------------------------------------------------------------

SMALL = {"kind": "training", "epochs": 2, "samples": [{"x": [1, 2], "y": 1}, {"x": [0, 1],
                                                                            "y": 0}],
         "loss": "mse", "learning_rate": 0.5,
         "layers": [{"activation": "sigmoid", "weights": [[0.1, 0.2]], "bias": 0.0}]}


@pytest.mark.parametrize("change, field, message", [
    ({"epoch": 3}, "epoch", "unknown key; expected one of: "),
    ({"mode": "minibatch"}, "mode", "expected 'batch' or 'sgd'"),
    ({"epochs": 0}, "epochs", "greater than or equal to 1"),
    ({"epochs": 200_001}, "epochs", "less than or equal to 100000"),
    ({"epochs": 100_000, "mode": "sgd", "samples": [{"x": [1, 2], "y": 1}] * 3}, "epochs",
     "at most 200000 updates in all, got 300000"),
    ({"sample_names": ["a"]}, "sample_names", "expected 2 names"),
    ({"predict": [{"name": "p", "x": [1]}]}, "predict[0].x", "expected 2 inputs"),
    ({"predict": [{"name": "p", "x": [1, 2], "y": 1}]}, "predict[0].y", "unknown key"),
    ({"finite_differences": {"parameter": "w9"}}, "finite_differences.parameter",
     "expected a parameter name such as w1, w2, b, got 'w9'"),
    ({"layers": [{"activation": "sigmoid", "weights": [[0.1]]}]}, "layers[0].weights[0]",
     "expected 2 numbers (one per input of the layer), got 1"),  # the core's own message
])
def test_invalid_training_problems_name_the_field(change, field, message):
    with pytest.raises(derive.ProblemError) as error:
        derive.parse_problem({**SMALL, **change}, source="t.yaml")
    assert error.value.field == field
    assert message in str(error.value)


def test_unknown_keys_list_network_and_training_fields():
    with pytest.raises(derive.ProblemError) as error:
        derive.parse_problem({**SMALL, "epoch": 3}, source="t.yaml")
    assert "epochs" in str(error.value) and "learning_rate" in str(error.value)


def test_sgd_solves_the_first_sample_in_full_and_batch_all_of_them():
    sgd = derive.parse_problem({**SMALL, "mode": "sgd"})
    batch = derive.parse_problem(SMALL)
    assert len(sgd.first.data) == 1 and sgd.first.data[0] == SMALL_FIRST
    assert batch.first == batch.network and len(batch.first.data) == 2


SMALL_FIRST = derive.parse_problem({**SMALL, "mode": "sgd"}).network.data[0]


# --- output ---------------------------------------------------------------------------

def test_write_puts_the_loss_curve_beside_the_markdown(tmp_path):
    written = solved("training_zhou_sgd").write(tmp_path, formats=("md", "tex"), stem="zhou")
    assert sorted(p.name for p in written) == ["zhou.loss.svg", "zhou.md", "zhou.tex"]
    assert "![The loss per epoch](zhou.loss.svg)" in (tmp_path / "zhou.md").read_text()


@needs_pdflatex
def test_latex_of_a_large_batch_in_matrix_form_with_hostile_names_compiles(tmp_path):
    from test_render import compile_latex

    mapping = {**SMALL, "title": "Net #1 & $2", "sample_names": ["a_b", "50% {x}"],
               "max_listed_parameters": 0, "finite_differences": {"parameter": "w2"}}
    latex = derive.solve(derive.parse_problem(mapping)).to_latex()
    assert r"a\_b" in latex and r"50\% \{x\}" in latex
    assert "The network in matrix form" in latex
    assert compile_latex(latex, tmp_path).stat().st_size > 1000
