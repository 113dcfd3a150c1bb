"""Errors that carry their evidence.

Every error `derive` raises on purpose derives from :class:`DeriveError`; the CLI
prints its message on one line and exits with status 2.
"""

from __future__ import annotations


class DeriveError(Exception):
    """Base class of all errors `derive` reports to the user."""


class ProblemError(DeriveError):
    """A problem file is unreadable or invalid.

    Args:
        source: the file (or "<string>") the problem came from.
        field: the path of the offending field, e.g. ``layers[1].weights``.
        expected: what was expected there, and what was found.
    """

    def __init__(self, source: str, field: str, expected: str):
        self.source = source
        self.field = field
        self.expected = expected
        where = f"{source}: {field}" if field else source
        super().__init__(f"{where}: {expected}")


class CrossCheckError(DeriveError):
    """A value `derive` computed disagrees with an independent computation.

    Args:
        quantity: the name of the quantity.
        derived: the value `derive` computed.
        reference: the independent value.
        method: which independent computation disagreed.
        tolerance: the tolerance that was exceeded.
    """

    def __init__(self, quantity: str, derived: float, reference: float,
                 method: str, tolerance: str):
        self.quantity = quantity
        self.derived = derived
        self.reference = reference
        self.method = method
        super().__init__(
            f"cross-check failed for {quantity}: derive computed {derived!r}, "
            f"{method} gives {reference!r} (tolerance {tolerance}); nothing was written"
        )


class RenderError(DeriveError):
    """A template is missing or failed to render."""
