"""Problems of kind `graph`: the seeds' computational graphs, value by value, the
independent cross-check, the picture, validation, and every output format."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from xml.etree import ElementTree

import pytest
import sympy
from conftest import PROBLEMS, ROOT, agrees_to_printed_digits, published, solved
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import derive
from derive.errors import CrossCheckError, ProblemError
from derive.expression import parse_expression
from derive.graph_problem import cross_check

DERIVE = str(Path(sys.executable).with_name("derive"))
GRAPHS = sorted(path.stem for path in PROBLEMS.glob("graph_*.yaml"))
needs_pdflatex = pytest.mark.skipif(
    shutil.which("pdflatex") is None and not os.environ.get("CI"),
    reason="pdflatex is not installed (CI installs it, and there this test runs)")


def parse(mapping: dict):
    return derive.parse_problem({"kind": "graph", **mapping}, source="test.yaml")


# --- seed 003: f(x, y, z) = (x + y)z at (-2, 5, -4) -----------------------------------------

SEED_003 = [  # every number the slides print; all of them right
    ("values", "q", "3"),
    ("values", "f", "-12"),
    ("gradients", "z", "3"),    # df/dz = q = 3
    ("gradients", "q", "-4"),   # df/dq = z = -4
    ("gradients", "x", "-4"),   # df/dx = df/dq dq/dx = -4 * 1
    ("gradients", "y", "-4"),
    ("gradients", "f", "1"),    # df/df = 1
]


@pytest.mark.parametrize("group, name, printed", SEED_003)
def test_seed_003_every_printed_value(group, name, printed):
    data = published("graph_seed_003")
    value = ({n["name"]: n["value"] for n in data["nodes"]} if group == "values"
             else data["gradients"])[name]
    assert agrees_to_printed_digits(value, printed)


def test_seed_003_lines_as_the_slides_write_them():
    markdown = solved("graph_seed_003").to_markdown()
    assert r"\frac{\partial f}{\partial z} &= q \\" + "\n&= 3" in markdown
    assert r"\frac{\partial f}{\partial q} &= z \\" + "\n&= -4" in markdown
    assert (r"\frac{\mathrm{d} f}{\mathrm{d} y} &= \frac{\mathrm{d} f}{\mathrm{d} q} \cdot "
            r"\frac{\partial q}{\partial y} \\" + "\n" + r"&= \left(-4\right) \cdot 1 \\"
            + "\n&= -4"
            in markdown)
    assert "| $q$ | $x + y$ | $-2 + 5$ | $3$ |" in markdown  # the forward table


# --- seed 004: J = cos(sin(x²) + 3x²), at x = 1 (the slides give no x) ----------------------

def test_seed_004_nodes_as_on_the_slide():
    data = published("graph_seed_004")
    assert [(n["name"], n["expression"]) for n in data["nodes"]] == [
        ("a", "x**2"), ("b", "sin(a)"), ("c", "3*x**2"), ("d", "b + c"), ("J", "cos(d)")]


def test_seed_004_both_paths_and_their_sum():
    x = sympy.Symbol("x")
    truth = sympy.diff(sympy.cos(sympy.sin(x**2) + 3 * x**2), x).subs(x, 1)
    data = published("graph_seed_004")
    assert data["gradients"]["x"] == pytest.approx(float(truth), rel=1e-15)
    assert [path["factors"] for path in data["paths"]["x"]] == [
        ["dJ/dd", "dd/db", "db/da", "da/dx"], ["dJ/dd", "dd/dc", "dc/dx"]]
    assert sum(path["value"] for path in data["paths"]["x"]) == pytest.approx(
        data["gradients"]["x"], rel=1e-14)
    markdown = solved("graph_seed_004").to_markdown()
    partial = lambda num, den: rf"\frac{{\partial {num}}}{{\partial {den}}}"
    assert (" \\cdot ".join([partial("J", "d"), partial("d", "b"), partial("b", "a"),
                             partial("a", "x")]) + " + " +
            " \\cdot ".join([partial("J", "d"), partial("d", "c"), partial("c", "x")])
            in markdown)
    # Where the paths meet: the sum over the parents a and c (micrograd's +=).
    assert (r"\frac{\mathrm{d} J}{\mathrm{d} a} \cdot \frac{\partial a}{\partial x} + "
            r"\frac{\mathrm{d} J}{\mathrm{d} c} \cdot \frac{\partial c}{\partial x}" in markdown)
    assert "x = 1 is chosen here" in markdown


def test_seed_003_squared_error_gradient():
    # Seed 003's gradient-descent example: dL/dw = -2x(y - wx) = -24 at x=3, y=10, w=2.
    data = published("graph_squared_error")
    assert data["gradients"]["w"] == -24
    assert data["gradients"]["x"] == -16 and data["gradients"]["y"] == 8


# --- the cross-check ---------------------------------------------------------------------------

def test_cross_check_reports_what_it_compared():
    check = published("graph_seed_004")["check"]
    assert check["values_compared"] == 5 and check["sympy_compared"] == 5
    assert check["finite_differences_compared"] == 5
    assert check["finite_differences_max_rel"] < 1e-20


def test_a_wrong_gradient_is_refused():
    graph = parse({"expression": "sin(x) * y", "values": {"x": 0.5, "y": 2}}).graph()
    wrong = tuple(replace(g, approx=g.approx + sympy.Float("1e-9"))
                  if g.target == "x" else g for g in graph.gradients)
    with pytest.raises(CrossCheckError, match="df/dx"):
        cross_check(replace(graph, gradients=wrong))


def test_a_wrong_value_is_refused():
    graph = parse({"expression": "sin(x) * y", "values": {"x": 0.5, "y": 2}}).graph()
    nodes = (replace(graph.nodes[0], approx=sympy.Float(0.48, 30)), *graph.nodes[1:])
    with pytest.raises(CrossCheckError, match="direct evaluation"):
        cross_check(replace(graph, nodes=nodes))


def test_finite_differences_skip_a_kink_and_say_so():
    solution = derive.solve(parse({"expression": "relu(x) + x*y", "values": {"x": 0, "y": 2}}))
    assert solution.gradients["x"] == 2  # relu'(0) = 0 by convention
    assert solution.report.fd_skipped == ("df/dx (relu at its kink)",)
    assert "Not compared with finite differences: df/dx (relu at its kink)." in \
        solution.to_markdown()


LEAVES = st.sampled_from(["x", "y", "z", "2", "0.5"])
FUNCTIONS = ["exp", "log", "sin", "cos", "tanh", "sigmoid", "sqrt"]


def _combine(children):
    return st.one_of(
        st.tuples(children, st.sampled_from("+-*/"), children).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"),
        st.tuples(st.sampled_from(FUNCTIONS), children).map(lambda t: f"{t[0]}({t[1]})"),
        st.tuples(children, st.sampled_from(["2", "3"])).map(lambda t: f"({t[0]})^{t[1]}"))


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.filter_too_much])
@given(st.recursive(LEAVES, _combine, max_leaves=6), st.integers(-20, 20),
       st.integers(-20, 20), st.integers(-20, 20))
def test_random_expressions_solve_and_match_sympy(text, xv, yv, zv):
    given_values = {"x": xv / 10 + 0.05, "y": yv / 10 + 0.05, "z": zv / 10 + 0.05}
    try:
        names = {s.name for s in parse_expression(text, variables=["x", "y", "z"]).free_symbols}
        values = {name: given_values[name] for name in sorted(names)}
        assume(values)
        problem = parse({"expression": text, "values": values})
    except ProblemError:
        assume(False)  # undefined at the point: log of a negative, 1/0, …
    solution = derive.solve(problem)
    expr = problem.parsed()
    point = {s: sympy.Rational(str(values[s.name])) for s in expr.free_symbols}
    for symbol in expr.free_symbols:
        reference = sympy.N(sympy.diff(expr, symbol).xreplace(point), 30)
        assert solution.gradients[symbol.name] == pytest.approx(float(reference), rel=1e-12,
                                                                abs=1e-12)
    assert "$$" in solution.to_markdown() and solution.to_latex().endswith("\\end{document}\n")


# --- validation --------------------------------------------------------------------------------

BAD = [
    ({"expression": "(x + y) * z", "values": {"x": 1, "y": 2, "z": 3}, "colour": "red"},
     "test.yaml: colour: unknown key; expected one of:"),
    ({"values": {"x": 1}}, "test.yaml: expression: required field is missing"),
    ({"expression": "x", "values": {}}, "test.yaml: values:"),
    ({"expression": "x", "values": {"x": True}}, "test.yaml: values.x: expected a number"),
    ({"expression": "__import__('os')", "values": {"x": 1}},
     "test.yaml: expression: '__import__' at column 1 is not an allowed function"),
    ({"expression": "x.__class__", "values": {"x": 1}},
     "test.yaml: expression: attribute access '.__class__' is not allowed at column 3"),
    ({"expression": "(lambda: x)()", "values": {"x": 1}}, "'lambda: x' at column 2 is not one"),
    ({"expression": "lambda: x", "values": {"x": 1}}, "a lambda 'lambda: x' is not allowed"),
    ({"expression": "9**9**9", "values": {"x": 1}}, "is too large"),
    ({"expression": "(" * 200 + "x" + ")" * 200, "values": {"x": 1}}, "nested more than 50"),
    ({"expression": "x + q", "values": {"x": 1}}, "expression: unknown name 'q' at column 5"),
    ({"expression": "x", "values": {"x": 1, "y": 2}}, "values: a value is given for 'y'"),
    ({"expression": "log(x)", "values": {"x": -1}}, "values: f = log(x) is"),
    ({"expression": "x * y", "values": {"x": 1, "y": 2}, "output": "x"},
     "output: node name 'x' is the name of a variable"),
    ({"expression": "(x + y) * z", "values": {"x": 1, "y": 2, "z": 3}, "node_names": ["z"]},
     "node_names[0]: node name 'z' is the name of a variable"),
]


@pytest.mark.parametrize("mapping, message", BAD)
def test_bad_problems_are_one_clear_line(mapping, message):
    with pytest.raises(ProblemError) as caught:
        parse(mapping)
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_hostile_expression_in_a_file_exits_2_and_writes_nothing(tmp_path):
    problem = tmp_path / "evil.yaml"
    problem.write_text('kind: graph\nexpression: "__import__(\'os\').system(\'touch pwned\')"\n'
                       "values: {x: 1}\n")
    result = subprocess.run([DERIVE, "solve", str(problem), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=tmp_path, check=False)
    assert result.returncode == 2
    assert "can be called" in result.stderr and "at column 1 is not one" in result.stderr
    assert not (tmp_path / "out").exists() and not (tmp_path / "pwned").exists()


# --- output --------------------------------------------------------------------------------------

def test_cli_writes_the_picture_beside_the_markdown(tmp_path):
    result = subprocess.run([DERIVE, "solve", str(PROBLEMS / "graph_seed_003.yaml"),
                             "--format", "md,json", "--out", str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "graph_seed_003.json", "graph_seed_003.md", "graph_seed_003.svg"]
    assert "](graph_seed_003.svg)" in (tmp_path / "graph_seed_003.md").read_text()


def test_write_names_the_picture_after_the_stem(tmp_path):
    written = solved("graph_seed_004").write(tmp_path, formats=("md",), stem="exam")
    assert [p.name for p in written] == ["exam.md", "exam.svg"]
    assert "](exam.svg)" in (tmp_path / "exam.md").read_text()
    assert [p.name for p in solved("graph_seed_004").write(tmp_path / "t", formats=("tex",),
                                                             stem="exam")] == ["exam.tex"]


@pytest.mark.parametrize("name", GRAPHS)
def test_picture_is_up_to_date_and_well_formed(name):
    shipped = (ROOT / "output" / f"{name}.svg").read_text(encoding="utf-8")
    assert shipped == solved(name).render("svg"), (
        "output/ is stale: regenerate it with "
        "`derive solve problems/*.yaml --format md,tex --out output`")
    root = ElementTree.fromstring(shipped)
    texts = [element.text for element in root.iter("{http://www.w3.org/2000/svg}text")]
    data = published(name)
    for node in data["nodes"]:
        assert any(text and text.startswith(f"{node['name']} =") for text in texts)


def test_picture_places_every_box_apart():
    figure_boxes = solved("graph_seed_004").render("svg")
    root = ElementTree.fromstring(figure_boxes)
    boxes = [(float(r.get("x")), float(r.get("y")), float(r.get("width")), float(r.get("height")))
             for r in root.iter("{http://www.w3.org/2000/svg}rect") if r.get("rx")]
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1:]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1


def test_json_holds_nodes_gradients_and_paths():
    data = published("graph_seed_003")
    assert data["kind"] == "graph" and data["output"] == "f"
    assert data["inputs"] == {"x": -2, "y": 5, "z": -4}
    assert {"nodes", "local_derivatives", "gradients", "paths", "check"} <= set(data)
    assert json.loads(solved("graph_seed_003").to_json()) == data


def test_user_text_is_escaped():
    hostile = r"Exam #1: 100% of $5 & a_b {c} \input{/etc/passwd}"
    solution = derive.solve(parse({"expression": "x*y", "values": {"x": 1, "y": 2},
                                   "title": hostile, "note": hostile}))
    assert r"\input{/etc/passwd}" not in solution.to_latex()
    assert "<title>Exam #1: 100% of $5 &amp; a_b" in solution.render("svg")


@needs_pdflatex
@pytest.mark.parametrize("name", GRAPHS)
def test_graph_latex_with_tikz_compiles(name, tmp_path):
    from test_render import compile_latex

    assert compile_latex(solved(name).to_latex(), tmp_path).stat().st_size > 1000
