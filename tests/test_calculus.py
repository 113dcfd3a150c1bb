"""Problems of kind `derivative` and the rule-based differentiator behind them: the
seeds' derivations line by line, every line against sympy.diff, random expressions
against an independent computation, conventions at kinks, validation, rendering."""

from __future__ import annotations

import math
import os
import shutil

import pytest
import sympy
from conftest import PROBLEMS, agrees_to_printed_digits, published, solved
from expression_texts import expression_texts
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import derive
from derive import worked
from derive.activation_derivatives import ALPHA
from derive.catalog import sigmoid
from derive.errors import CrossCheckError, ProblemError
from derive.expression import parse_expression
from derive.rules import ChainRule, D, QuotientRule, ReciprocalRule, evaluated, rebuilt
from derive.stepwise import find_rule, work

DERIVATIVES = sorted(path.stem for path in PROBLEMS.glob("derivative_*.yaml"))
needs_pdflatex = pytest.mark.skipif(
    shutil.which("pdflatex") is None and not os.environ.get("CI"),
    reason="pdflatex is not installed (CI installs it, and there this test runs)")
z, x, w, b, y, h, f = sympy.symbols("z x w b y h f", real=True)


def parse(mapping: dict):
    return derive.parse_problem({"kind": "derivative", **mapping}, source="test.yaml")


def item(name: str, index: int = 0):
    return solved(name).items[index]


def final(record) -> sympy.Expr:
    return rebuilt(record.final if hasattr(record, "final") else record)


def equal(left: sympy.Expr, right: sympy.Expr) -> bool:
    return sympy.simplify((evaluated(left) - right).rewrite(sympy.exp)) == 0


# --- seed 001/004: the sigmoid from its definition ---------------------------------------------

def test_sigmoid_derivation_reaches_the_slides_form():
    derivative = item("derivative_sigmoid").derived
    assert [line.rules for line in derivative.working.lines] == [
        ("ReciprocalRule",), ("Separately",)]
    assert [line.rules for line in derivative.working.parts[0].lines] == [
        ("SumRule",), ("ConstantRule", "ChainRule"), ("ExpRule", "LinearRule")]
    assert final(derivative) == sigmoid(z) * (1 - sigmoid(z))
    markdown = solved("derivative_sigmoid").to_markdown()
    # seed 004: f'(x) = e^{-x} / (1 + e^{-x})^2 = f(x)(1 - f(x))
    assert r"&= \frac{e^{- z}}{\left(1 + e^{- z}\right)^{2}} && \text{simplify}" in markdown
    assert (r"&= \sigma\left(z\right) \cdot \left(1 - \sigma\left(z\right)\right) "
            r"&& \text{by the definition}" in markdown)


@pytest.mark.parametrize("name, printed", [
    ("sigmoid'(0.0948)", "0.249"),     # seed 004: dy_pred/dh1 = f(0.0948)(1 - f(0.0948)) = 0.249
    ("sigmoid'(-3)", "0.045177"),      # seed 004 printed 0.047 * (1 - 0.047) = 0.044791: f(-3)
])                                     # was rounded to 0.047 first (true f(-3) = 0.047426)
def test_sigmoid_values_of_seed_004(name, printed):
    assert agrees_to_printed_digits(published("derivative_sigmoid")["values"][name], printed)


# --- seed 001: the chain-rule exercises ------------------------------------------------------------

def test_chain_rule_exercises():
    first, second = item("derivative_chain_rule", 0), item("derivative_chain_rule", 1)
    assert final(first.derived) == 2 * x * sympy.exp(x**2)
    assert final(second.derived) == 2 * x * sympy.exp(x**2) * sympy.exp(sympy.exp(x**2))
    markdown = solved("derivative_chain_rule").to_markdown()
    # d e^{e^{x²}}/dx = d e^{e^{x²}}/d e^{x²} · d e^{x²}/d x² · d x²/dx, as the slide writes it
    assert (r"\frac{\mathrm{d} e^{e^{x^{2}}}}{\mathrm{d} e^{x^{2}}} \cdot "
            r"\frac{\mathrm{d} e^{x^{2}}}{\mathrm{d} x^{2}} \cdot \frac{\mathrm{d}}{\mathrm{d} x} x^{2}"
            in markdown)
    assert r"&= e^{e^{x^{2}}} \cdot e^{x^{2}} \cdot 2 x" in markdown
    assert r"2 x e^{x^{2}} e^{e^{x^{2}}}" in markdown
    values = published("derivative_chain_rule")["values"]
    assert values["d/dx(exp(x**2)) at x=1"] == pytest.approx(2 * math.e, rel=1e-15)
    assert values["d/dx(exp(exp(x**2))) at x=1"] == pytest.approx(
        2 * math.e * math.exp(math.e), rel=1e-15)


# --- seeds 000, 004 and 001: gradients derived in symbols ----------------------------------------

def test_logistic_regression_gradient_is_h_minus_y_times_x():
    derivation = item("derivative_logistic_regression")
    dJ_dw, dJ_db = derivation.chains
    assert rebuilt(dJ_dw.lines[-1].expression) == x * (h - y)
    assert rebuilt(dJ_db.lines[-1].expression) == h - y
    dJ_dh, dh_dz, dz_dw, dz_db = derivation.parts
    assert equal(dJ_dh.final, -y / h + (1 - y) / (1 - h))
    assert rebuilt(dh_dz.final) == h * (1 - h)
    assert (final(dz_dw), final(dz_db)) == (x, 1)
    markdown = solved("derivative_logistic_regression").to_markdown()
    assert (r"\frac{\mathrm{d} J}{\mathrm{d} w} &= \frac{\mathrm{d} J}{\mathrm{d} h} \cdot "
            r"\frac{\mathrm{d} h}{\mathrm{d} z} \cdot \frac{\mathrm{d} z}{\mathrm{d} w}" in markdown)
    assert r"&= - y \cdot \left(1 - h\right) + \left(1 - y\right) \cdot h" in markdown
    assert r"&= \left(h - y\right) \cdot x && \text{simplify}" in markdown


def test_mse_sigmoid_gradient_as_in_seed_001():
    (chain,) = item("derivative_mse_sigmoid").chains
    assert rebuilt(chain.lines[-1].expression) == (f - y) * f * (1 - f) * x
    markdown = solved("derivative_mse_sigmoid").to_markdown()
    assert (r"&= \left(f(x) - y\right) \cdot f(x) \cdot \left(1 - f(x)\right) \cdot x" in markdown)
    assert r"\frac{1}{2} \cdot 2 \left(f(x) - y\right)" in markdown  # ½ · 2(f(x) − y), as the slide
    assert r"\frac{1}{1 + e^{- (w x + b)}}" in markdown


# --- seed 002: the activation table ---------------------------------------------------------------

def activation(name: str):
    return next(i for i in solved("derivative_activations").items if i.name == name)


@pytest.mark.parametrize("name, expected", [
    ("linear", sympy.Integer(1)),
    ("tanh", 1 - sympy.tanh(z)**2),
    ("softplus", sigmoid(z)),
])
def test_smooth_activations(name, expected):
    assert final(activation(name).derived) == expected
    assert activation(name).kink is None and not activation(name).useless


@pytest.mark.parametrize("name, left, right, at_zero, differentiable", [
    ("relu", 0, 1, 0, sympy.false),
    ("leaky_relu", ALPHA, 1, ALPHA, sympy.Eq(ALPHA, 1)),
    ("elu", ALPHA, 1, ALPHA, sympy.Eq(ALPHA, 1)),
    ("step", 0, 0, None, sympy.false),
    ("sign", 0, 0, None, sympy.false),
])
def test_kinks(name, left, right, at_zero, differentiable):
    kink = activation(name).kink
    assert (kink.left_slope, kink.right_slope, kink.convention) == (left, right, at_zero)
    assert kink.differentiable == differentiable
    assert kink.continuous == (name not in ("step", "sign"))


def test_step_and_sign_are_useless_for_training():
    data = published("derivative_activations")["values"]
    for name in ("step", "sign"):
        assert activation(name).useless
        assert (data[f"{name}'(-1)"], data[f"{name}'(0)"], data[f"{name}'(2)"]) == (0, None, 0)
    markdown = solved("derivative_activations").to_markdown()
    assert markdown.count("**Why this derivative is useless for training.**") == 2
    assert r"$\operatorname{step}'\left(0\right)$ is undefined." in markdown


def test_values_of_the_activations_against_their_definitions():
    data = published("derivative_activations")["values"]
    sig = lambda v: 1 / (1 + math.exp(-v))
    expected = {
        "tanh'(-1)": 1 - math.tanh(-1) ** 2, "sigmoid'(2)": sig(2) * (1 - sig(2)),
        "relu'(-1)": 0, "relu'(0)": 0, "relu'(2)": 1,
        "leaky_relu'(-1)": 0.1, "leaky_relu'(0)": 0.1, "leaky_relu'(2)": 1,  # seed 002's 0.1
        "elu'(-1)": math.exp(-1), "elu'(0)": 1, "softplus'(-1)": sig(-1), "linear'(0)": 1,
    }
    for name, value in expected.items():
        assert data[name] == pytest.approx(value, rel=1e-15), name


def test_relu_convention_at_zero_is_a_setting():
    solution = derive.solve(parse({"of": "relu", "at": [0], "relu_grad_at_zero": 0.5}))
    assert solution.values["relu'(0)"] == 0.5
    assert r"\operatorname{ReLU}'\left(0\right) = \frac{1}{2}$ is used there" in \
        solution.to_markdown()


# --- softmax's Jacobian ---------------------------------------------------------------------------

def test_softmax_jacobian():
    jacobian = item("derivative_softmax")
    s1, s2 = sympy.symbols("s_1 s_2", positive=True)
    assert rebuilt(jacobian.diagonal.final) == s1 * (1 - s1)
    assert rebuilt(jacobian.off_diagonal.final) == -s1 * s2
    assert isinstance(jacobian.diagonal.working.rule, QuotientRule)
    (at,) = jacobian.values
    outputs = [step.value for step in at.outputs]
    # Seed 001 printed softmax([0.32, 0.29, 0.85]) = [0.2718, 0.2634, 0.4648]; the softmax of
    # those printed logits is [0.2725, 0.2645, 0.4630].
    for value, printed in zip(outputs, ["0.2725", "0.2645", "0.4630"]):
        assert agrees_to_printed_digits(value, printed)
    for r in range(3):
        for c in range(3):
            expected = outputs[r] * ((r == c) - outputs[c])
            assert at.values[r, c].value == pytest.approx(expected, rel=1e-14)


# --- the rules and the check ----------------------------------------------------------------------

def test_rules_are_records_and_lines_are_data():
    rule = find_rule(sympy.exp(sympy.exp(x**2)), x)
    assert isinstance(rule, ChainRule) and len(rule.links) == 3
    assert [link.wrt for link in rule.links] == [sympy.exp(x**2), x**2, x]
    assert ChainRule.__doc__.startswith("d/dx f(g(h(x))) = df/dg")
    assert isinstance(find_rule(1 / (1 + sympy.exp(-z)), z), ReciprocalRule)
    lines = work(rule).lines
    assert lines[0].expression.atoms(D) and not lines[-1].expression.atoms(D)


def test_a_wrong_rewrite_is_refused():
    with pytest.raises(CrossCheckError, match="rewrite 1"):
        worked.derived(D(h, z), 1 / (1 + sympy.exp(-z)), z, quantity="dh/dz",
                       rewrites=(worked.Rewrite(sigmoid(z) * (1 + sigmoid(z)), "name"),))


def test_an_expression_without_rules_is_a_clean_error():
    with pytest.raises(ProblemError, match="variable in its base and its exponent"):
        find_rule(x**x, x)
    with pytest.raises(ProblemError, match="no step-by-step rule for max"):
        derive.solve(parse({"expression": "max(x, 2*x)", "variable": "x"}))


EXPRESSIONS = expression_texts(["x", "y", "2", "0.5"],
                               ["exp", "log", "sin", "cos", "tan", "tanh", "sigmoid", "sqrt"],
                               max_leaves=5)


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(EXPRESSIONS, st.integers(-15, 15))
def test_random_expressions_every_line_equals_the_derivative(text, at):
    try:
        expr = parse_expression(text, variables=["x", "y"])
    except ProblemError:  # a constant division by zero, e.g. 1/(x - x)
        assume(False)
    assume(expr.has(sympy.Symbol("x", real=True)))
    xs = sympy.Symbol("x", real=True)
    # derive's own check compares every line with sympy.diff and raises otherwise.
    record = worked.derived(D(expr, xs), expr, xs, quantity=text)
    # An independent computation: a central difference of the expression at 40 digits.
    point = {xs: sympy.Rational(at, 10) + sympy.Rational(1, 7), sympy.Symbol("y", real=True):
             sympy.Rational(3, 7)}
    value = sympy.N(evaluated(record.final).xreplace(point), 30)
    assume(value.is_Number and value.is_finite and value.is_real)
    step = sympy.Rational(1, 10**12)
    shifted = lambda d: expr.evalf(40, subs={**point, xs: point[xs] + d})
    difference = (shifted(step) - shifted(-step)) / (2 * step)
    assume(difference.is_Number and difference.is_finite)
    assert abs(value - difference) <= 1e-9 * max(1, abs(difference))
    for line in (*record.working.lines, *(l for p in record.working.parts for l in p.lines)):
        assert not line.expression.has(sympy.nan, sympy.zoo)


# --- validation ------------------------------------------------------------------------------------

BAD = [
    ({"of": "sigmoid", "expression": "x"}, "of: expected exactly one of"),
    ({}, "of: expected exactly one of"),
    ({"of": "swish"}, "test.yaml: of: "),
    ({"of": "relu", "colour": 1}, "colour: unknown key; expected one of:"),
    ({"derivation": "logistic_regression", "at": [1]}, "at: a derivation is in symbols only"),
    ({"of": "relu", "at": [[1, 2]]}, "at[0]: expected a number; a list of numbers is a point"),
    ({"of": "softmax", "at": [[1, 2]]}, "at[0]: expected 3 numbers (classes: 3), got 2"),
    ({"expression": "__import__('os')", "variable": "x"},
     "expression: '__import__' at column 1 is not an allowed function"),
    ({"expression": "x.__class__", "variable": "x"}, "attribute access '.__class__'"),
    ({"expression": "9**9**9", "variable": "x"}, "is too large"),
    ({"expression": ["x", "(((((" * 20 + "x" + ")))))" * 20], "variable": "x"},
     "expression[1]: brackets are nested more than 50 deep"),
    ({"expression": "w*x", "variable": "w", "at": [1]},
     "expression: unknown name 'x' at column 3"),
    ({"expression": "w*x", "variable": "w", "variables": ["x"], "at": [1]},
     "at[0]: expected a value for each of w, x, as a mapping"),
    ({"of": "relu", "variable": "x"}, "variable: `variable` and `variables` go with"),
]


@pytest.mark.parametrize("mapping, message", BAD)
def test_bad_problems_are_one_clear_line(mapping, message):
    with pytest.raises(ProblemError) as caught:
        parse(mapping)
    assert message in str(caught.value) and "\n" not in str(caught.value)


# --- output ----------------------------------------------------------------------------------------

def test_json_holds_derivatives_and_values():
    data = published("derivative_sigmoid")
    assert data["kind"] == "derivative"
    assert data["derivatives"] == {"sigmoid": "(1 - sigmoid(z))*sigmoid(z)"}
    assert set(data["values"]) == {"sigmoid'(0.0948)", "sigmoid'(-3)"}


@pytest.mark.parametrize("name", DERIVATIVES)
def test_nothing_unprinted_reaches_the_output(name):
    for fmt in ("md", "tex"):
        text = solved(name).render(fmt)
        assert " object at 0x" not in text and "Factors(" not in text and "D(" not in text


@needs_pdflatex
@pytest.mark.parametrize("name", DERIVATIVES)
def test_calculus_latex_compiles(name, tmp_path):
    from test_render import compile_latex

    assert compile_latex(solved(name).to_latex(), tmp_path).stat().st_size > 1000
