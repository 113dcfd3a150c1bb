"""The public pipeline: problem → network → derivation → cross-check → Solution.

``solve`` refuses to return a solution whose numbers disagree with the independent
NumPy backprop or with finite differences; ``Solution.write`` writes each file
atomically, so a failure never leaves a half-written output behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from . import check, render
from .derivation import Derivation, derive
from .errors import RenderError
from .network import Network, Values
from .spec import Problem


def flatten(network: Network, values: Values) -> dict[tuple, float]:
    """Every value of a pass, under the keys the cross-check uses."""
    out: dict[tuple, float] = {}
    for l, arrays in enumerate(values.layers):
        for (s, j), z in _items(arrays.z):
            out[("z", s, l, j)] = z
            out[("a", s, l, j)] = float(arrays.a[s, j])
            out[("dL/da", s, l, j)] = float(arrays.dL_da[s, j])
            out[("delta", s, l, j)] = float(arrays.delta[s, j])
    for (s, k), term in _items(values.loss_terms):
        out[("loss_term", s, k)] = term
    for s, loss in enumerate(values.loss_samples):
        out[("loss_sample", s)] = float(loss)
    out[("loss",)] = values.loss
    for pid, gradient in values.gradients.items():
        out[("grad", *pid)] = gradient
    for pid, new in values.updated.items():
        out[("updated", *pid)] = new
    return out


def _items(array):
    rows, cols = array.shape
    flat = array.tolist()
    return (((s, j), flat[s][j]) for s in range(rows) for j in range(cols))


class QuantityNames(dict):
    """Key → plain name of a quantity; names not printed are made when asked for."""

    def __init__(self, network: Network):
        super().__init__()
        self.network = network

    def get(self, key: tuple, default: str | None = None) -> str | None:
        if key in self:
            return self[key]
        net = self.network
        kind, *index = key
        partial = lambda num, den: f"d{num.name}/d{den.name}"
        if kind in ("z", "a", "loss_term", "loss_sample", "loss"):
            return net.symbol(kind, *index).name
        if kind in ("dL/da", "delta"):
            s, l, j = index
            return partial(net.symbol("loss_sample", s),
                           net.symbol("a" if kind == "dL/da" else "z", s, l, j))
        if kind == "da/dz":
            s, l, k, j = index
            return partial(net.symbol("a", s, l, k), net.symbol("z", s, l, j))
        if kind in ("grad", "grad_sample", "updated"):
            pid = tuple(index[1:] if kind == "grad_sample" else index)
            theta = net.param_symbol(pid)
            if kind == "updated":
                return f"{theta.name}+"
            loss = net.symbol("loss") if kind == "grad" else net.symbol("loss_sample", index[0])
            return partial(loss, theta)
        return default


class Renderable:
    """The text forms of a solution that renders itself (``render(fmt)``): this module's
    :class:`Solution` and the other kinds' (:class:`derive.kinds.KindSolution`)."""

    def to_markdown(self) -> str:
        return self.render("md")

    def to_latex(self) -> str:
        return self.render("tex")

    def to_json(self) -> str:
        return self.render("json")


@dataclass(frozen=True)
class Solution(Renderable):
    """A derived and cross-checked solution, ready to render.

    Attributes:
        problem: the validated problem.
        derivation: the step records and the values behind them.
        report: the cross-check's report.
        template_dir: a folder of templates replacing the shipped ones, or None.
    """

    problem: Problem
    derivation: Derivation
    report: check.CheckReport
    template_dir: Path | None = None

    @property
    def loss(self) -> float:
        return self.derivation.values.loss

    @cached_property
    def view(self) -> dict:
        """What the Markdown and LaTeX templates lay out (the same LaTeX mathematics; long
        sums also broken into lines that fit the LaTeX document's page)."""
        return render.build_view(self, line_width=render.LINE_WIDTH)

    @cached_property
    def figure_views(self) -> dict:
        """The pictures the Markdown shows, drawn once for its text and its SVG files."""
        return render.figure_views(self)

    @property
    def gradients(self) -> dict[str, float]:
        """Parameter name → ∂L/∂θ."""
        names = self.derivation.network.param_names
        return {names[pid].plain: v for pid, v in self.derivation.values.gradients.items()}

    @property
    def updated(self) -> dict[str, float]:
        """Parameter name → θ⁺ (updated parameters only)."""
        names = self.derivation.network.param_names
        return {names[pid].plain: v for pid, v in self.derivation.values.updated.items()}

    @property
    def quantities(self) -> dict[str, float]:
        """Every named quantity the solution prints → its full-precision value."""
        return {step.name: step.value for step in self.derivation.steps}

    def render(self, fmt: str) -> str:
        """The solution as ``md``, ``tex`` or ``json`` text."""
        return render.render(self, fmt, template_dir=self.template_dir)

    def write(self, out_dir: str | Path, *, formats: Iterable[str] = ("md", "tex", "json"),
              stem: str = "solution") -> list[Path]:
        """Render every format first, then write each file atomically.

        Returns:
            The paths written (with Markdown: the SVG pictures it shows, last).

        Raises:
            RenderError: a format is unknown or a template fails (nothing is written).
        """
        texts = {fmt: self.render(fmt) for fmt in formats}  # all or nothing
        # The Markdown shows the network (and the paths to its first weight) as SVG files
        # beside it, named after their content.
        pictures = render.figure_svgs(self) if "md" in texts else {}
        folder = output_folder(out_dir)
        written = [atomic_write_bytes(folder / name, data) for name, data in pictures.items()]
        return [atomic_write(folder / f"{stem}.{fmt}", text)
                for fmt, text in texts.items()] + written


def output_folder(out_dir: str | Path) -> Path:
    """The output folder, created if missing.

    Raises:
        RenderError: the folder cannot be created.
    """
    folder = Path(out_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RenderError(f"{folder}: cannot create the output folder ({exc.strerror})") \
            from None
    return folder


def atomic_write(path: Path, text: str) -> Path:
    """Write UTF-8 ``text`` (with ``\n`` line ends) atomically; see :func:`atomic_write_bytes`."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, then rename it into place."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)  # as an ordinary file, not mkstemp's 0600
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def solve(problem: Problem, *, template_dir: str | Path | None = None) -> Solution:
    """Derive, evaluate and cross-check the worked solution of a problem.

    Problems of another kind than ``network`` are solved by their own module (see
    :data:`derive.spec.KINDS`), whose solution objects render and write the same way.

    Args:
        problem: a validated problem (see :func:`derive.load_problem`).
        template_dir: a folder of templates to use instead of the shipped ones.

    Returns:
        The :class:`Solution`.

    Raises:
        CrossCheckError: a value disagrees with the independent computations.
    """
    if problem.kind != "network":
        from .spec import kind_module

        return kind_module(problem.kind).solve(problem, template_dir=template_dir)
    network = Network(problem)
    values = network.evaluate()
    derivation = derive(network, values)
    derived = flatten(network, values)
    names = QuantityNames(network)
    for step in derivation.steps:
        derived[step.key] = step.value
        names[step.key] = step.name
    report = check.cross_check(problem, derived, names=names)
    return Solution(problem, derivation, report,
                    None if template_dir is None else Path(template_dir))
