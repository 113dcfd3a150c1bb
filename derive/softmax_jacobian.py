"""The Jacobian of softmax, derived by the quotient rule and evaluated at points.

For ``kind: derivative`` problems (:mod:`derive.calculus`) with ``softmax`` among the
activations: ∂s_1/∂z_1 and ∂s_1/∂z_2 worked out and checked
(:func:`derive.worked.derived`), rewritten in the outputs (``s_1(1 − s_1)``,
``−s_1 s_2``), the general entry ``s_i(δ_ij − s_j)`` and the whole matrix; at each
point the outputs s_i, then the Jacobian with them put in, every entry checked against
``sympy.diff`` of the definition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import sympy as sp

from .errors import CrossCheckError
from .forms import Shown, substitute
from .rules import Factors
from .steps import Step
from .worked import Derived, Rewrite, derived, frac, plus

if TYPE_CHECKING:
    from .calculus import DerivativeProblem


@dataclass(frozen=True)
class SoftmaxJacobian:
    """∂s_i/∂z_j for softmax over ``classes`` outputs: one diagonal and one
    off-diagonal entry derived, the general entry, the matrix, values at points."""

    classes: int
    definition: sp.Expr          # s_1 = e^{z_1} / Σ e^{z_j}
    diagonal: Derived
    off_diagonal: Derived
    general: sp.Expr
    matrix: sp.Matrix
    values: tuple[JacobianAt, ...]
    kind: ClassVar[str] = "softmax"


@dataclass(frozen=True)
class JacobianAt:
    """softmax at one point: the outputs s_i, then the Jacobian with the s_i put in,
    and its entries' values."""

    point: tuple[Shown, ...]
    outputs: tuple[Step, ...]
    substituted: sp.Matrix
    values: sp.Matrix


def derive_softmax(problem: DerivativeProblem) -> SoftmaxJacobian:
    """∂s_1/∂z_1 and ∂s_1/∂z_2 by the quotient rule, then the whole Jacobian."""
    k = problem.classes
    z = [sp.Symbol(f"z_{i}", real=True) for i in range(1, k + 1)]
    s = [sp.Symbol(f"s_{i}", positive=True) for i in range(1, k + 1)]
    total = plus(*(sp.exp(zi) for zi in z))
    definitions = {si: sp.exp(zi) / total for si, zi in zip(s, z)}
    fraction = lambda i: frac(sp.exp(z[i]), total)
    diagonal = derived(sp.Derivative(s[0], z[0]), fraction(0), z[0], quantity="ds_1/dz_1",
                       rewrites=(
                           Rewrite(Factors(fraction(0), frac(plus(total, -sp.exp(z[0])), total)),
                                   "split"),
                           Rewrite(Factors(fraction(0), plus(1, -fraction(0))), "cancel"),
                           Rewrite(Factors(s[0], plus(1, -s[0])), "softmax")),
                       names=definitions, source=problem.source)
    off_diagonal = derived(sp.Derivative(s[0], z[1]), fraction(0), z[1],
                           quantity="ds_1/dz_2", rewrites=(
                               Rewrite(-Factors(fraction(0), fraction(1)), "split"),
                               Rewrite(-Factors(s[0], s[1]), "softmax")),
                           names=definitions, source=problem.source)
    i, j = sp.symbols("i j", integer=True)
    si = sp.IndexedBase("s")
    general = sp.Mul(si[i], plus(sp.KroneckerDelta(i, j), -si[j]), evaluate=False)
    matrix = sp.Matrix(k, k, lambda r, c: sp.Mul(s[r], plus(1, -s[c]), evaluate=False)
                       if r == c else -sp.Mul(s[r], s[c], evaluate=False))
    values = []
    for point in problem.at:
        if isinstance(point, tuple):
            values.append(_softmax_values(point, z, s, definitions, matrix))
    return SoftmaxJacobian(k, sp.Eq(s[0], fraction(0), evaluate=False), diagonal,
                           off_diagonal, general, matrix, tuple(values))


def _softmax_values(point, z, s, definitions, matrix) -> JacobianAt:
    """The outputs s_i at a point, and the Jacobian there in its three forms, each
    entry checked against sympy.diff of the definition."""
    at = {zi: sp.Rational(str(v)) for zi, v in zip(z, point)}
    given = {zi: Shown(float(v), given=True) for zi, v in zip(z, point)}
    outputs, shown = [], {}
    for index, si in enumerate(s):
        value = sp.N(definitions[si].xreplace(at), 30)
        outputs.append(Step(("s", index), si.name, si, definitions[si],
                            substitute(definitions[si], given), float(value)))
        shown[si] = Shown(float(value))
    values = matrix.xreplace({si: definitions[si] for si in s}).xreplace(at)
    for r in range(len(s)):
        for c in range(len(s)):
            reference = sp.N(sp.diff(definitions[s[r]], z[c]).xreplace(at), 30)
            got = sp.N(values[r, c], 30)
            if abs(got - reference) > 1e-25:
                raise CrossCheckError(f"ds_{r + 1}/dz_{c + 1}", float(got), float(reference),
                                      "sympy.diff", "1e-25")
    numbers = values.applyfunc(lambda v: Shown(float(sp.N(v, 30))))
    return JacobianAt(tuple(given.values()), tuple(outputs),
                      matrix.applyfunc(lambda entry: substitute(entry, shown)), numbers)

