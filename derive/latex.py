"""LaTeX printing: a SymPy printer subclass whose settings carry the notation.

Everything `derive` writes as mathematics goes through :class:`DerivePrinter`:
symbol names come from the ``symbol_names`` setting (the notation), numbers shown
in a formula are rounded by the ``digits``/``rounding`` settings, and terms keep the
order in which the derivation built them (``order="none"``).
"""

from __future__ import annotations

import numpy as np
import sympy as sp
from sympy.core.function import _coeff_isneg
from sympy.printing.latex import LatexPrinter

from .forms import Partial, Shown

_SPECIAL = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#",
    "_": r"\_", "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
}


def escape_latex(text: str) -> str:
    """Escape user text for LaTeX so that it can never inject a command."""
    return "".join(_SPECIAL.get(ch, ch) for ch in str(text))


def format_number(value: float, *, digits: int, rounding: str = "decimals",
                  times_ten: str = r"{} \cdot 10^{{{}}}") -> str:
    """Round for printing only: ``digits`` decimals, or significant digits.

    A nonzero value that would round to 0 is shown with significant digits and a
    power of ten instead (``times_ten`` lays out mantissa and exponent for the target
    language), so that no printed gradient is a misleading 0.
    """
    value = float(value)
    fractional = rounding == "decimals"
    text = np.format_float_positional(value, precision=digits, unique=False,
                                      fractional=fractional, trim="-")
    if text in ("0", "-0"):
        if value == 0.0:
            return "0"
        mantissa, exponent = np.format_float_scientific(
            value, precision=max(digits - 1, 0), unique=False, trim="-").split("e")
        return times_ten.format(mantissa, int(exponent))
    return text


def format_given(value: float) -> str:
    """A number from the problem file, as its author wrote it (shortest form)."""
    text = np.format_float_positional(float(value), trim="-")
    return "0" if text == "-0" else text


class DerivePrinter(LatexPrinter):
    """LaTeX printer for step records.

    Settings (besides SymPy's): ``digits`` and ``rounding`` for computed numbers.
    """

    printmethod = "_derive_latex"
    _default_settings = {
        **LatexPrinter._default_settings,
        "order": "none",
        "mul_symbol": "dot",
        "digits": 4,
        "rounding": "decimals",
    }

    def _print_Shown(self, expr: Shown) -> str:
        if expr.given:
            return format_given(expr.value)
        return format_number(expr.value, digits=self._settings["digits"],
                             rounding=self._settings["rounding"])

    def _print_Partial(self, expr: Partial) -> str:
        return r"\frac{\partial %s}{\partial %s}" % (self._print(expr.num),
                                                     self._print(expr.den))

    def _print_Mul(self, expr: sp.Mul) -> str:
        # ½(t − o)² as the slides write it, not (t − o)²/2.
        first, rest = expr.args[0], expr.args[1:]
        if (isinstance(first, sp.Rational) and not isinstance(first, sp.Integer)
                and abs(first.p) == 1 and rest):
            body = sp.Mul(*rest, evaluate=False) if len(rest) > 1 else rest[0]
            text = self.parenthesize(body, 50) if isinstance(body, sp.Add) else self._print(body)
            sign = "-" if first.p < 0 else ""
            return rf"{sign}\frac{{1}}{{{first.q}}} {text}"
        if first == -1 and len(rest) == 1 and isinstance(rest[0], Shown) and rest[0].value < 0:
            return rf"- \left({self._print(rest[0])}\right)"  # e^{-(-3)}, not e^{- -3}
        return super()._print_Mul(expr)

    def _print_Add(self, expr: sp.Add, order=None) -> str:
        # Terms in the order built; a negative number after the first is bracketed:
        # 0.1385 · 0.4 + (−0.0381) · 0.5 and 0.54 + (−0.42), never "+ -".
        text = ""
        for i, term in enumerate(expr.args):
            if i and _coeff_isneg(term):
                text += " - "
                term = -term
            elif i:
                text += " + "
            term_text = self._print(term)
            if self._needs_add_brackets(term) or (i and isinstance(term, Shown)
                                                   and term.value < 0):
                term_text = rf"\left({term_text}\right)"
            text += term_text
        return text

    def _print_Hadamard(self, expr) -> str:
        left, right = (self.parenthesize(arg, 50) for arg in expr.args)
        return rf"{left} \odot {right}"

    def _print_Slope(self, expr) -> str:
        from .matrix import SLOPE_NAMES

        name, z = expr.args
        return rf"{SLOPE_NAMES[name.name]}'\left({self._print(z)}\right)"

    def _print_leaky_relu(self, expr, exp=None) -> str:
        return rf"\operatorname{{LeakyReLU}}\left({self._print(expr.args[0])}\right)"

    def _print_sigmoid(self, expr, exp=None) -> str:
        return rf"\sigma\left({self._print(expr.args[0])}\right)"

    def _print_relu(self, expr, exp=None) -> str:
        return rf"\operatorname{{ReLU}}\left({self._print(expr.args[0])}\right)"

    def _print_Function(self, expr, exp=None) -> str:
        if expr.func.__name__ in ("softmax", "Sum"):
            name = r"\operatorname{softmax}" if expr.func.__name__ == "softmax" else r"\sum_j"
            return rf"{name}\left({self._print(expr.args[0])}\right)"
        return super()._print_Function(expr, exp)


def to_latex(expr: sp.Expr, *, symbol_names: dict, digits: int, rounding: str) -> str:
    return DerivePrinter({"symbol_names": symbol_names, "digits": digits,
                          "rounding": rounding}).doprint(expr)
