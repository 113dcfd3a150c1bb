"""Typst printing: a SymPy printer for the expressions of step records, and escaping.

:class:`TypstPrinter` is the Typst twin of :class:`~derive.latex.DerivePrinter`:
``_print_<Class>`` methods chosen by type, one flat settings dict (unknown settings
are refused by SymPy's :class:`~sympy.printing.printer.Printer`), symbol names from
the notation's Typst names (``symbol_names``), computed numbers rounded by
``digits``/``rounding``, terms in the order the derivation built them. An
expression class without a printing method is an error, never a silent ``str()``:
Typst would read an unknown word as a variable and fail later, far from the cause.

User text never becomes Typst markup: :func:`typst_string` writes it as a string
literal, which Typst shows verbatim (``#``, ``$``, ``\\`` and the rest lose their
meaning inside it).
"""

from __future__ import annotations

import re

import sympy as sp
from sympy.core.function import _coeff_isneg
from sympy.printing.precedence import PRECEDENCE, precedence_traditional
from sympy.printing.printer import Printer

from . import latex
from .forms import Partial, Shown
from .latex import format_given

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def typst_string(text: str) -> str:
    """``text`` as a Typst string literal: shown as written, never interpreted."""
    def escape(ch: str) -> str:
        if ch in _ESCAPES:
            return _ESCAPES[ch]
        if ord(ch) < 32 or ord(ch) == 127:
            return f"\\u{{{ord(ch):x}}}"
        return ch
    return '"' + "".join(escape(ch) for ch in str(text)) + '"'


def typst_text(text: str) -> str:
    """User text for a place in Typst markup: ``#"..."``, followed by nothing that could
    continue the expression (a zero-width call boundary ``;`` is not needed in markup
    because the string literal closes the expression)."""
    return "#" + typst_string(text) + ";"


def format_number(value: float, *, digits: int, rounding: str = "decimals") -> str:
    """Round for printing, in Typst math (as :func:`derive.latex.format_number`):
    a nonzero value that would round to 0 is written ``m dot 10^(e)``."""
    return latex.format_number(value, digits=digits, rounding=rounding,
                               times_ten="{} dot 10^({})")


# Functions printed as an upright name applied to their arguments.
_NAMED = {"sin": "sin", "cos": "cos", "tan": "tan", "sinh": "sinh", "cosh": "cosh",
          "tanh": "tanh", "log": "log", "Max": "max", "Min": "min",
          "sigmoid": "sigma", "relu": 'op("ReLU")', "leaky_relu": 'op("LeakyReLU")',
          "softmax": 'op("softmax")', "Heaviside": "theta"}
_RELATIONS = {"==": "=", ">": ">", "<": "<", ">=": ">=", "<=": "<=", "!=": "!="}
_IDENTIFIER = re.compile(r"[A-Za-z]\Z")


class TypstPrinter(Printer):
    """Typst math for step records.

    Settings: ``symbol_names`` (symbol → Typst name), ``digits`` and ``rounding`` for
    computed numbers, ``order`` (only ``"none"``: terms as built).
    """

    printmethod = "_typst"
    _default_settings = {
        "order": "none",
        "symbol_names": {},
        "digits": 4,
        "rounding": "decimals",
    }

    def emptyPrinter(self, expr) -> str:
        raise TypeError(f"TypstPrinter cannot print {type(expr).__name__}: {expr!r}")

    def parenthesize(self, item, level: int, strict: bool = False) -> str:
        """``item`` in brackets if it binds less tightly than ``level`` (or equally, if
        not ``strict``), as SymPy's LaTeX printer decides."""
        text = self._print(item)
        value = precedence_traditional(item)
        if value < level or (not strict and value <= level):
            return f"({text})"
        return text

    # -- atoms -------------------------------------------------------------------
    def _print_Symbol(self, expr: sp.Symbol) -> str:
        names = self._settings["symbol_names"]
        if expr in names:
            return names[expr]
        if _IDENTIFIER.match(expr.name):
            return expr.name
        return typst_string(expr.name)  # upright text: never read as a variable

    def _print_Shown(self, expr: Shown) -> str:
        if expr.given:
            return format_given(expr.value)
        return format_number(expr.value, digits=self._settings["digits"],
                             rounding=self._settings["rounding"])

    def _print_Integer(self, expr: sp.Integer) -> str:
        return str(expr.p)

    def _print_Rational(self, expr: sp.Rational) -> str:
        sign = "-" if expr.p < 0 else ""
        return f"{sign}frac({abs(expr.p)}, {expr.q})"

    def _print_Float(self, expr: sp.Float) -> str:
        return format_given(float(expr))

    def _print_Exp1(self, expr) -> str:
        return "e"

    def _print_BooleanTrue(self, expr) -> str:
        return '"true"'

    def _print_Partial(self, expr: Partial) -> str:
        return f"frac(partial {self._print(expr.num)}, partial {self._print(expr.den)})"

    # -- sums, products, powers ---------------------------------------------------------
    def _print_Add(self, expr: sp.Add) -> str:
        # Terms in the order built; a negative number after the first is bracketed:
        # 0.1385 dot 0.4 + (-0.0381) dot 0.5 and 0.54 + (-0.42), never "+ -".
        text = ""
        for i, term in enumerate(expr.args):
            if i and _coeff_isneg(term):
                text += " - "
                term = negated(term)
            elif i:
                text += " + "
            term_text = self._print(term)
            if term.is_Relational or term.is_Add or (
                    i and isinstance(term, Shown) and term.value < 0):
                term_text = f"({term_text})"
            text += term_text
        return text

    def _print_Mul(self, expr: sp.Mul) -> str:
        first, rest = expr.args[0], expr.args[1:]
        # ½(t − o)² as the slides write it, not (t − o)²/2.
        if (isinstance(first, sp.Rational) and not isinstance(first, sp.Integer)
                and abs(first.p) == 1 and rest):
            body = sp.Mul(*rest, evaluate=False) if len(rest) > 1 else rest[0]
            text = self.parenthesize(body, PRECEDENCE["Mul"], strict=True)
            sign = "-" if first.p < 0 else ""
            return f"{sign}frac(1, {first.q}) {text}"
        if _coeff_isneg(expr):
            rest = negated(expr)
            if isinstance(rest, Shown) and rest.value < 0:
                return f"-({self._print(rest)})"  # e^(-(-3)), not e^(--3)
            return "-" + self._print(rest)
        numerator, denominator = [], []
        for factor in expr.args:
            if factor.is_Pow and factor.exp.is_Rational and factor.exp.is_negative:
                denominator.append(sp.Pow(factor.base, -factor.exp, evaluate=False)
                                   if factor.exp != -1 else factor.base)
            elif isinstance(factor, sp.Rational) and not isinstance(factor, sp.Integer):
                if factor.p != 1:
                    numerator.append(sp.Integer(factor.p))
                denominator.append(sp.Integer(factor.q))
            else:
                numerator.append(factor)
        top = self._product(numerator)
        if not denominator:
            return top
        return f"frac({top}, {self._product(denominator)})"

    def _product(self, factors: list) -> str:
        if not factors:
            return "1"
        if len(factors) == 1:
            return self._print(factors[0])  # a fraction's part needs no brackets
        return " dot ".join(self.parenthesize(f, PRECEDENCE["Mul"], strict=True)
                            for f in factors)

    def _print_Pow(self, expr: sp.Pow) -> str:
        base, exponent = expr.args
        if exponent.is_Rational and exponent.is_negative:
            return f"frac(1, {self._print(sp.Pow(base, -exponent, evaluate=False))})" \
                if exponent != -1 else f"frac(1, {self._print(base)})"
        if exponent == sp.S.Half:
            return f"sqrt({self._print(base)})"
        if isinstance(base, sp.Function) and not isinstance(base, sp.exp):
            base_text = self._print(base)  # tanh(z)^2
        else:
            base_text = self.parenthesize(base, PRECEDENCE["Pow"], strict=True)
            # (e^z)^2, and (a^([1])_(1))^2 as SymPy's LaTeX printer brackets a^{[1]}_{1}
            if isinstance(base, (sp.Pow, sp.exp)) or (base.is_Symbol and "^" in base_text):
                base_text = f"({base_text})"
        return f"{base_text}^({self._print(exponent)})"

    # -- functions -----------------------------------------------------------------------
    def _print_exp(self, expr: sp.exp) -> str:
        return f"e^({self._print(expr.args[0])})"

    def _print_log(self, expr: sp.log) -> str:
        if len(expr.args) == 2:
            value, base = expr.args
            return f"log_({self._print(base)})({self._print(value)})"
        return f"log({self._print(expr.args[0])})"

    def _print_Abs(self, expr) -> str:
        return f"abs({self._print(expr.args[0])})"

    def _print_Function(self, expr) -> str:
        name = expr.func.__name__
        if name == "Sum":  # the sum over a layer's neurons, from derive.matrix
            return f"sum_j ({self._print(expr.args[0])})"
        if name in ("relu", "leaky_relu", "sigmoid", "Heaviside"):
            args = expr.args[:1]  # relu's and leaky_relu's second argument is a setting
        elif name in ("Max", "Min"):
            args = sorted(expr.args, key=sp.default_sort_key)  # as the LaTeX printer
        else:
            args = expr.args
        if name in _NAMED:
            head = _NAMED[name]
        elif _IDENTIFIER.match(name):
            head = name
        else:
            head = f"op({typst_string(name)})"
        return f"{head}({', '.join(self._print(arg) for arg in args)})"

    _print_Max = _print_Function
    _print_Min = _print_Function

    def _print_Piecewise(self, expr: sp.Piecewise) -> str:
        rows = []
        for value, condition in expr.args:
            if condition == sp.true:
                rows.append(f'{self._print(value)} & "otherwise"')
            else:
                rows.append(f'{self._print(value)} & "for" {self._print(condition)}')
        return f"cases({', '.join(rows)})"

    def _print_Relational(self, expr) -> str:
        return (f"{self._print(expr.lhs)} {_RELATIONS[expr.rel_op]} "
                f"{self._print(expr.rhs)}")

    # -- the layer (matrix) form -----------------------------------------------------
    def _print_Hadamard(self, expr) -> str:
        left, right = (self.parenthesize(arg, PRECEDENCE["Mul"]) for arg in expr.args)
        return f"{left} dot.o {right}"

    def _print_Slope(self, expr) -> str:
        from .matrix import SLOPE_TYPST_NAMES

        name, z = expr.args
        return f"{SLOPE_TYPST_NAMES[name.name]}'({self._print(z)})"


def negated(term: sp.Expr) -> sp.Expr:
    """``-term`` without reordering an unevaluated product: ``-(−1·η·g)`` is ``η·g``."""
    if term.is_Mul and term.args[0].is_Number and term.args[0].is_negative:
        coefficient, rest = -term.args[0], term.args[1:]
        if coefficient == 1:
            return rest[0] if len(rest) == 1 else sp.Mul(*rest, evaluate=False)
        return sp.Mul(coefficient, *rest, evaluate=False)
    if isinstance(term, Shown):
        return Shown(-term.value, term.given)
    return -term


def to_typst(expr: sp.Expr, *, symbol_names: dict, digits: int = 4,
             rounding: str = "decimals") -> str:
    return TypstPrinter({"symbol_names": symbol_names, "digits": digits,
                         "rounding": rounding}).doprint(expr)
