"""Loss curves: the loss per step or epoch, drawn for Markdown (SVG) and LaTeX (pgfplots).

One :class:`Curve` is drawn two ways:

* :func:`svg` draws it with matplotlib (no pyplot, no global backend) as an SVG file
  that the Markdown shows beside the text. The file is the same byte for byte on
  every run with the same matplotlib: a fixed hash salt, text drawn as paths, no
  date and no creator in the metadata.
* :func:`pgfplots_coordinates` writes its points for a pgfplots ``\\addplot`` inside
  the LaTeX document, which then needs no image file; :func:`plot_view` hands both to
  the templates.

matplotlib is imported only when an SVG is drawn.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass

from .errors import RenderError
from .figures import isolated_style

LOG_RATIO = 100.0   # a positive curve spanning more than this factor gets a log axis
SIZE = (6.0, 3.2)   # inches
COLOR = "#1f5fa8"


@dataclass(frozen=True)
class Curve:
    """Points (x, y) of a loss curve and how to label them.

    Attributes:
        x: step or epoch numbers.
        y: the loss at each; points that are not finite are left out of the drawing.
        x_label: plain text, e.g. ``"step k"``.
        y_label: LaTeX math without dollars, e.g. ``"L(w_k)"`` (matplotlib's mathtext
            reads the same text).
        markers: mark every point (for a few steps) or draw a plain line (for epochs).
    """

    x: tuple[int, ...]
    y: tuple[float, ...]
    x_label: str
    y_label: str
    markers: bool

    @property
    def points(self) -> tuple[tuple[int, float], ...]:
        return tuple((x, y) for x, y in zip(self.x, self.y, strict=True) if math.isfinite(y))

    @property
    def ticks(self) -> tuple[int, ...]:
        """Every x as a tick when there are a few marked points; else the plotter's choice."""
        return tuple(x for x, _ in self.points) if self.markers and len(self.x) <= 12 else ()

    @property
    def log_scale(self) -> bool:
        """A log axis where the loss is positive and falls (or grows) by more than 100×."""
        values = [y for _, y in self.points]
        return bool(values) and min(values) > 0 and max(values) / min(values) > LOG_RATIO


def pgfplots_coordinates(curve: Curve) -> str:
    """``(x,y) (x,y) …`` with 8 significant digits, for ``\\addplot coordinates {…}``."""
    return " ".join(f"({x},{y:.8g})" for x, y in curve.points)


def plot_view(curve: Curve, *, image: str) -> dict:
    """What the templates' ``plot_section`` lays out: the SVG file ``image`` (Markdown),
    the axes and the coordinates (pgfplots)."""
    return {"image": image, "x_label": curve.x_label, "y_label": curve.y_label,
            "log": curve.log_scale, "markers": curve.markers,
            "ticks": ",".join(str(x) for x in curve.ticks),
            "coordinates": pgfplots_coordinates(curve)}


def svg(curve: Curve) -> str:
    """The curve drawn by matplotlib as SVG text, identical on every run.

    Raises:
        RenderError: matplotlib is not installed.
    """
    try:
        from matplotlib.backends.backend_svg import FigureCanvasSVG
        from matplotlib.figure import Figure
    except ImportError:
        raise RenderError("drawing the loss curve needs matplotlib: "
                          "pip install matplotlib") from None

    settings = {"svg.hashsalt": "derive", "svg.fonttype": "path", "font.size": 10,
                "axes.spines.top": False, "axes.spines.right": False}
    with isolated_style(settings):
        figure = Figure(figsize=SIZE)
        FigureCanvasSVG(figure)
        axes = figure.add_subplot()
        xs = [x for x, _ in curve.points]
        ys = [y for _, y in curve.points]
        axes.plot(xs, ys, color=COLOR, linewidth=1.5,
                  marker="o" if curve.markers else None, markersize=4)
        if curve.log_scale:
            axes.set_yscale("log")
        axes.set_xlabel(curve.x_label)
        axes.set_ylabel(f"${curve.y_label}$")
        axes.grid(True, alpha=0.3)
        if curve.ticks:
            axes.set_xticks(curve.ticks)
        figure.tight_layout()
        text = io.StringIO()
        figure.savefig(text, format="svg", metadata={"Date": None, "Creator": None})
    return text.getvalue()
