from __future__ import annotations

import json
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest

import derive

ROOT = Path(__file__).resolve().parent.parent
PROBLEMS = ROOT / "problems"


@cache
def solved(name: str):
    return derive.solve(derive.load_problem(PROBLEMS / f"{name}.yaml"))


@cache
def published(name: str) -> dict:
    """The JSON a user gets: what the tests compare with the slides."""
    return json.loads(solved(name).to_json())


def agrees_to_printed_digits(value: float, printed: str) -> bool:
    """True if ``value`` rounds to ``printed`` at the printed number of decimals."""
    exponent = Decimal(printed).as_tuple().exponent
    step = Decimal(1).scaleb(exponent)
    return Decimal(repr(value)).quantize(step) == Decimal(printed)


@pytest.fixture
def solve_mapping():
    def solve(mapping: dict):
        return derive.solve(derive.parse_problem(mapping, source="test"))
    return solve
