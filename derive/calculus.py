"""Problems of kind ``derivative``: the calculus the slides show, step by step, in symbols.

A problem file asks for one of three things::

    kind: derivative
    of: [sigmoid, tanh, relu]        # activations: derivative from the definition
    at: [-3, 0, 2]                   # optional: evaluate at these points

    kind: derivative
    expression: "exp(exp(x^2))"      # chain-rule exercises (one or a list)
    variable: x

    kind: derivative
    derivation: logistic_regression  # or mse_sigmoid: a gradient derived in symbols

The pipeline reads top to bottom:

1. catalog: each activation's definition in elementary functions (piece by piece
   for ReLU and its kin), and the rewrites from the raw derivative to the form the
   slides use (``σ(z)(1 − σ(z))``), as data (:mod:`derive.activation_derivatives`);
2. derivation: :mod:`derive.stepwise` finds the rule tree (:mod:`derive.rules`) and
   writes it out line by line (:mod:`derive.worked`); piecewise functions are examined
   at their kink (continuity, one-sided slopes, the convention used there); values at
   the given points in three forms; softmax's Jacobian
   (:mod:`derive.softmax_jacobian`) and the seeds' gradients
   (:mod:`derive.symbolic_gradients`) are built from the same pieces;
3. check: every line, every rewrite and every final form is compared with
   ``sympy.diff`` of the definition (difference simplified to 0), every value with
   ``sympy.diff`` at 30 digits and a central difference; any disagreement raises
   :class:`~derive.errors.CrossCheckError` and nothing is published;
4. render through the templates ``calculus.md.j2`` / ``calculus.tex.j2``
   (:mod:`derive.calculus_view`), or JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import sympy as sp
from msgspec import Meta

from . import __version__, calculus_view
from .activation_derivatives import ACTIVATIONS, ActivationDerivative, derive_activation
from .errors import ProblemError
from .expression import parse_expression
from .kinds import KindSolution, ProblemModel, validate
from .rules import D, rebuilt
from .softmax_jacobian import SoftmaxJacobian, derive_softmax
from .spec import Number
from .symbolic_gradients import DERIVATIONS, SymbolicDerivation, derive_symbolic
from .validation import Digits, Positive
from .worked import ExpressionDerivative, derive_expression

# What a problem asks for, one record each.
Item = ActivationDerivative | SoftmaxJacobian | ExpressionDerivative | SymbolicDerivation


# -- the problem ------------------------------------------------------------------------

Point = Number | tuple[Number, ...] | dict[str, Number]


class DerivativeProblem(ProblemModel):
    """A validated ``kind: derivative`` problem."""

    kind: Literal["derivative"]
    title: str = "Derivatives step by step"
    of: Literal[ACTIVATIONS] | tuple[Literal[ACTIVATIONS], ...] | None = None  # type: ignore[valid-type]
    expression: str | tuple[str, ...] | None = None
    variable: str | None = None
    variables: tuple[str, ...] = ()
    derivation: Literal[DERIVATIONS] | tuple[Literal[DERIVATIONS], ...] | None = None  # type: ignore[valid-type]
    at: tuple[Point, ...] = ()
    relu_grad_at_zero: Number = 0.0
    leaky_slope: Positive = 0.01
    elu_alpha: Positive = 1.0
    classes: Annotated[int, Meta(ge=2, le=5)] = 3
    digits: Digits = 4
    rounding: Literal["decimals", "significant"] = "decimals"
    note: str | None = None

    @property
    def activations(self) -> tuple[str, ...]:
        return _listed(self.of)

    @property
    def expressions(self) -> tuple[str, ...]:
        return _listed(self.expression)

    @property
    def derivations(self) -> tuple[str, ...]:
        return _listed(self.derivation)

    @property
    def names(self) -> tuple[str, ...]:
        """The variables of the expressions: the one differentiated by first."""
        variable = self.variable or (self.variables[0] if self.variables else "x")
        return (variable, *(name for name in self.variables if name != variable))

    def parsed(self) -> tuple[sp.Expr, ...]:
        return tuple(parse_expression(text, variables=self.names, source=self.source,
                                      field="expression" if isinstance(self.expression, str)
                                      else f"expression[{i}]")
                     for i, text in enumerate(self.expressions))


def _listed(value) -> tuple:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def parse_problem(mapping: Mapping[str, Any], *, source: str = "<problem>") -> DerivativeProblem:
    """Validate a ``kind: derivative`` mapping, including the expressions and points.

    Raises:
        ProblemError: naming ``source``, the field and what was expected.
    """
    problem = validate(DerivativeProblem, mapping, source)

    def fail(field: str, expected: str):
        raise ProblemError(source, field, expected)

    asked = [name for name in ("of", "expression", "derivation")
             if getattr(problem, name) is not None]
    if len(asked) != 1:
        fail("of", "expected exactly one of `of` (activations), `expression` or "
                   f"`derivation`, got {', '.join(asked) or 'none'}")
    if problem.derivation is not None and problem.at:
        fail("at", "a derivation is in symbols only; expected no `at`")
    if problem.expression is not None:
        problem.parsed()
    elif problem.variable is not None or problem.variables:
        fail("variable", "`variable` and `variables` go with `expression`")
    for i, point in enumerate(problem.at):
        field = f"at[{i}]"
        if isinstance(point, tuple):
            if "softmax" not in problem.activations:
                fail(field, "expected a number; a list of numbers is a point for softmax")
            if len(point) != problem.classes:
                fail(field, f"expected {problem.classes} numbers (classes: "
                            f"{problem.classes}), got {len(point)}")
        elif isinstance(point, dict):
            if problem.expression is None or set(point) != set(problem.names):
                fail(field, f"expected a value for each of {', '.join(problem.names)}")
        elif problem.expression is not None and len(problem.names) > 1:
            fail(field, f"expected a value for each of {', '.join(problem.names)}, "
                        "as a mapping")
    return problem


# -- the solution -----------------------------------------------------------------------

@dataclass(frozen=True)
class CalculusSolution(KindSolution):
    """Derivatives worked out and checked, ready to render."""

    problem: DerivativeProblem
    items: tuple[Item, ...]
    template_dir: Path | None = None
    template = "calculus"

    @property
    def results(self) -> dict[str, str]:
        """Each derivative's final form, as SymPy text, by name."""
        out = {}
        for item in self.items:
            if isinstance(item, ActivationDerivative):
                out[item.name] = str(rebuilt(item.derivative))
            elif isinstance(item, ExpressionDerivative):
                out[str(item.derived.definition)] = str(rebuilt(item.derived.final))
            elif isinstance(item, SoftmaxJacobian):
                out["softmax"] = str(item.general)
            else:
                for chain in item.chains:
                    final = chain.lines[-1].expression
                    out[f"{item.name}:{_plain(chain.lhs)}"] = str(rebuilt(final))
        return out

    @property
    def values(self) -> dict[str, float]:
        """Each value at the points, by name (NaN where the derivative is undefined)."""
        out = {}
        for item in self.items:
            if isinstance(item, (ActivationDerivative, ExpressionDerivative)):
                out.update((step.name, step.value) for step in item.values)
        return out

    def view(self, stem: str) -> dict:
        return calculus_view.view(self)

    def document(self) -> dict:
        values = {name: (None if math.isnan(value) else value)
                  for name, value in self.values.items()}
        return {"derive": __version__, "kind": "derivative", "title": self.problem.title,
                "derivatives": self.results, "values": values}


def solve(problem: DerivativeProblem, *,
          template_dir: str | Path | None = None) -> CalculusSolution:
    """Derive and check every derivative the problem asks for.

    Raises:
        CrossCheckError: a line, a rewrite or a value disagrees with sympy.diff.
    """
    items: list[Item] = []
    for name in problem.activations:
        items.append(derive_softmax(problem) if name == "softmax"
                     else derive_activation(name, problem))
    for index, expr in enumerate(problem.parsed()):
        items.append(derive_expression(expr, problem, index))
    for name in problem.derivations:
        items.append(derive_symbolic(name, problem))
    return CalculusSolution(problem, tuple(items),
                            None if template_dir is None else Path(template_dir))


def _plain(expr: D) -> str:
    return f"d{expr.expr}/d{expr.wrt}"
