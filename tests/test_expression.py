"""Tests of derive.expression: whitelist parsing into SymPy, and what it refuses."""

from __future__ import annotations

import builtins
import time

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from derive.errors import ProblemError
from derive.expression import FUNCTIONS, parse_expression, relu, sigmoid

x, y, z, w, b = sympy.symbols("x y z w b", real=True)
VARIABLES = ("x", "y", "z", "w", "b")


def parse(text: str) -> sympy.Expr:
    return parse_expression(text, variables=VARIABLES)


# --- what is accepted -------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("(x + y) * z", (x + y) * z),
    ("cos(sin(x^2) + 3*x^2)", sympy.cos(sympy.sin(x**2) + 3 * x**2)),
    ("(y - w*x)^2", (y - w * x)**2),
    ("(y - w*x)**2", (y - w * x)**2),
    ("sigmoid(w*x + b)", sigmoid(w * x + b)),
    ("x^2 + 1", x**2 + 1),            # '^' binds tighter than '+', unlike Python's xor
    ("3*x^2", 3 * x**2),
    ("2^3^2", sympy.Integer(512)),    # right-associative, as in mathematics
    ("-x^2", -(x**2)),
    ("+x - -y", x + y),
    ("x / y / z", x / (y * z)),
    ("exp(x) + log(y) + log(x, 2)", sympy.exp(x) + sympy.log(y) + sympy.log(x) / sympy.log(2)),
    ("tan(x) * tanh(y)", sympy.tan(x) * sympy.tanh(y)),
    ("sqrt(x) + abs(y)", sympy.sqrt(x) + sympy.Abs(y)),
    ("max(x, y, 0)", sympy.Max(x, y, 0)),
    ("relu(z)", relu(z)),
    ("x\n  + y", x + y),
    ("7", sympy.Integer(7)),
])
def test_accepted_expressions(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("0.1", sympy.Rational(1, 10)),
    ("0.1 + 0.2", sympy.Rational(3, 10)),   # exact: no binary rounding
    ("1e-3", sympy.Rational(1, 1000)),
    ("2.5E2", sympy.Integer(250)),
    (".5", sympy.Rational(1, 2)),
    ("1_000", sympy.Integer(1000)),
])
def test_decimals_are_exact_rationals(text, expected):
    result = parse(text)
    assert result == expected
    assert result.is_Rational


def test_variables_are_real_symbols():
    assert parse("x").is_real
    assert sympy.diff(parse("abs(x)"), x) == sympy.sign(x)


def test_source_and_field_are_named_in_errors():
    with pytest.raises(ProblemError) as caught:
        parse_expression("x + q", variables=["x"], source="p.yaml", field="loss")
    assert caught.value.source == "p.yaml"
    assert caught.value.field == "loss"
    assert str(caught.value).startswith("p.yaml: loss: unknown name 'q' at column 5")


@pytest.mark.parametrize("names, message", [
    (["1x"], "not an ASCII identifier"),
    (["x y"], "not an ASCII identifier"),
    (["lambda"], "not an ASCII identifier"),
    (["θ"], "not an ASCII identifier"),
    (["exp"], "is the name of a function"),
    (["sigmoid"], "is the name of a function"),
])
def test_invalid_variable_names(names, message):
    with pytest.raises(ProblemError, match=message):
        parse_expression("1", variables=names)


def test_variables_must_not_be_one_string():
    with pytest.raises(TypeError):
        parse_expression("x", variables="xy")


# --- sigmoid and relu ---------------------------------------------------------------

def test_sigmoid():
    assert sympy.diff(sigmoid(x), x) == sigmoid(x) * (1 - sigmoid(x))
    assert sigmoid(x).rewrite(sympy.exp) == 1 / (1 + sympy.exp(-x))
    assert sigmoid(0) == sympy.Rational(1, 2)
    assert abs(sigmoid(2).evalf(30) - 0.8807970779778824) < 1e-15
    assert sigmoid(x).is_real


def test_relu():
    assert relu(-2) == 0
    assert relu(sympy.Rational(3, 2)) == sympy.Rational(3, 2)
    assert sympy.diff(relu(x), x) == sympy.Heaviside(x, 0)
    assert sympy.diff(relu(x), x).subs(x, 0) == 0
    assert relu(x).rewrite(sympy.Max) == sympy.Max(0, x)
    assert abs(relu(sympy.sin(1)).evalf(30) - sympy.sin(1).evalf(30)) < 1e-25


# --- what is refused ----------------------------------------------------------------

HOSTILE = [
    ("__import__('os')", "'__import__' at column 1 is not an allowed function"),
    ("().__class__", "attribute access '.__class__' is not allowed at column 4"),
    ("x.real", "attribute access '.real' is not allowed at column 3"),
    ("lambda: 1", "a lambda 'lambda: 1' is not allowed at column 1"),
    ("[x for x in y]", "a comprehension '[x for x in y]' is not allowed at column 1"),
    ("9**9**9", "the exponent 387420489 of the power at column 2 is too large"),
    ("2^1000", "the exponent 1000 of the power at column 2 is too large"),
    ("(x^100)^100", "exponent 10000"),
    ("(9^99)^99", "would be a number with about"),
    ("'abc'", "a string \"'abc'\" is not allowed at column 1"),
    ("x if y else z", "a conditional expression 'x if y else z' is not allowed"),
    ("f(x)=1", "not a valid expression at column 5"),
    ("(" * 10_000 + "x" + ")" * 10_000, "20001 characters long; at most 1000"),
    ("(" * 60 + "x" + ")" * 60, "brackets are nested more than 50 deep at column 51"),
    ("-" * 900 + "x", "operations are nested more than 50 deep"),
    ("+".join(["x"] * 60), "operations are nested more than 50 deep"),
    ("x" * 5000, "5000 characters long"),
    ("exp(x, y, z)", "exp at column 1 takes 1 argument, got 3"),
    ("max(x)", "max at column 1 takes at least 2 arguments, got 1"),
    ("log(x, y, z)", "log at column 1 takes 1 to 2 arguments, got 3"),
    ("x[0]", "indexing 'x[0]' is not allowed at column 1"),
    ("open('f')", "'open' at column 1 is not an allowed function"),
    ("eval('1')", "'eval' at column 1 is not an allowed function"),
    ("x + foo", "unknown name 'foo' at column 5; expected one of the variables "
                "b, w, x, y, z or a function exp, log, sin"),
    ("x^2 + foo", "unknown name 'foo' at column 7"),   # columns count '^' as written
    ("x(2)", "'x' at column 1 is a variable"),
    ("exp", "'exp' at column 1 is a function; call it as exp(...)"),
    ("max(x, y, key=z)", "keyword argument 'key=' at column 11 is not allowed"),
    ("max(*x, y)", "unpacking '*x' is not allowed at column 5"),
    ("x % y", "operator '%' at column 3 is not allowed"),
    ("x // y", "operator '//' at column 3 is not allowed"),
    ("~x", "operator '~' at column 1 is not allowed"),
    ("x < y", "a comparison 'x < y' is not allowed"),
    ("x and y", "a boolean operator 'x and y' is not allowed"),
    ("(x, y)", "a tuple '(x, y)' is not allowed"),
    ("{x}", "a set '{x}' is not allowed"),
    ("f'{x}'", "an f-string"),
    ("(y := 1)", "an assignment"),
    ("True", "the constant 'True' is not allowed"),
    ("1j", "an imaginary number '1j' is not allowed"),
    ("1" * 31, "has more than 30 digits"),
    ("1e999999", "the number '1e999999' at column 1 has more than 30 digits"),
    ("1/0", "the expression is undefined"),
    ("log(0)", "the expression is undefined"),
    ("max(x, sqrt(-1))", "max at column 1 cannot be applied here"),
    ("x; y", "not a valid expression at column 2"),
    ("", "the expression is empty"),
    ("   ", "the expression is empty"),
    ("θ + 1", "character 'θ' at column 1 is not allowed"),
    ("x\x00", "character '\\x00' at column 2 is not allowed"),
]


@pytest.fixture
def nothing_executed(monkeypatch):
    """Make eval and exec fail, and compile accept only syntax-tree parsing."""
    import ast as ast_module

    real_compile = builtins.compile

    def refuse(*args, **kwargs):
        raise AssertionError("user text reached eval/exec")

    def only_ast(source, filename, mode, flags=0, *args, **kwargs):
        assert flags & ast_module.PyCF_ONLY_AST, "user text was compiled to code"
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "eval", refuse)
    monkeypatch.setattr(builtins, "exec", refuse)
    monkeypatch.setattr(builtins, "compile", only_ast)


@pytest.mark.parametrize("text, message", HOSTILE, ids=[t[:20] for t, _ in HOSTILE])
def test_hostile_text_is_refused_quickly(text, message, nothing_executed):
    # Not a benchmark: a guard against inputs that would otherwise never finish
    # (9**9**9 evaluated, 10,000 nested brackets), so the bound is generous.
    start = time.perf_counter()
    with pytest.raises(ProblemError) as caught:
        parse(text)
    assert time.perf_counter() - start < 5.0
    assert message in caught.value.expected


def test_text_that_is_not_a_string():
    with pytest.raises(ProblemError, match="expected the expression as text, got int"):
        parse_expression(3, variables=["x"])


# --- properties ---------------------------------------------------------------------

LEAVES = [("x", x), ("y", y), ("2", sympy.Integer(2)), ("0.5", sympy.Rational(1, 2))]
UNARY = [(name, FUNCTIONS[name].build) for name in
         ("exp", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "sqrt", "abs", "log")]
BINARY = [("+", lambda p, q: p + q), ("-", lambda p, q: p - q),
          ("*", lambda p, q: p * q), ("/", lambda p, q: p / q)]


def _combine(children):
    return st.one_of(
        st.tuples(st.sampled_from(BINARY), children, children).map(
            lambda t: (f"({t[1][0]} {t[0][0]} {t[2][0]})", t[0][1](t[1][1], t[2][1]))),
        st.tuples(st.sampled_from(UNARY), children).map(
            lambda t: (f"{t[0][0]}({t[1][0]})", t[0][1](t[1][1]))),
        st.tuples(children, st.sampled_from([2, 3, -1])).map(
            lambda t: (f"({t[0][0]})^{t[1]}", t[0][1] ** t[1])),
        st.tuples(children, children).map(_max_pair).filter(lambda pair: pair is not None),
    )


def _max_pair(t):
    """max(p, q) built directly, or None where SymPy cannot compare them (zoo, nan)."""
    try:
        return f"max({t[0][0]}, {t[1][0]})", sympy.Max(t[0][1], t[1][1])
    except ValueError:
        return None


PAIRS = st.recursive(st.sampled_from(LEAVES), _combine, max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(PAIRS)
def test_parsing_matches_building_with_sympy(pair):
    text, expected = pair
    if expected.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        with pytest.raises(ProblemError):
            parse(text)
    else:
        assert parse(text) == expected


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="xy0123.e+-*/^(),_ abcdmnoqrstlgpi'[]=%:", max_size=40))
def test_any_text_parses_or_raises_problem_error(text):
    try:
        result = parse(text)
    except ProblemError:
        return
    assert isinstance(result, sympy.Expr)


# --- as written, for display ---------------------------------------------------------------

@pytest.mark.parametrize("text, latex", [
    ("(x + y) * z", r"\left(x + y\right) \cdot z"),
    ("cos(sin(x^2) + 3*x^2)", r"\cos{\left(\sin{\left(x^{2} \right)} + 3 \cdot x^{2} \right)}"),
    ("y - x / 2", r"y - \frac{x}{2}"),
    ("2 * 3 + x", r"2 \cdot 3 + x"),  # nothing combined
    ("-(x + y)", r"- (x + y)"),
    ("x - y - z + 2", r"x - y - z + 2"),  # a chain, not nested sums
    ("abs(y*z - x) + max(x, z)", r"\left|{y \cdot z - x}\right| + \max\left(x, z\right)"),
])
def test_as_written_keeps_the_order_and_the_operations(text, latex):
    from derive.latex import DerivePrinter

    written = parse_expression(text, variables=("x", "y", "z"), as_written=True)
    assert DerivePrinter({"digits": 4}).doprint(written) == latex


@settings(max_examples=150, deadline=None)
@given(PAIRS)
def test_as_written_is_the_same_expression(pair):
    text, expected = pair
    if expected.has(sympy.nan, sympy.zoo, sympy.oo, -sympy.oo):
        return
    written = parse_expression(text, variables=VARIABLES, as_written=True).doit()
    evaluated = parse(text)
    if written == evaluated:
        return
    # Kept as written, 2·(x + y)·x need not take SymPy's form x·(2x + 2y): the same
    # function, compared at points where it is defined.
    for point in ({x: sympy.Rational(3, 10), y: sympy.Rational(7, 10)},
                  {x: sympy.Rational(-13, 10), y: sympy.Rational(11, 5)}):
        want = evaluated.xreplace(point).evalf(30)
        if want.is_finite and want.is_real:
            assert abs(written.xreplace(point).evalf(30) - want) <= 1e-20 * max(1, abs(want))
