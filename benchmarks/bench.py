"""Time to derive, cross-check and render (md, tex, json) networks of growing size.

Run: ``python benchmarks/bench.py``. Prints one row per network and the growth
exponent of time against parameter count between the two largest sizes
(a slope of 1 means linear cost).
"""

from __future__ import annotations

import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import derive

ROOT = Path(__file__).resolve().parent.parent
SHAPES = [(2, 2, 2), (4, 4, 3), (10, 10, 10), (100, 10, 1), (784, 32, 10)]
TARGETS = {(2, 2, 2): 0.1, (10, 10, 10): 0.3, (100, 10, 1): 0.5, (784, 32, 10): 2.0}


def problem(shape: tuple[int, ...], seed: int = 0):
    rng = np.random.default_rng(seed)
    layers = []
    for n_in, n_out in zip(shape, shape[1:]):
        layers.append({"activation": "sigmoid",
                       "weights": rng.uniform(-1, 1, (n_out, n_in)).round(3).tolist(),
                       "bias": rng.uniform(-1, 1, n_out).round(3).tolist()})
    y = [0.0] * shape[-1]
    y[0] = 1.0
    if shape[-1] > 1:
        layers[-1]["activation"] = "softmax"
    return derive.parse_problem({
        "x": rng.uniform(0, 1, shape[0]).round(3).tolist(), "y": y,
        "layers": layers, "loss": "cce" if shape[-1] > 1 else "bce",
        "learning_rate": 0.1, "parameter_names": "layer"}, source="benchmark")


def timed(spec, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        solution = derive.solve(spec)
        for fmt in ("md", "tex", "json"):
            solution.render(fmt)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def command_times(commands: dict[str, list[str]], repeat: int = 7) -> dict[str, list[float]]:
    """Wall times of fresh Python processes, the commands taking turns so that a busy
    moment of the machine weighs on each alike.

    Python may keep compiled bytecode (as after ``pip install``), even where the
    environment says not to write it, and a first untimed round writes it.
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times: dict[str, list[float]] = {name: [] for name in commands}
    for round_ in range(repeat + 1):
        for name, args in commands.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, *args], check=True, capture_output=True, env=env)
            if round_:
                times[name].append(time.perf_counter() - start)
    return times


def main() -> None:
    timed(problem((2, 2, 2)), 1)  # warm up: imports and compiled forms
    rows = []
    print(f"{'network':>10} {'parameters':>10} {'seconds':>9} {'target':>7}")
    for shape in SHAPES:
        spec = problem(shape)
        parameters = sum((a + 1) * b for a, b in zip(shape, shape[1:]))
        seconds = timed(spec, 5 if parameters < 2000 else 3)
        rows.append((parameters, seconds))
        target = TARGETS.get(shape)
        print(f"{'-'.join(map(str, shape)):>10} {parameters:>10} {seconds:>9.4f} "
              f"{'' if target is None else f'< {target}':>7}")
    (p1, t1), (p2, t2) = rows[-2], rows[-1]
    print(f"growth exponent from {p1} to {p2} parameters: "
          f"{math.log(t2 / t1) / math.log(p2 / p1):.2f} (target <= 1.1)")
    from derive import training

    sgd = derive.load_problem(ROOT / "problems/training_zhou_sgd.yaml")
    start = time.perf_counter()
    training.train(sgd)
    print(f"training_zhou_sgd.yaml, {sgd.epochs} epochs of per-sample SGD: "
          f"{time.perf_counter() - start:.2f} s")
    with tempfile.TemporaryDirectory() as out:
        times = command_times({
            "solve": ["-m", "derive", "solve", str(ROOT / "problems/mazur.yaml"), "--out", out],
            "sympy": ["-c", "import sympy"]})
    solve, sympy = (statistics.median(times[name]) for name in ("solve", "sympy"))
    print(f"whole `derive solve problems/mazur.yaml` command: median {solve:.2f} s, "
          f"fastest {min(times['solve']):.2f} s (target < 1)")
    print(f"`import sympy` alone, in the same rounds: median {sympy:.2f} s, "
          f"fastest {min(times['sympy']):.2f} s; the command costs {solve / sympy:.1f} times that")

if __name__ == "__main__":
    main()
