"""Derivations as the calculus templates lay them out: the printer, the titles, the views.

:class:`CalculusPrinter` writes derivatives as the slides do (d/dx of a bracket,
factors in the order written, ``f'(z)``, ∂ where there are several variables);
:func:`view` turns each record of a ``kind: derivative`` solution
(:mod:`derive.calculus`) into strings for ``calculus.md.j2`` / ``calculus.tex.j2``, one
view function per kind of record, and words the rules and rewrites by their names
(:data:`RULE_TITLES`, :data:`REASON_TITLES`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import sympy as sp

from .activation_derivatives import parameters
from .forms import Shown
from .kinds import equation_view
from .latex import DerivePrinter, format_given
from .render import EquationView
from .rules import D, Factors
from .steps import Step
from .stepwise import SEPARATE
from .worked import Derived, Prime

if TYPE_CHECKING:
    from .activation_derivatives import ActivationDerivative
    from .calculus import CalculusSolution, DerivativeProblem
    from .softmax_jacobian import SoftmaxJacobian
    from .symbolic_gradients import SymbolicDerivation
    from .worked import ExpressionDerivative

# -- words --------------------------------------------------------------------------------

RULE_TITLES = {
    "ConstantRule": "constant rule", "IdentityRule": "$x' = 1$", "LinearRule": "$(c x)' = c$",
    "OpaqueRule": "kept", "ConstantTimesRule": "constant factor", "SumRule": "sum rule",
    "ProductRule": "product rule", "QuotientRule": "quotient rule",
    "ReciprocalRule": "reciprocal rule", "ChainRule": "chain rule", "PowerRule": "power rule",
    "ExponentialRule": "exponential rule", "ExpRule": "derivative of exp",
    "LogRule": "derivative of log", "SinRule": "derivative of sin",
    "CosRule": "derivative of cos", "TanRule": "derivative of tan",
    "TanhRule": "derivative of tanh", "SigmoidRule": "derivative of the sigmoid",
    "ReluRule": "derivative of ReLU", "AbsRule": "derivative of |u|",
    "PiecewiseRule": "piece by piece", SEPARATE: "the part worked out above",
    "definition": "by the definition",
}
REASON_TITLES = {
    "split": "split the fraction",
    "complement": r"as $\frac{e^{-u}}{1 + e^{-u}} = 1 - \frac{1}{1 + e^{-u}}$",
    "name": "by the definition", "cancel": "cancel", "divide": r"divide by $e^{z}$",
    "sigmoid": r"the sigmoid $\sigma(z) = \frac{1}{1 + e^{-z}}$",
    "softmax": "by the definition of $s_i$",
    "simplify": "simplify", "definition": "by the definition", "substitute": "put in the factors",
    "expand": "multiply out",
}
FUNCTION_NAMES = {"sigmoid": r"\sigma", "tanh": r"\tanh"}
ACTIVATION_TITLES = {
    "sigmoid": "Sigmoid", "tanh": "Hyperbolic tangent", "relu": "ReLU",
    "leaky_relu": "Leaky ReLU", "elu": "ELU", "softplus": "Softplus", "linear": "Linear",
    "step": "Unit step (Heaviside)", "sign": "Sign (signum)", "softmax": "Softmax",
}
DERIVATION_TITLES = {
    "logistic_regression": "The logistic-regression gradient",
    "mse_sigmoid": "The gradient of the squared error through a sigmoid",
}




# -- printing -----------------------------------------------------------------------------

def _negated(term: sp.Expr) -> tuple[bool, sp.Expr]:
    """(True, −term) when a term reads with a leading minus, else (False, term)."""
    if isinstance(term, Factors):
        negative, first = _negated(term.args[0])
        if negative:
            rest = term.args[1:]
            return True, (Factors(*rest) if first == 1 and len(rest) > 1 else
                          rest[0] if first == 1 else Factors(first, *rest))
        return False, term
    if term.is_Mul and term.args and term.args[0].is_Number and term.args[0] < 0:
        first, rest = -term.args[0], list(term.args[1:])
        args = rest if first == 1 else [first, *rest]
        return True, (args[0] if len(args) == 1 else sp.Mul(*args, evaluate=False))
    if term.is_Number and term < 0:
        return True, -term
    if isinstance(term, Shown) and term.value < 0 or term.is_Add:
        return False, term  # a sum is bracketed, never negated
    if term.could_extract_minus_sign():
        return True, -term
    return False, term


class CalculusPrinter(DerivePrinter):
    """DerivePrinter for derivations: written derivatives, ordered factors, f'(z).

    Settings (besides DerivePrinter's): ``partial`` writes ∂ rather than d.
    """

    _default_settings: ClassVar[dict] = {**DerivePrinter._default_settings, "partial": False,
                                         "mul_symbol": None}

    def _d(self) -> str:
        return r"\partial" if self._settings["partial"] else r"\mathrm{d}"

    def _print_D(self, expr: D) -> str:
        d = self._d()
        if expr.expr.is_Symbol and expr.wrt.is_Symbol:
            return _fraction(f"{d} {self._print(expr.expr)}", f"{d} {self._print(expr.wrt)}")
        if expr.wrt.is_Symbol:
            inner = self._print(expr.expr)
            if not (expr.expr.is_Atom or expr.expr.is_Pow or isinstance(expr.expr, sp.Function)) \
                    or _negated(expr.expr)[0]:
                inner = rf"\left({inner}\right)"
            return _fraction(d, f"{d} {self._print(expr.wrt)}") + f" {inner}"
        parts = [self._print(e) for e in (expr.expr, expr.wrt)]
        parts = [rf"\left({text}\right)" if e.is_Add or e.is_Mul else text
                 for e, text in zip((expr.expr, expr.wrt), parts)]
        return _fraction(f"{d} {parts[0]}", f"{d} {parts[1]}")

    def _print_Derivative(self, expr: sp.Derivative) -> str:
        d = r"\partial"
        return _fraction(f"{d} {self._print(expr.expr)}",
                         f"{d} {self._print(expr.variables[0])}")

    def _print_Factors(self, expr: Factors) -> str:
        args = list(expr.args)
        sign = ""
        if args[0] == -1 and len(args) > 1:
            sign, args = "- ", args[1:]
        parts = []
        for i, factor in enumerate(args):
            text = self._print(factor)
            if factor.is_Add or (i and _negated(factor)[0]) or (
                    isinstance(factor, Shown) and i and factor.value < 0):
                text = rf"\left({text}\right)"
            parts.append(text)
        return sign + r" \cdot ".join(parts)

    def _print_Add(self, expr: sp.Add, order=None) -> str:
        text = ""
        for i, term in enumerate(expr.args):
            negative, shown = _negated(term)
            if i:
                text += " - " if negative else " + "
            elif negative:
                text += "- "
            term_text = self._print(shown)
            if shown.is_Add or (i and isinstance(shown, Shown) and shown.value < 0):
                term_text = rf"\left({term_text}\right)"
            text += term_text
        return text

    def _print_Prime(self, expr: Prime) -> str:
        applied = expr.args[0]
        name = type(applied).__name__
        symbol = FUNCTION_NAMES.get(name, rf"\operatorname{{{name}}}")
        arguments = ", ".join(self._print(a) for a in applied.args)
        return rf"{symbol}'\left({arguments}\right)"

    def _print_Mul(self, expr: sp.Mul) -> str:
        if not expr.has(Shown):
            return super()._print_Mul(expr)
        symbol = self._settings["mul_symbol_latex"]  # numbers put in: always a dot
        self._settings["mul_symbol_latex"] = r" \cdot "
        try:
            return super()._print_Mul(expr)
        finally:
            self._settings["mul_symbol_latex"] = symbol

    def _print_Heaviside(self, expr, exp=None) -> str:
        return rf"H\left({self._print(expr.args[0])}\right)"

    def _print_Subs(self, subs: sp.Subs) -> str:
        expr, old, new = subs.args
        at = ", ".join(f"{self._print(o)} = {self._print(n)}" for o, n in zip(old, new))
        return rf"\left. {self._print(expr)} \right|_{{{at}}}"

    def _print_Indexed(self, expr) -> str:
        return f"{self._print(expr.base.label)}_{{{', '.join(map(self._print, expr.indices))}}}"


def _fraction(top: str, bottom: str) -> str:
    return r"\frac{" + top + "}{" + bottom + "}"


# -- views ---------------------------------------------------------------------------------

def view(solution: CalculusSolution) -> dict:
    """What ``calculus.md.j2`` / ``calculus.tex.j2`` lay out."""
    problem = solution.problem
    printer = calculus_printer(problem)
    return {"title": problem.title, "note": problem.note,
            "items": [ITEM_VIEWS[item.kind](item, printer, problem)
                      for item in solution.items]}


def calculus_printer(problem: DerivativeProblem, **settings) -> CalculusPrinter:
    return CalculusPrinter({"digits": problem.digits, "rounding": problem.rounding,
                            **settings})


def derived_view(record: Derived, printer: CalculusPrinter, *, part: bool = False) -> dict:
    """The lines of a worked-out derivative, each with the rules that reach it."""
    working = record.working
    lines = [] if part else [{"expr": printer.doprint(D(working.expr, working.wrt)),
                              "why": RULE_TITLES["definition"]}]
    for line in working.lines:
        lines.append({"expr": printer.doprint(line.expression),
                      "why": "; ".join(RULE_TITLES[name] for name in line.rules)})
    result = printer.doprint(working.result)
    if (not lines or result != lines[-1]["expr"]) and not record.rewrites:
        lines.append({"expr": result, "why": "simplify"})
    for rewrite in record.rewrites:
        text = printer.doprint(rewrite.expression)
        if text != lines[-1]["expr"]:
            lines.append({"expr": text, "why": REASON_TITLES[rewrite.reason]})
    parts = [derived_view(Derived(D(part.expr, part.wrt), part.expr, part), printer,
                          part=True) for part in working.parts]
    return {"lhs": printer.doprint(record.lhs), "lines": lines, "parts": parts}


def step_view(step: Step, printer: CalculusPrinter) -> EquationView:
    """A value as ``lhs = formula = numbers = value``, or undefined (no right-hand side)."""
    if math.isnan(step.value):  # undefined there
        return EquationView("undefined", printer.doprint(step.lhs), (), ())
    return equation_view(step, printer)


def activation_view(item: ActivationDerivative, printer: CalculusPrinter,
                    problem: DerivativeProblem) -> dict:
    kink = item.kink
    view = {"kind": item.kind, "name": item.name, "title": ACTIVATION_TITLES[item.name],
            "definition": printer.doprint(sp.Eq(item.function, item.shown, evaluate=False)),
            "derived": derived_view(item.derived, printer),
            "final": printer.doprint(sp.Eq(Prime(item.function), item.derivative,
                                           evaluate=False)),
            "evaluations": [step_view(step, printer) for step in item.values],
            "useless": item.useless, "kink": None, "parameters": [
                f"{printer.doprint(symbol)} = {format_given(float(value))}"
                for symbol, value in parameters(problem, item.name).items()]}
    if kink is not None:
        condition = kink.differentiable
        view["kink"] = {
            "left_value": printer.doprint(kink.left_value),
            "value": printer.doprint(kink.value),
            "right_value": printer.doprint(kink.right_value),
            "continuous": kink.continuous,
            "left_slope": printer.doprint(kink.left_slope),
            "right_slope": printer.doprint(kink.right_slope),
            "differentiable": "yes" if condition is sp.true else
            "no" if condition is sp.false else printer.doprint(condition),
            "convention": None if kink.convention is None
            else printer.doprint(kink.convention),
            "function": printer.doprint(item.function.func(0)),
            "slope": printer.doprint(Prime(item.function.func(0)))}
    return view


def softmax_view(item: SoftmaxJacobian, printer: CalculusPrinter,
                 problem: DerivativeProblem) -> dict:
    partial = calculus_printer(problem, partial=True)
    return {"kind": item.kind, "title": ACTIVATION_TITLES["softmax"],
            "classes": item.classes,
            "definition": partial.doprint(item.definition),
            "diagonal": derived_view(item.diagonal, partial),
            "off_diagonal": derived_view(item.off_diagonal, partial),
            "general": partial.doprint(item.general),
            "matrix": partial.doprint(item.matrix),
            "points": [{"z": ", ".join(partial.doprint(v) for v in at.point),
                        "outputs": [step_view(step, partial) for step in at.outputs],
                        "substituted": partial.doprint(at.substituted),
                        "numbers": partial.doprint(at.values)}
                       for at in item.values]}


def expression_view(item: ExpressionDerivative, printer: CalculusPrinter,
                    problem: DerivativeProblem) -> dict:
    several = len(item.derived.definition.free_symbols) > 1
    local = calculus_printer(problem, partial=several)
    return {"kind": item.kind, "derived": derived_view(item.derived, local),
            "evaluations": [step_view(step, local) for step in item.values]}


def derivation_view(item: SymbolicDerivation, printer: CalculusPrinter,
                    problem: DerivativeProblem) -> dict:
    partial = calculus_printer(problem, partial=item.name == "mse_sigmoid",
                               symbol_names={sp.Symbol("f", real=True): "f(x)"})
    return {"kind": item.kind, "name": item.name, "title": DERIVATION_TITLES[item.name],
            "definitions": [" = ".join(partial.doprint(e) for e in
                                       (d.lhs, d.rhs, *(() if d.shown is None else (d.shown,))))
                            for d in item.definitions],
            "parts": [derived_view(part, partial) for part in item.parts],
            "chains": [{"lhs": partial.doprint(chain.lhs),
                        "lines": [{"expr": partial.doprint(chain.factors), "why": "chain rule"}]
                        + [{"expr": partial.doprint(line.expression),
                            "why": REASON_TITLES[line.reason]} for line in chain.lines]}
                       for chain in item.chains]}


# The view of each kind of record.
ITEM_VIEWS = {"activation": activation_view, "softmax": softmax_view,
              "expression": expression_view, "derivation": derivation_view}
