"""Step records: what the derivation found, as data, printed later by templates.

Every record states one equation chain ``lhs = formula = substituted = value``:
the symbolic form, the same form with numbers put in (not evaluated), and the
value in full precision. Records never hold prose or LaTeX; templates choose the
words, the printer writes the mathematics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import sympy as sp


@dataclass(frozen=True)
class Step:
    """``lhs = formula = substituted = value``: a quantity defined by a formula.

    ``key`` is the structural id the cross-check compares (``("a", s, l, j)``, ...);
    ``name`` is the plain name used in JSON.
    """

    key: tuple
    name: str
    lhs: sp.Expr
    formula: sp.Expr
    substituted: sp.Expr
    value: float
    kind: ClassVar[str] = "definition"


@dataclass(frozen=True)
class Given(Step):
    """A value the problem gives: ``lhs = value``."""

    kind: ClassVar[str] = "given"


@dataclass(frozen=True)
class ChainProduct(Step):
    """``∂L/∂θ = ∂L/∂a · ∂a/∂z · ∂z/∂θ``: a product of factors computed before.

    ``reused`` names the factors that earlier steps already computed.
    """

    reused: tuple[sp.Expr, ...] = ()
    kind: ClassVar[str] = "chain"


@dataclass(frozen=True)
class PathSum(Step):
    """``∂L/∂v = Σ_paths Π factors``: a quantity reaching the loss along several paths.

    ``formula`` and ``substituted`` are sums with one term per path (in path order);
    ``reused`` names the upstream factors taken from earlier steps.
    """

    reused: tuple[sp.Expr, ...] = ()
    kind: ClassVar[str] = "paths"


@dataclass(frozen=True)
class Average(Step):
    """``∂L/∂θ = 1/n Σ_s ∂L^{(s)}/∂θ`` over the samples of a batch (or their sum)."""

    kind: ClassVar[str] = "average"


@dataclass(frozen=True)
class Update(Step):
    """``θ⁺ = θ − η · ∂L/∂θ``, always from the original parameters."""

    kind: ClassVar[str] = "update"


@dataclass(frozen=True)
class LayerStatement:
    """``lhs = formula`` for a whole layer in matrix form (no numbers: they are many)."""

    lhs: sp.Expr
    formula: sp.Expr
    kind: ClassVar[str] = "layer_form"


@dataclass(frozen=True)
class Block:
    """Steps that belong together, e.g. one neuron's backward pass.

    ``subject`` is the symbol the block is about (a neuron's output or a parameter),
    or None.
    """

    subject: sp.Expr | None
    steps: tuple[Step | LayerStatement, ...]


@dataclass(frozen=True)
class Section:
    """A part of the solution: ``layer_form``, ``forward``, ``loss``, ``backward``,
    ``gradients`` or ``update``, optionally for one layer (0-based) and one sample (0-based)."""

    part: str
    blocks: tuple[Block, ...]
    layer: int | None = None
    sample: int | None = None
