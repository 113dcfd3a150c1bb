"""The printer: exact LaTeX strings, as SymPy's own test_latex.py asserts them."""

from __future__ import annotations

import pytest
import sympy as sp

from derive.forms import Partial, Shown, product, substitute, total
from derive.latex import DerivePrinter, escape_latex, format_given, format_number

w, x, t, o, z = sp.symbols("w x t o z")
NAMES = {t: "target_{o1}", o: "out_{o1}"}


def tex(expr, digits=4, rounding="decimals"):
    return DerivePrinter({"symbol_names": NAMES, "digits": digits,
                          "rounding": rounding}).doprint(expr)


@pytest.mark.parametrize("value, digits, rounding, expected", [
    (0.593269992, 9, "decimals", "0.593269992"),
    (0.35891647971788465, 9, "decimals", "0.35891648"),     # trailing zero dropped
    (0.3775, 9, "decimals", "0.3775"),
    (-0.0381, 3, "decimals", "-0.038"),
    (0.021470, 3, "significant", "0.0215"),
    (1234.5678, 2, "significant", "1200"),
    (-0.0, 4, "decimals", "0"),
    (4.4e-13, 4, "decimals", r"4.4 \cdot 10^{-13}"),          # never a misleading 0
    (0.5, 4, "decimals", "0.5"),
])
def test_format_number(value, digits, rounding, expected):
    assert format_number(value, digits=digits, rounding=rounding) == expected


def test_given_numbers_are_printed_as_written():
    assert format_given(0.1) == "0.1"
    assert format_given(-2.0) == "-2"
    assert format_given(1e-05) == "0.00001"


@pytest.mark.parametrize("expr, expected", [
    (total(product(w, x), t), r"w \cdot x + target_{o1}"),
    (sp.Mul(sp.Rational(1, 2), sp.Pow(sp.Add(t, -o), 2), evaluate=False),
     r"\frac{1}{2} \left(target_{o1} - out_{o1}\right)^{2}"),
    (product(Partial(t, o), Partial(o, z)),
     r"\frac{\partial target_{o1}}{\partial out_{o1}} \cdot \frac{\partial out_{o1}}{\partial z}"),
    (total(product(Shown(0.1385), Shown(0.4, True)), product(Shown(-0.0381), Shown(0.5, True))),
     r"0.1385 \cdot 0.4 + \left(-0.0381\right) \cdot 0.5"),
    (total(Shown(0.54), Shown(-0.42)), r"0.54 + \left(-0.42\right)"),
    (sp.exp(sp.Mul(-1, Shown(-3.0, True), evaluate=False), evaluate=False),
     r"e^{- \left(-3\right)}"),
    (sp.Pow(Shown(-0.05, True), 2, evaluate=False), r"\left(-0.05\right)^{2}"),
])
def test_printed_forms(expr, expected):
    assert tex(expr) == expected


def test_substitution_keeps_the_formula_shape():
    formula = total(product(w, x), t)
    shown = substitute(formula, {w: Shown(0.15, True), x: Shown(0.05, True), t: Shown(0.35, True)})
    assert tex(shown) == r"0.15 \cdot 0.05 + 0.35"


def test_unknown_printer_settings_are_refused():
    with pytest.raises(TypeError):
        DerivePrinter({"digist": 3})


@pytest.mark.parametrize("text, expected", [
    ("50% & $5", r"50\% \& \$5"),
    (r"\input{x}", r"\textbackslash{}input\{x\}"),
    ("a_b^c~#", r"a\_b\textasciicircum{}c\textasciitilde{}\#"),
])
def test_escape_latex(text, expected):
    assert escape_latex(text) == expected
