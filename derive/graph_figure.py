"""The computational graph as a picture: a layered layout, drawn by templates.

Inputs stand in the first column; every node stands one column right of its
furthest input (its longest path from the inputs), so the output is last. An edge
that skips columns passes through a waypoint in each column it crosses; the
waypoint takes a slot in that column like a node, so no edge runs through a box.
Within a column, nodes and waypoints are ordered by the mean slot of what feeds
them (one sweep from left to right), ties in forward order.

This module only computes where things go (SVG pixels, y pointing down) and the
text in them; ``templates/graph.svg.j2`` and the TikZ picture in
``templates/graph.tex.j2`` draw them (from :func:`picture`), the latter with the same
coordinates scaled to centimetres (y pointing up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import sympy as sp
from sympy.printing.precedence import PRECEDENCE
from sympy.printing.str import StrPrinter

from .graph import Graph
from .latex import format_number

CHAR = 7.8        # width of a character of the 13 px labels, generously estimated
SMALL_CHAR = 7.2  # the same for the 12 px values and gradients
BOX_HEIGHT = 30
ROW = 100         # from one slot's centre to the next
GAP = 64          # between columns
MARGIN = 24
LEGEND = 36       # the strip below the graph that says which colour is what
CM_PER_PX = 0.026
TEXT_WIDTH_CM = 16.5  # the TikZ picture is scaled down to fit a page this wide


@dataclass(frozen=True)
class Box:
    """One input or node: its label, its two numbers, and where it stands (centre)."""

    name: str
    label: str      # plain text for the SVG: "b = sin(a)"
    latex: str      # the same in LaTeX, for TikZ
    value: str      # the forward value as printed
    gradient: str   # d(output)/d(name) as printed
    given: bool     # an input rather than an operation
    x: float
    y: float
    width: float


@dataclass(frozen=True)
class Edge:
    """An edge from a child to the node computed from it, through its waypoints."""

    child: str
    parent: str
    start: tuple[float, float]                  # the child's right side
    waypoints: tuple[tuple[float, float], ...]  # one per column skipped
    end: tuple[float, float]                    # the parent's left side

    @property
    def curves(self) -> tuple[tuple[tuple[float, float], ...], ...]:
        """Cubic Bézier segments (start, control, control, end), horizontal at each end."""
        points = (self.start, *self.waypoints, self.end)
        segments = []
        for (x0, y0), (x1, y1) in pairwise(points):
            middle = round((x0 + x1) / 2, 1)
            segments.append(((x0, y0), (middle, y0), (middle, y1), (x1, y1)))
        return tuple(segments)


@dataclass(frozen=True)
class Layout:
    """Every box and edge, and the size of the picture (pixels)."""

    boxes: tuple[Box, ...]
    edges: tuple[Edge, ...]
    width: float
    height: float
    box_height: float = BOX_HEIGHT

    @property
    def legend_y(self) -> float:
        return self.height - LEGEND / 2


def layout(graph: Graph, *, latex: Mapping[str, str], values: Mapping[str, str],
           gradients: Mapping[str, str]) -> Layout:
    """Place the boxes and route the edges of a graph.

    Args:
        graph: the computational graph.
        latex: name → the LaTeX label of each input and node (``q = x + y``).
        values: name → its forward value as printed.
        gradients: name → d(output)/d(name) as printed.
    """
    # Columns: inputs first, each node right of its furthest child.
    order = [v.name for v in graph.variables] + [node.name for node in graph.nodes]
    children = {node.name: node.children for node in graph.nodes}
    column = {v.name: 0 for v in graph.variables}
    for node in graph.nodes:
        column[node.name] = 1 + max(column[child] for child in node.children)

    # Slots: nodes and waypoints per column, ordered by the height of what feeds them.
    feeds: dict[tuple, list[tuple]] = {("box", name): [] for name in order}
    for node in graph.nodes:
        for child in node.children:
            previous = ("box", child)
            for between in range(column[child] + 1, column[node.name]):
                waypoint = ("via", child, node.name, between)
                feeds[waypoint] = [previous]
                previous = waypoint
            feeds[("box", node.name)].append(previous)
    place = {key: (column[key[1]] if key[0] == "box" else key[3]) for key in feeds}
    columns = [[key for key in feeds if place[key] == c]
               for c in range(max(column.values()) + 1)]
    tallest = max(map(len, columns))
    rank = {name: index for index, name in enumerate(order)}
    y_of: dict[tuple, float] = {}
    for members in columns:
        members.sort(key=lambda key: (
            sum(y_of[f] for f in feeds[key]) / len(feeds[key]) if feeds[key] else 0,
            rank[key[1]] + (0.5 if key[0] == "via" else 0)))
        offset = (tallest - len(members)) * ROW / 2
        for index, key in enumerate(members):
            y_of[key] = round(MARGIN + ROW / 2 + offset + index * ROW, 1)

    # Sizes: each column as wide as its widest label or number.
    text = {name: _plain_label(graph, name) for name in order}
    widths = [max([48] + [max(len(text[key[1]]) * CHAR + 24,
                              len(values[key[1]]) * SMALL_CHAR + 8,
                              len(gradients[key[1]]) * SMALL_CHAR + 8)
                          for key in members if key[0] == "box"])
              for members in columns]
    lefts = [MARGIN + sum(widths[:c]) + GAP * c for c in range(len(columns))]

    def centre(key) -> tuple[float, float]:
        c = place[key]
        return round(lefts[c] + widths[c] / 2, 1), y_of[key]

    boxes = []
    width_of = {}
    for name in order:
        x, y = centre(("box", name))
        width_of[name] = round(max(len(text[name]) * CHAR + 24, 48), 1)
        boxes.append(Box(name, text[name], latex[name], values[name], gradients[name],
                         name not in children, x, y, width_of[name]))
    where = {box.name: box for box in boxes}
    edges = []
    for node in graph.nodes:
        for child in node.children:
            low, high = where[child], where[node.name]
            via = tuple(centre(("via", child, node.name, c))
                        for c in range(column[child] + 1, column[node.name]))
            edges.append(Edge(child, node.name,
                              (round(low.x + low.width / 2, 1), low.y), via,
                              (round(high.x - high.width / 2, 1), high.y)))
    return Layout(tuple(boxes), tuple(edges),
                  round(lefts[-1] + widths[-1] + MARGIN, 1),
                  round(2 * MARGIN + tallest * ROW + LEGEND, 1))


def picture(figure: Layout) -> dict:
    """The layout with its numbers ready for the SVG and TikZ templates."""
    def cm(px):
        return round(px * CM_PER_PX, 3)

    def tikz(point):
        return f"({cm(point[0])},{cm(figure.height - point[1])})"

    edges = []
    for edge in figure.edges:
        curves = edge.curves
        svg = "M {} {} ".format(*curves[0][0]) + " ".join(
            "C {} {}, {} {}, {} {}".format(*c1, *c2, *end) for _, c1, c2, end in curves)
        parts = []  # from the child's east anchor to the parent's west anchor
        for index, (_, c1, c2, end) in enumerate(curves):
            parts.append(f".. controls {tikz(c1)} and {tikz(c2)} ..")
            if index < len(curves) - 1:
                parts.append(tikz(end))
        tex = " ".join(parts)
        edges.append({"svg": svg, "child": edge.child, "parent": edge.parent,
                      "tikz": tex})
    boxes = [{"name": box.name, "label": box.label, "latex": box.latex,
              "value": box.value, "gradient": box.gradient, "given": box.given,
              "left": round(box.x - box.width / 2, 1),
              "top": round(box.y - figure.box_height / 2, 1),
              "x": box.x, "y": box.y, "width": box.width, "height": figure.box_height,
              "baseline": round(box.y + 4.5, 1),
              "above": round(box.y - 21, 1), "below": round(box.y + 32, 1),
              "tikz_at": tikz((box.x, box.y)), "tikz_width": cm(box.width)}
             for box in figure.boxes]
    value_at, gradient_at = (24, figure.legend_y), (220, figure.legend_y)
    return {"width": figure.width, "height": figure.height, "boxes": boxes,
            "edges": edges,
            "legend": {"value_x": value_at[0], "gradient_x": gradient_at[0],
                       "y": figure.legend_y, "value_tikz": tikz(value_at),
                       "gradient_tikz": tikz(gradient_at)},
            "tikz_scale": round(min(1.0, TEXT_WIDTH_CM / cm(figure.width)), 3)}


def plain_number(value: float, *, digits: int, rounding: str) -> str:
    """A number as printed, in plain text (``format_number`` writes LaTeX powers of ten)."""
    text = format_number(value, digits=digits, rounding=rounding)
    if "\\" not in text:
        return text
    return np.format_float_scientific(value, precision=max(digits - 1, 0), unique=False,
                                      trim="-")


def _plain_label(graph: Graph, name: str) -> str:
    for node in graph.nodes:
        if node.name == name:
            if node.expression == node.symbol:
                return name
            return f"{name} = {PlainPrinter().doprint(node.expression)}"
    return name


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")


class PlainPrinter(StrPrinter):
    """An expression as one line of plain text for the picture: ``3·x²``, ``y - a``."""

    def _print_Pow(self, expr, rational=False):
        base, exponent = expr.args
        if exponent == sp.S.Half:
            return f"sqrt({self._print(base)})"
        if exponent.is_Number and exponent < 0:
            return f"1/{self.parenthesize(sp.Pow(base, -exponent), PRECEDENCE['Mul'] + 1)}"
        text = self.parenthesize(base, PRECEDENCE["Pow"], strict=False)
        if exponent.is_Integer:
            return text + str(exponent).translate(_SUPERSCRIPT)
        return f"{text}^{self.parenthesize(exponent, PRECEDENCE['Pow'], strict=False)}"

    def _print_Mul(self, expr):
        coefficient, factors = expr.as_coeff_mul()
        sign = "-" if coefficient < 0 else ""
        coefficient = abs(coefficient)
        above = [f for f in factors if not (f.is_Pow and f.exp.is_Number and f.exp < 0)]
        below = [sp.Pow(f.base, -f.exp) for f in factors if f not in above]
        if coefficient.q != 1:
            below.insert(0, sp.Integer(coefficient.q))
        if coefficient.p != 1:
            above.insert(0, sp.Integer(coefficient.p))
        top = "·".join(self.parenthesize(f, PRECEDENCE["Mul"]) for f in above) or "1"
        if not below:
            return sign + top
        bottom = "·".join(self.parenthesize(f, PRECEDENCE["Mul"]) for f in below)
        if len(below) > 1:
            bottom = f"({bottom})"
        if len(above) > 1:
            top = f"({top})"
        return f"{sign}{top}/{bottom}"

    def _print_Abs(self, expr):
        return f"|{self._print(expr.args[0])}|"

    def _print_Max(self, expr):
        return f"max({', '.join(self._print(arg) for arg in expr.args)})"
