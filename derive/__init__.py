"""derive: step-by-step worked solutions of backpropagation, checked numerically.

Typical use::

    import derive
    problem = derive.load_problem("problems/mazur.yaml")
    solution = derive.solve(problem)
    print(solution.gradients["w5"])
    solution.write("out", formats=("md", "tex", "json"))

Heavy modules (SymPy, NumPy) load on first use, so ``derive --help`` stays fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = [
    "CrossCheckError",
    "DeriveError",
    "ProblemError",
    "Solution",
    "__version__",
    "load_problem",
    "parse_problem",
    "solve",
]

from .errors import CrossCheckError, DeriveError, ProblemError


def __getattr__(name: str):
    if name in ("load_problem", "parse_problem"):
        from . import spec
        return getattr(spec, name)
    if name in ("solve", "Solution"):
        from . import solution
        return getattr(solution, name)
    raise AttributeError(f"module 'derive' has no attribute {name!r}")
