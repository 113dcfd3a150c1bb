"""Gradients derived in symbols, as the seeds do: logistic regression, MSE through a sigmoid.

For ``kind: derivative`` problems (:mod:`derive.calculus`) that ask ``derivation: …``:
the definitions, each local derivative worked out and checked
(:func:`derive.worked.derived`), then the chain products rewritten line by line to the
slides' result (``(h − y)·x``), every line checked against ``sympy.diff`` of the
composed loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import sympy as sp

from .catalog import sigmoid
from .rules import D, Factors
from .worked import Derived, Rewrite, check, derived, frac, plus

if TYPE_CHECKING:
    from .calculus import DerivativeProblem

DERIVATIONS = ("logistic_regression", "mse_sigmoid")


@dataclass(frozen=True)
class Definition:
    """``lhs = rhs``: a quantity the derivation names."""

    lhs: sp.Symbol
    rhs: sp.Expr
    shown: sp.Expr | None = None  # a second form, e.g. σ(z) = 1/(1 + e^{−z})


@dataclass(frozen=True)
class Chain:
    """``lhs = factors = lines…``: a gradient as the product of derived factors."""

    lhs: sp.Expr
    factors: sp.Expr
    lines: tuple[Rewrite, ...]


@dataclass(frozen=True)
class SymbolicDerivation:
    """A gradient derived in symbols: definitions, local derivatives, chain products."""

    name: str
    definitions: tuple[Definition, ...]
    parts: tuple[Derived, ...]
    chains: tuple[Chain, ...]
    kind: ClassVar[str] = "derivation"


def derive_symbolic(name: str, problem: DerivativeProblem) -> SymbolicDerivation:
    """The logistic-regression gradient (seeds 000, 004) or the MSE-with-sigmoid
    gradient (seed 001), derived in symbols and checked against the composed loss."""
    return (_logistic_regression if name == "logistic_regression" else _mse_sigmoid)(
        problem.source)


def _logistic_regression(source: str) -> SymbolicDerivation:
    w, x, b, y, z, h, J = sp.symbols("w x b y z h J", real=True)
    z_of = w * x + b
    h_of = 1 / plus(1, sp.exp(-z))
    J_of = plus(-y * sp.log(h), sp.Mul(-1, plus(1, -y), sp.log(plus(1, -h)),
                                      evaluate=False))
    composed = J_of.xreplace({h: sigmoid(z_of)})
    dJ_dh = derived(D(J, h), J_of, h, quantity="dJ/dh", source=source, rewrites=(
        Rewrite(plus(-frac(y, h), frac(plus(1, -y), plus(1, -h))), "simplify"),))
    dh_dz = derived(D(h, z), h_of, z, quantity="dh/dz", source=source, rewrites=(
        Rewrite(frac(sp.exp(-z), plus(1, sp.exp(-z))**2), "simplify"),
        Rewrite(Factors(1 / plus(1, sp.exp(-z)), frac(sp.exp(-z), plus(1, sp.exp(-z)))),
                "split"),
        Rewrite(Factors(1 / plus(1, sp.exp(-z)), plus(1, -1 / plus(1, sp.exp(-z)))),
                "complement"),
        Rewrite(Factors(h, plus(1, -h)), "definition")), names={h: h_of})
    dz_dw = derived(D(z, w), z_of, w, quantity="dz/dw", source=source)
    dz_db = derived(D(z, b), z_of, b, quantity="dz/db", source=source)
    local = Factors(dJ_dh.rewrites[-1].expression, dh_dz.rewrites[-1].expression)
    distributed = plus(-Factors(y, plus(1, -h)), Factors(plus(1, -y), h))
    chains = (
        Chain(D(J, w), Factors(D(J, h), D(h, z), D(z, w)), (
            Rewrite(Factors(*local.args, x), "substitute"),
            Rewrite(Factors(distributed, x), "expand"),
            Rewrite(Factors(plus(h, -y), x), "simplify"))),
        Chain(D(J, b), Factors(D(J, h), D(h, z), D(z, b)), (
            Rewrite(Factors(*local.args, 1), "substitute"),
            Rewrite(distributed, "expand"),
            Rewrite(plus(h, -y), "simplify"))),
    )
    # Every line of a chain is a function of h; put h = σ(wx + b) and compare.
    through = {h: sigmoid(z_of), z: z_of}
    for chain, variable in zip(chains, (w, b)):
        reference = sp.diff(composed, variable)
        for number, line in enumerate(chain.lines, start=1):
            check(line.expression, reference, through, f"d{J}/d{variable} (line {number})")
    # The local derivatives in h, z: check them with h = σ(z) as well.
    check(dh_dz.final, sp.diff(sigmoid(z), z), {h: sigmoid(z)}, "dh/dz (final)")
    definitions = (Definition(z, z_of), Definition(h, sigmoid(z), h_of), Definition(J, J_of))
    return SymbolicDerivation("logistic_regression", definitions,
                              (dJ_dh, dh_dz, dz_dw, dz_db), chains)


def _mse_sigmoid(source: str) -> SymbolicDerivation:
    w, x, b, y, f, L = sp.symbols("w x b y f L", real=True)
    inside = sp.Mul(-1, plus(w * x, b), evaluate=False)
    f_of = 1 / plus(1, sp.exp(inside))
    L_of = sp.Mul(sp.Rational(1, 2), sp.Pow(plus(f, -y), 2), evaluate=False)
    dL_dw = derived(D(L, w), L_of, w, quantity="dL/dw (outer)", opaque={f: f_of},
                    source=source, rewrites=(Rewrite(Factors(plus(f, -y), D(f, w)),
                                                     "simplify"),))
    one_plus = plus(1, sp.exp(inside))
    df_dw = derived(D(f, w), f_of, w, quantity="df/dw", source=source, rewrites=(
        Rewrite(frac(Factors(x, sp.exp(inside)), sp.Pow(one_plus, 2)), "simplify"),
        Rewrite(Factors(1 / one_plus, frac(sp.exp(inside), one_plus), x), "split"),
        Rewrite(Factors(1 / one_plus, plus(1, -1 / one_plus), x), "complement"),
        Rewrite(Factors(f, plus(1, -f), x), "definition")), names={f: f_of})
    chain = Chain(D(L, w), dL_dw.final, (
        Rewrite(Factors(plus(f, -y), *df_dw.final.args), "substitute"),))
    reference = sp.diff(L_of.xreplace({f: f_of}), w)
    check(chain.lines[-1].expression, reference, {f: f_of}, "dL/dw")
    return SymbolicDerivation("mse_sigmoid", (Definition(f, f_of), Definition(L, L_of)),
                              (dL_dw, df_dw), (chain,))

