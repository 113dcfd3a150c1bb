"""Tests of derive.graph: nodes, local derivatives and the backward pass, on the
slides' worked examples and against sympy.diff of the whole expression."""

from __future__ import annotations

from fractions import Fraction

import mpmath
import pytest
import sympy
from expression_texts import expression_texts
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from derive.errors import ProblemError
from derive.expression import parse_expression, relu, sigmoid
from derive.graph import MAX_PATHS, build_graph

x, y, z, w, b = sympy.symbols("x y z w b", real=True)


def close(value, expected, tolerance=1e-12) -> bool:
    value, expected = complex(value), complex(expected)
    return abs(value - expected) <= tolerance * max(1.0, abs(expected))


def factor_names(path) -> list[str]:
    return [f"d{factor.node}/d{factor.child}" for factor in path.factors]


# --- seed 003: f(x, y, z) = (x + y)z at (−2, 5, −4) -------------------------------------

@pytest.fixture
def seed_003():
    expr = parse_expression("(x + y) * z", variables=["x", "y", "z"])
    return build_graph(expr, {"x": -2, "y": 5, "z": -4}, node_names=("q",))


def test_seed_003_forward(seed_003):
    assert [node.name for node in seed_003.nodes] == ["q", "f"]
    q, f = seed_003.nodes
    assert (q.expression, q.children, q.value) == (x + y, ("x", "y"), 3)
    assert f.expression == sympy.Symbol("q", real=True) * z
    assert f.value == -12


def test_seed_003_backward(seed_003):
    gradient = {g.target: g.value for g in seed_003.gradients}
    assert gradient == {"f": 1, "q": -4, "z": 3, "x": -4, "y": -4}
    assert seed_003.derivative("f", "z").expression == sympy.Symbol("q", real=True)
    assert seed_003.derivative("f", "q").value == -4
    assert seed_003.derivative("q", "x").expression == 1
    assert factor_names(seed_003.gradient("y").paths[0]) == ["df/dq", "dq/dy"]
    assert seed_003.gradient("f").paths[0].factors == ()


def test_default_names_are_letters_in_order():
    expr = parse_expression("(x + y) * z", variables=["x", "y", "z"])
    graph = build_graph(expr, {"x": -2, "y": 5, "z": -4})
    assert [node.name for node in graph.nodes] == ["a", "f"]


# --- seed 004: J = cos(sin(x²) + 3x²) ---------------------------------------------------

@pytest.fixture
def seed_004():
    expr = parse_expression("cos(sin(x^2) + 3*x^2)", variables=["x"])
    return build_graph(expr, {"x": 0.5}, output_name="J")


def test_seed_004_nodes(seed_004):
    a, b_, c, d = sympy.symbols("a b c d", real=True)
    assert [(n.name, n.expression, n.children) for n in seed_004.nodes] == [
        ("a", x**2, ("x",)),
        ("b", sympy.sin(a), ("a",)),
        ("c", 3 * x**2, ("x",)),
        ("d", b_ + c, ("b", "c")),
        ("J", sympy.cos(d), ("d",)),
    ]
    assert seed_004.node("a").value == sympy.Rational(1, 4)
    assert seed_004.node("c").value == sympy.Rational(3, 4)


def test_seed_004_local_derivatives(seed_004):
    a, d = sympy.symbols("a d", real=True)
    expected = {("J", "d"): -sympy.sin(d), ("d", "b"): 1, ("d", "c"): 1,
                ("b", "a"): sympy.cos(a), ("a", "x"): 2 * x, ("c", "x"): 6 * x}
    assert {(e.node, e.child): e.expression for e in seed_004.derivatives} == expected


def test_seed_004_two_paths(seed_004):
    gradient = seed_004.gradient("x")
    assert [factor_names(path) for path in gradient.paths] == [
        ["dJ/dd", "dd/db", "db/da", "da/dx"],
        ["dJ/dd", "dd/dc", "dc/dx"],
    ]
    expected = sympy.diff(sympy.cos(sympy.sin(x**2) + 3 * x**2), x).subs(x, 0.5)
    assert close(gradient.approx, expected)
    assert close(sum(path.approx for path in gradient.paths), expected)
    assert [edge.node for edge in gradient.edges] == ["a", "c"]  # dJ/da·da/dx + dJ/dc·dc/dx


# --- granularity -------------------------------------------------------------------------

def nodes_of(text: str, variables=("x", "y", "w"), **names):
    expr = parse_expression(text, variables=variables)
    graph = build_graph(expr, {name: 1 for name in map(str, expr.free_symbols)}, **names)
    return [(node.name, str(node.expression)) for node in graph.nodes]


@pytest.mark.parametrize("text, expected", [
    ("(y - w*x)^2", [("a", "w*x"), ("b", "-a + y"), ("f", "b**2")]),
    ("sin(x^2) + x^2", [("a", "x**2"), ("b", "sin(a)"), ("f", "a + b")]),
    ("3*x^2", [("f", "3*x**2")]),
    ("x / y", [("f", "x/y")]),
    ("(x + y) / w", [("a", "x + y"), ("f", "a/w")]),
    ("sigmoid(w*x + y)", [("a", "w*x"), ("b", "a + y"), ("f", "sigmoid(b)")]),
    ("exp(2*x) + 1", [("a", "2*x"), ("b", "exp(a)"), ("f", "b + 1")]),
    ("x", [("f", "x")]),
])
def test_granularity(text, expected):
    assert nodes_of(text) == expected


def test_names_skip_variables_and_output():
    expr = parse_expression("sigmoid(w*x + b)", variables=["w", "x", "b"])
    graph = build_graph(expr, {"w": 0.7, "x": 0.1, "b": 0.1}, output_name="a")
    assert [node.name for node in graph.nodes] == ["c", "d", "a"]


def test_common_subexpression_is_one_node_on_two_paths():
    expr = parse_expression("sin(x^2) + x^2", variables=["x"])
    graph = build_graph(expr, {"x": 2})
    assert [factor_names(p) for p in graph.gradient("a").paths] == [
        ["df/db", "db/da"], ["df/da"]]
    assert graph.gradient("x").value == 4 * sympy.cos(4) + 4


# --- values --------------------------------------------------------------------------------

def test_values_are_exact_with_30_digit_approximations():
    graph = build_graph(parse_expression("x + y", variables=["x", "y"]),
                        {"x": 0.1, "y": Fraction(1, 5)})
    assert graph.node("f").value == sympy.Rational(3, 10)
    graph = build_graph(parse_expression("sin(x)", variables=["x"]), {"x": 1})
    assert graph.node("f").value == sympy.sin(1)
    assert str(graph.node("f").approx) == str(sympy.sin(1).evalf(30))


@pytest.mark.parametrize("text, values, message", [
    ("x", {}, "no value for the variable 'x'"),
    ("x", {"x": 1, "y": 2}, "a value is given for 'y'"),
    ("x", {"x": "1"}, "expected a number, got '1'"),
    ("x", {"x": True}, "expected a number, got a boolean"),
    ("x", {"x": float("inf")}, "expected a finite number"),
    ("log(x)", {"x": -1}, "f = log(x) is"),
    ("1/x", {"x": 0}, "the expression is undefined there"),
    ("sqrt(x)", {"x": 0}, "f is not differentiable there"),
])
def test_bad_values(text, values, message):
    with pytest.raises(ProblemError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build_graph(parse_expression(text, variables=["x"]), values)


@pytest.mark.parametrize("names, output, message", [
    (("x",), "f", "is the name of a variable"),
    (("q", "q"), "f", "node names repeat"),
    (("q",), "q", "node names repeat"),
    (("1q",), "f", "is not an identifier"),
    (("p", "q"), "f", "2 names given for 1 intermediate nodes"),
])
def test_bad_names(names, output, message):
    expr = parse_expression("(x + y) * z", variables=["x", "y", "z"])
    with pytest.raises(ProblemError, match=message):
        build_graph(expr, {"x": 1, "y": 2, "z": 3}, node_names=names, output_name=output)


def test_too_many_paths_are_refused():
    expr = x
    for _ in range(11):  # each level doubles the paths to x
        expr = sympy.sin(expr) + sympy.cos(expr)
    with pytest.raises(ProblemError, match=f"at most {MAX_PATHS}"):
        build_graph(expr, {"x": 1})


# --- independent oracles ---------------------------------------------------------------

def reference_gradient(expr, point, variable):
    """∂expr/∂variable at the point, from sympy.diff of the whole expression."""
    return sympy.N(sympy.diff(expr, variable).xreplace(point), 30)


def finite_difference(expr, point, variable, step=mpmath.mpf("1e-10")):
    """A central difference at 40 digits, with sigmoid and relu rewritten."""
    plain = expr.rewrite(sympy.exp).replace(relu, lambda u: sympy.Max(0, u))
    symbols = sorted(point, key=str)
    function = sympy.lambdify(symbols, plain, modules="mpmath")
    with mpmath.workdps(40):
        at = {s: mpmath.mpf(sympy.N(point[s], 40)) for s in symbols}
        up = [at[s] + step if s == variable else at[s] for s in symbols]
        down = [at[s] - step if s == variable else at[s] for s in symbols]
        return (function(*up) - function(*down)) / (2 * step)


@pytest.mark.parametrize("text, values", [
    ("(x + y) * z", {"x": -2, "y": 5, "z": -4}),
    ("cos(sin(x^2) + 3*x^2)", {"x": 0.5}),
    ("(y - w*x)^2", {"x": 3, "y": 10, "w": 2}),
    ("sigmoid(w*x + b)", {"x": 0.1, "w": 0.7, "b": 0.1}),
    ("tanh(x*y) / (1 + exp(-z)) + log(x^2 + 1, 10)", {"x": 0.3, "y": -1.2, "z": 2}),
    ("relu(w*x - b) + abs(x - y) + max(x, y, z)", {"x": 1.5, "y": -2, "z": 0.5, "w": 2, "b": 1}),
])
def test_gradients_agree_with_finite_differences(text, values):
    expr = parse_expression(text, variables=list(values))
    graph = build_graph(expr, values)
    point = {v.symbol: v.value for v in graph.variables}
    for variable in graph.variables:
        gradient = graph.gradient(variable.name)
        difference = finite_difference(expr, point, variable.symbol)
        assert close(gradient.approx, difference, 1e-12)
        assert close(gradient.approx, reference_gradient(expr, point, variable.symbol))
        assert close(sum(path.approx for path in gradient.paths), gradient.approx)


EXPRESSIONS = expression_texts(
    ["x", "y", "z", "2", "0.5"],
    ["exp", "log", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "sqrt", "abs"],
    max_leaves=7, with_max=True)
TENTHS = st.integers(-30, 30).map(lambda k: k / 10)


def defined(expr, point) -> bool:
    """Whether ``expr`` is a finite real number at ``point``."""
    try:
        number = sympy.N(expr.xreplace(point), 30)
    except ValueError:  # max(0, zoo): "not comparable"
        return False
    return bool(number.is_Number and number.is_finite and number.is_extended_real)


@settings(max_examples=200, deadline=None)
@given(EXPRESSIONS, TENTHS, TENTHS, TENTHS)
def test_gradients_equal_sympy_diff_of_the_whole_expression(text, xv, yv, zv):
    try:
        expr = parse_expression(text, variables=["x", "y", "z"])
    except ProblemError:  # e.g. a constant division by zero
        assume(False)
    values = {s.name: {"x": xv, "y": yv, "z": zv}[s.name] for s in expr.free_symbols}
    point = {s: sympy.Rational(str(values[s.name])) for s in expr.free_symbols}
    # Skip points where a part of the expression or its derivative is undefined.
    assume(all(defined(part, point) for part in sympy.preorder_traversal(expr)
               if isinstance(part, sympy.Expr)))
    derivatives = {s.name: sympy.diff(expr, s) for s in expr.free_symbols}
    assume(all(defined(d, point) for d in derivatives.values()))
    try:
        graph = build_graph(expr, values)
    except ProblemError as error:  # only where a local derivative is infinite
        assert "not differentiable" in str(error)
        assume(False)
    for name, derivative in derivatives.items():
        reference = sympy.N(derivative.xreplace(point), 30)
        gradient = graph.gradient(name)
        assert close(gradient.approx, reference), (text, values, name)
        assert close(sum(path.approx for path in gradient.paths), reference)


def test_sigmoid_and_relu_graph_values():
    graph = build_graph(parse_expression("relu(sigmoid(x) - 0.5)", variables=["x"]),
                        {"x": 0})
    assert graph.node("f").value == 0
    assert graph.gradient("x").value == 0  # relu'(0) = 0 by convention
    assert graph.node("a").expression == sigmoid(x)
