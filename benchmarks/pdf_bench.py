"""PDF timings: the 2-2-2 example with LaTeX and with Typst, 50 problems in one document.

Run with ``python benchmarks/pdf_bench.py``. Each PDF is built from an already solved
problem (rendering the document and compiling it, as ``derive pdf`` does after
solving), best of three; the 50-problem document is timed once. Targets (issue 3):
2-2-2 under 2 s with LaTeX and under 0.5 s with Typst, 50 problems under 20 s with
LaTeX.
"""

from __future__ import annotations

import time
from pathlib import Path

import derive
from derive import pdf

PROBLEMS = Path(__file__).resolve().parent.parent / "problems"
SHIPPED = ("mazur", "zhou_alice", "perceptron_toy", "bce_4_4_1", "cce_4_4_3")


def timed(function, repeat: int) -> tuple[float, float, int]:
    """The first run's time (cold: templates, fonts), the best one's, and the PDF's size."""
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        size = len(function())
        times.append(time.perf_counter() - start)
    return times[0], min(times), size


def main() -> None:
    solutions = {name: derive.solve(derive.load_problem(PROBLEMS / f"{name}.yaml"))
                 for name in SHIPPED}
    mazur = solutions["mazur"]
    rows = []
    engines = ["typst"] + (["latex"] if pdf.latex_available() else [])
    for engine in engines:
        for answers in (False, True):
            exam = pdf.Exam(title=mazur.problem.title, answers=answers)
            first, seconds, size = timed(lambda exam=exam, engine=engine: pdf.render_pdf(
                [mazur], exam, engine=engine), 3)
            target = 2.0 if engine == "latex" else 0.5
            rows.append((f"2-2-2 ({'answer key' if answers else 'questions'})", engine,
                         first, seconds, size, target))
    fifty = [solutions[SHIPPED[i % len(SHIPPED)]] for i in range(50)]
    for engine in engines:
        for answers in (False, True):
            exam = pdf.Exam(title="Fifty problems", answers=answers)
            first, seconds, size = timed(lambda exam=exam, engine=engine: pdf.render_pdf(
                fifty, exam, engine=engine), 1)
            rows.append((f"50 problems ({'answer key' if answers else 'questions'})", engine,
                         first, seconds, size, 20.0 if engine == "latex" else None))
    print(f"{'document':<28} {'engine':<7} {'first s':>8} {'best s':>8} {'PDF kB':>8}  target")
    for document, engine, first, seconds, size, target in rows:
        verdict = "" if target is None else (
            f"< {target:g} s {'ok' if first < target else 'MISSED'}")
        print(f"{document:<28} {engine:<7} {first:>8.2f} {seconds:>8.2f} {size / 1024:>8.0f}"
              f"  {verdict}")


if __name__ == "__main__":
    main()
