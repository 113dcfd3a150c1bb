"""The independent check of a descent run and of a finite-difference table, by mpmath.

Nothing here uses SymPy's derivative or derive's exact arithmetic: the loss is
compiled for mpmath (derive's own functions written as elementary ones), every
gradient is a central difference with h = :data:`CHECK_STEP` at :data:`CHECK_DIGITS`
digits, every step is redone from derive's w_k, and every loss and every number of a
finite-difference table (:mod:`derive.differences`, also :mod:`derive.training`'s) is
recomputed. A value further than :data:`CHECK_TOL`·max(1, |value|) from its reference
raises :class:`~derive.errors.CrossCheckError`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import mpmath
import sympy as sp

from . import catalog
from .differences import Differences
from .errors import CrossCheckError
from .expression import relu as expression_relu
from .forms import Shown, value_of
from .steps import Step

if TYPE_CHECKING:
    from .descent import DescentProblem, Iterate

CHECK_DIGITS = 80       # mpmath's working precision in the cross-check
CHECK_STEP = mpmath.mpf("1e-25")  # h of the cross-check's central difference
CHECK_TOL = mpmath.mpf("1e-20")   # times max(1, |value|): what the cross-check accepts


def to_elementary(expr: sp.Expr) -> sp.Expr:
    """``expr`` with derive's own functions written as elementary ones, for mpmath."""
    return expr.replace(
        lambda e: isinstance(e, catalog.sigmoid), lambda e: 1 / (1 + sp.exp(-e.args[0]))
    ).replace(
        lambda e: isinstance(e, (expression_relu, catalog.relu)), lambda e: sp.Max(0, e.args[0])
    ).replace(
        lambda e: isinstance(e, catalog.leaky_relu),
        lambda e: sp.Piecewise((e.args[0], e.args[0] > 0), (e.args[1] * e.args[0], True)))


def mp(value: sp.Number) -> mpmath.mpf:
    """A SymPy number as an mpmath number at the check's precision."""
    return mpmath.mpf(sp.Float(value, CHECK_DIGITS + 10)._mpf_)


def mp_function(expr: sp.Expr, theta: sp.Symbol):
    """θ ↦ expr evaluated by mpmath (call inside ``mpmath.workdps(CHECK_DIGITS)``)."""
    return sp.lambdify(theta, to_elementary(expr), modules="mpmath")


@dataclass(frozen=True)
class Agreement:
    """How many values one independent computation confirmed, and the largest gap."""

    method: str
    compared: int
    max_abs: float


def compare(method: str, pairs: Iterable[tuple[str, sp.Number, mpmath.mpf]]) -> Agreement:
    """Each (quantity, derive's value, reference) within CHECK_TOL·max(1, |reference|).

    Raises:
        CrossCheckError: at the first value outside.
    """
    count, largest = 0, mpmath.mpf(0)
    for quantity, derived, reference in pairs:
        gap = abs(mp(derived) - reference)
        if not gap <= CHECK_TOL * max(1, abs(reference)):
            raise CrossCheckError(quantity=quantity, derived=float(derived),
                                  reference=float(reference), method=method,
                                  tolerance=f"{mpmath.nstr(CHECK_TOL, 3)}·max(1, |value|)")
        count, largest = count + 1, max(largest, gap)
    return Agreement(method, count, float(largest))


def check_differences(loss: sp.Expr, theta: sp.Symbol, table: Differences,
                      name: str) -> Agreement:
    """Every number of the finite-difference table, recomputed by mpmath."""
    with mpmath.workdps(CHECK_DIGITS):
        f = mp_function(loss, theta)
        at, pairs = mp(table.at), [(f"L({name})", table.loss, f(mp(table.at)))]
        for row in table.rows:
            eps = mp(row.eps)
            above, below, centre = f(at + eps), f(at - eps), f(at)
            pairs += [(f"L({name}+{row.eps})", row.above, above),
                      (f"L({name}-{row.eps})", row.below, below),
                      (f"forward difference at eps={row.eps}", row.forward,
                       (above - centre) / eps),
                      (f"central difference at eps={row.eps}", row.central,
                       (above - below) / (2 * eps))]
        return compare("mpmath", pairs)


@dataclass(frozen=True)
class DescentCheck:
    """The outcome of :func:`check_descent` (it raises on any disagreement)."""

    gradients: Agreement   # dL/dw(w_k) against mpmath central differences
    steps: Agreement       # w_{k+1} redone from w_k in mpmath
    losses: Agreement      # L(w_k) recomputed by mpmath
    table: Agreement | None
    shown: int             # printed steps whose substituted form gives their value


def check_descent(problem: DescentProblem, iterates: tuple[Iterate, ...]) -> tuple[
        Agreement, Agreement, Agreement]:
    """Gradients, steps and losses of the run against mpmath, independently of SymPy's
    derivative and of the exact arithmetic: ``dL/dw`` is a central difference of L
    with h = 1e-25 at 80 digits, and each step is redone from derive's w_k."""
    w, f = problem.parameter, problem.loss.xreplace(problem.values)
    name = w.name
    gradients, steps, losses = [], [], []
    with mpmath.workdps(CHECK_DIGITS):
        loss = mp_function(f, w)
        rate = mp(problem.learning_rate)
        for current, following in zip(iterates, iterates[1:] + (None,)):
            point = mp(current.w)
            slope = (loss(point + CHECK_STEP) - loss(point - CHECK_STEP)) / (2 * CHECK_STEP)
            gradients.append((f"dL/d{name}({name}_{current.k})", current.gradient, slope))
            losses.append((f"L({name}_{current.k})", current.loss, loss(point)))
            if following is not None:
                steps.append((f"{name}_{following.k}", following.w, point - rate * slope))
        return (compare("mpmath central differences", gradients),
                compare("mpmath step", steps), compare("mpmath", losses))


def check_shown(steps: Iterable[Step]) -> int:
    """Each printed step's substituted form, evaluated, gives its value (to 1e-9)."""
    count = 0
    for step in steps:
        if step.substituted.atoms(Shown) and step.substituted != step.lhs:
            shown = value_of(step.substituted)
            if not math.isclose(shown, step.value, rel_tol=1e-9, abs_tol=1e-12):
                raise CrossCheckError(quantity=step.name, derived=step.value, reference=shown,
                                      method="the substituted form, evaluated",
                                      tolerance="1e-9 relative")
            count += 1
    return count
