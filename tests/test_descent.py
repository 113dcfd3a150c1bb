"""Gradient descent on a scalar loss (kind: descent) and the finite-difference table.

Seed 003's example is checked value by value against the slide and against the closed
form of the run; random losses compare SymPy's derivative with a central difference
of the same loss written as a Python function (independent of the parser and of SymPy).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import pytest
from conftest import PROBLEMS, agrees_to_printed_digits, published, solved
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import derive
from derive import descent
from derive.expression import parse_expression

DERIVE = str(Path(sys.executable).with_name("derive"))
needs_pdflatex = pytest.mark.skipif(
    shutil.which("pdflatex") is None and not os.environ.get("CI"),
    reason="pdflatex is not installed (CI installs it, and there this test runs)")

SEED_003 = "descent_seed003"


def descent_problem(**fields) -> dict:
    mapping = {"kind": "descent", "loss": "(y - w*x)^2", "parameter": "w",
               "values": {"x": 3, "y": 10}, "start": 2, "learning_rate": 0.1, "steps": 5}
    mapping.update(fields)
    return mapping


def solve(mapping: dict):
    return derive.solve(derive.parse_problem(mapping, source="test"))


# --- seed 003: L(w) = (y - wx)^2, x = 3, y = 10, w0 = 2, eta = 0.1 -------------------------

def test_seed_003_the_slide_values():
    # Slide: dL/dw = -2x(y - wx) = -24, w_new = 4.4 (both exact, nothing rounded).
    data = published(SEED_003)
    first, second = data["iterates"][0], data["iterates"][1]
    assert agrees_to_printed_digits(first["gradient"], "-24")
    assert agrees_to_printed_digits(second["w"], "4.4")
    assert (first["exact"]["gradient"], second["exact"]["w"]) == ("-24", "22/5")
    assert data["derivative"] == "-2*x*(-w*x + y)"  # SymPy's -2x(y - wx)


def test_seed_003_step_1_is_written_in_three_lines():
    markdown = solved(SEED_003).to_markdown()
    assert (r"\frac{\partial L}{\partial w} &= - 2 \cdot x \cdot \left(y - w \cdot x\right)"
            in markdown)
    assert "&= - 2 \\cdot 3 \\cdot \\left(10 - 2 \\cdot 3\\right) \\\\\n&= -24" in markdown
    assert "&= 2 - 0.1 \\cdot \\left(-24\\right) \\\\\n&= 4.4" in markdown
    assert "&= \\left(10 - 2 \\cdot 3\\right)^{2} \\\\\n&= 16" in markdown


def test_seed_003_every_step_is_the_closed_form():
    # w_k = 10/3 + (-4/5)^k (2 - 10/3): each step multiplies the distance to the
    # minimum by 1 - 2 eta x^2 = -0.8; L(w_k) = 16 (16/25)^k.
    data = published(SEED_003)
    assert len(data["iterates"]) == 6
    for row in data["iterates"]:
        k = row["k"]
        w = Fraction(10, 3) + Fraction(-4, 5) ** k * (2 - Fraction(10, 3))
        assert Fraction(row["exact"]["w"]) == w
        assert Fraction(row["exact"]["loss"]) == 16 * Fraction(16, 25) ** k
        assert Fraction(row["exact"]["gradient"]) == -6 * (10 - 3 * w)
    markdown = solved(SEED_003).to_markdown()
    assert "| 1 | $4.4$ | $10.24$ | $19.2$ |" in markdown
    assert "| 5 | $3.7702$ | $1.718$ | $7.8643$ |" in markdown


def test_seed_003_finite_differences_are_the_closed_form():
    # (L(w + e) - L(w)) / e = -24 + 9e exactly; the central difference of a quadratic is exact.
    table = published(SEED_003)["finite_differences"]
    assert table["exact"] and table["gradient"] == -24
    assert [row["eps"] for row in table["rows"]] == [10.0 ** -n for n in range(1, 8)]
    for row in table["rows"]:
        assert math.isclose(row["forward"], -24 + 9 * row["eps"], rel_tol=1e-15)
        assert math.isclose(row["forward_error"], 9 * row["eps"], rel_tol=1e-12)
        assert (row["central"], row["central_error"]) == (-24, 0)
    markdown = solved(SEED_003).to_markdown()
    assert "| $10^{-1}$ | $-23.1$ | $9.0 \\cdot 10^{-1}$ | $-24$ | $0$ |" in markdown
    assert "&= \\left(10 - \\left(2 + 0.1\\right) \\cdot 3\\right)^{2} \\\\\n&= 13.69" in markdown
    assert "&= \\frac{13.69 - 16}{0.1} \\\\\n&= -23.1" in markdown
    assert "&= \\frac{13.69 - 18.49}{2 \\cdot 0.1} \\\\\n&= -24" in markdown


def test_seed_003_latex_has_the_same_lines_and_the_plot():
    latex = solved(SEED_003).to_latex()
    assert "&= 2 - 0.1 \\cdot \\left(-24\\right) \\\\\n&= 4.4" in latex
    assert "coordinates {(0,16) (1,10.24) (2,6.5536)" in latex
    assert "xtick={0,1,2,3,4,5}" in latex


# --- independent derivatives of random losses --------------------------------------------

def _sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


UNARY = [
    ("sin({})", math.sin), ("cos({})", math.cos), ("tanh({})", math.tanh),
    ("sigmoid({})", _sigmoid), ("exp(sin({}))", lambda v: math.exp(math.sin(v))),
    ("log(1 + ({})^2)", lambda v: math.log(1 + v * v)),
    ("sqrt(1 + ({})^2)", lambda v: math.sqrt(1 + v * v)), ("({})^2", lambda v: v * v),
]
BINARY = [
    ("({}) + ({})", lambda a, b: a + b), ("({}) - ({})", lambda a, b: a - b),
    ("({}) * ({})", lambda a, b: a * b), ("({}) / (1 + ({})^2)", lambda a, b: a / (1 + b * b)),
]


def _leaf():
    constant = st.sampled_from(["0.5", "1.5", "2", "3", "0.25"]).map(
        lambda c: (c, lambda w, x, c=float(c): c))
    return st.one_of(st.just(("w", lambda w, x: w)), st.just(("x", lambda w, x: x)), constant)


def _extend(children):
    unary = st.tuples(st.sampled_from(UNARY), children).map(
        lambda t: (t[0][0].format(t[1][0]), lambda w, x, f=t[0][1], g=t[1][1]: f(g(w, x))))
    binary = st.tuples(st.sampled_from(BINARY), children, children).map(
        lambda t: (t[0][0].format(t[1][0], t[2][0]),
                   lambda w, x, f=t[0][1], g=t[1][1], h=t[2][1]: f(g(w, x), h(w, x))))
    return st.one_of(unary, binary)


losses = st.recursive(_leaf(), _extend, max_leaves=5)
points = st.integers(-200, 200).map(lambda n: n / 100)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(losses, points, points)
def test_derivatives_of_random_losses_match_central_differences(loss, w0, x0):
    text, function = loss
    names = {s.name for s in parse_expression(text, variables=("w", "x")).free_symbols}
    assume("w" in names)  # "(w) - (w)" is 0, which is refused
    values = {"x": x0} if "x" in names else {}
    solution = solve(descent_problem(loss=text, values=values, start=w0,
                                     learning_rate=0.01, steps=2, finite_differences=None))
    data = json.loads(solution.to_json())
    h = 1e-5
    for row in data["iterates"]:
        w = row["w"]
        f = function(w, x0)
        central = (function(w + h, x0) - function(w - h, x0)) / (2 * h)
        assert abs(row["gradient"] - central) <= 1e-6 * max(1, abs(row["gradient"]), abs(f))
        assert math.isclose(row["loss"], f, rel_tol=1e-9, abs_tol=1e-12)
    for before, after in itertools.pairwise(data["iterates"]):
        expected = before["w"] - 0.01 * before["gradient"]
        assert math.isclose(after["w"], expected, rel_tol=1e-12, abs_tol=1e-15)


# --- arithmetic, checks and refusals ---------------------------------------------------

def test_a_transcendental_loss_is_run_with_60_digits():
    solution = solve(descent_problem(loss="sigmoid(w*x) - y*log(1 + exp(w))", steps=3))
    assert not any(iterate.exact for iterate in solution.iterates)
    assert solution.table is not None and not solution.table.exact
    assert "Computed with 60 significant digits" in solution.to_markdown()
    # The forward difference's error shrinks with eps, the central one's with eps^2.
    errors = [(float(r.forward_error), float(r.central_error)) for r in solution.table.rows]
    for (f1, c1), (f2, c2) in itertools.pairwise(errors):
        assert 5 < f1 / f2 < 20 and 50 < c1 / c2 < 200


def test_fractions_too_long_switch_to_60_digits():
    # Each step cubes the denominator: exact arithmetic stops before the fractions explode.
    solution = solve(descent_problem(loss="w^4/4", values={}, start=0.3, learning_rate=0.7,
                                     steps=12, finite_differences=None))
    exactness = [iterate.exact for iterate in solution.iterates]
    assert exactness[0] and not exactness[-1]
    assert exactness == sorted(exactness, reverse=True)
    w = 0.3
    for iterate in solution.iterates:
        assert math.isclose(float(iterate.w), w, rel_tol=1e-12)
        w -= 0.7 * w ** 3


def test_a_wrong_derivative_is_refused():
    problem = derive.parse_problem(descent_problem(), source="test")
    wrong = descent.run(problem, 2 * (problem.loss.diff(problem.parameter)))
    with pytest.raises(derive.CrossCheckError, match=r"dL/dw\(w_0\).*mpmath central"):
        descent.check_descent(problem, wrong)


@pytest.mark.parametrize("change, field, message", [
    ({"lossy": 1}, "lossy", "unknown key; expected one of: digits, finite_differences"),
    ({"loss": "(y - v*x)^2"}, "loss", "unknown name 'v'"),
    ({"loss": "(y - x)^2"}, "loss", "expected a formula in the parameter w"),
    ({"values": {"x": 3, "y": 10, "z": 1}}, "values.z", "z does not appear"),
    ({"values": {"x": 3, "y": 10, "w": 1}}, "values.w", "w is the parameter"),
    ({"learning_rate": 0}, "learning_rate", "greater than 0"),
    ({"start": True}, "start", "expected a number, got a boolean"),
    ({"steps": 0}, "steps", "greater than or equal to 1"),
    ({"finite_differences": {"epsilons": []}}, "finite_differences.epsilons", "at least 1"),
    ({"finite_differences": {"eps": [1]}}, "finite_differences.eps",
     "unknown key; expected one of: epsilons"),
])
def test_invalid_problems_name_the_field(change, field, message):
    with pytest.raises(derive.ProblemError) as error:
        derive.parse_problem(descent_problem(**change), source="p.yaml")
    assert error.value.field == field
    assert message in str(error.value)


def test_a_loss_undefined_along_the_run_is_a_problem_error():
    # w1 = 0.5 - 1·(1/0.5) = -1.5, where log has no real value.
    with pytest.raises(derive.ProblemError, match="step 1: .* no real value"):
        solve(descent_problem(loss="log(w)", values={}, start=0.5, learning_rate=1, steps=2))


# --- output -------------------------------------------------------------------------

def test_write_puts_the_plot_beside_the_markdown_byte_for_byte_the_same(tmp_path):
    solution = solved(SEED_003)
    first = solution.write(tmp_path / "a", formats=("md", "tex", "json"), stem="run")
    solution.write(tmp_path / "b", formats=("md", "tex", "json"), stem="run")
    assert sorted(p.name for p in first) == ["run.json", "run.loss.svg", "run.md", "run.tex"]
    for path in first:
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes()
    assert "![The loss per step](run.loss.svg)" in (tmp_path / "a" / "run.md").read_text()
    svg = (tmp_path / "a" / "run.loss.svg").read_text()
    assert svg.startswith("<?xml") and "<dc:date>" not in svg and "Matplotlib v" not in svg
    assert solution.write(tmp_path / "c", formats=("json",)) == [tmp_path / "c" / "solution.json"]


def test_a_broken_template_writes_nothing(tmp_path):
    (tmp_path / "descent.md.j2").write_text("{{ no_such_variable }}")
    problem = derive.parse_problem(descent_problem(), source="test")
    solution = derive.solve(problem, template_dir=tmp_path)
    with pytest.raises(derive.DeriveError, match="no_such_variable"):
        solution.write(tmp_path / "out", formats=("json", "md"))
    assert not (tmp_path / "out").exists()


def test_cli_solves_a_descent_problem(tmp_path):
    result = subprocess.run([DERIVE, "solve", str(PROBLEMS / f"{SEED_003}.yaml"), "--format",
                             "md,json", "--out", str(tmp_path)], capture_output=True, text=True,
                             check=False)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"{SEED_003}.json", f"{SEED_003}.loss.svg", f"{SEED_003}.md"]


def test_cli_reports_an_invalid_descent_problem(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("kind: descent\nloss: '(y - w*x)^2'\nparameter: w\nstart: 2\n"
                    "learning_rate: 0.1\nsteps: 3\n")
    result = subprocess.run([DERIVE, "solve", str(path), "--out", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "bad.yaml: loss: unknown name 'y'" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.yaml"]


@needs_pdflatex
def test_latex_compiles_without_the_table_and_with_hostile_text(tmp_path):
    from test_render import compile_latex

    solution = solve(descent_problem(title=r"Quiz #2: 100% & $5 {x_1}", loss="exp(sin(w*x))",
                                     values={"x": 3}, finite_differences=None, steps=30))
    latex = solution.to_latex()
    assert r"Quiz \#2: 100\% \& \$5 \{x\_1\}" in latex and "Finite differences" not in latex
    assert compile_latex(latex, tmp_path).stat().st_size > 1000
