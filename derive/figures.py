"""Pictures: the network diagram, the paths from the loss to a weight, activation plots.

A diagram is computed once, as geometry (:class:`Diagram`: nodes and edges in
centimetres, labels as SymPy expressions), and drawn by templates three ways: TikZ and
Typst by the macros of ``templates/figures.tex.j2`` and ``figures.typ.j2`` from a
:func:`diagram_view` of printed strings, and SVG (beside the Markdown) by
``templates/figures.svg.j2`` from an :func:`svg_view` in pixels, whose labels are
runs of text with their scripts (no matplotlib: drawing a diagram costs milliseconds).
Networks too large to list (derivation ``listed`` false) get a layer-level diagram:
one box per layer.

Activation plots (:func:`activation_plot`) show each activation the problem uses and
its derivative, with the pre-activations of the forward pass marked; they are drawn by
matplotlib, imported only then.
"""

from __future__ import annotations

import io
import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import sympy as sp

from .forms import Shown
from .notation import Notation, Run, svg_runs

LAYER_GAP = 4.2    # cm between layer columns
NODE_GAP = 1.7     # cm between neurons of a layer
RADIUS = 0.5       # cm, a neuron's circle
BIAS_RADIUS = 0.35
ARROW = 0.22       # cm, an arrowhead's length


@dataclass(frozen=True)
class Node:
    """A circle (``shape="circle"``) or a box (``shape="box"``) centred at ``x, y``
    (cm, y upwards), with a label inside and an optional note beside it."""

    x: float
    y: float
    label: sp.Expr | str
    kind: str                          # input, neuron, bias, loss, layer
    note: sp.Expr | None = None        # e.g. the given value, printed beside the node
    note_side: str = "left"            # left, right or below
    caption: str = ""                  # plain text under a layer box
    radius: float = RADIUS


@dataclass(frozen=True)
class Edge:
    """An arrow from ``start`` to ``end`` (already clipped at the circles)."""

    start: tuple[float, float]
    end: tuple[float, float]
    label: sp.Expr | None
    position: float          # where along the arrow the label sits (0 start, 1 end)
    highlighted: bool = False


@dataclass(frozen=True)
class Diagram:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    width: float
    height: float
    highlight: bool = False   # edges not on a path are drawn faint


def _clip(a: Node, b: Node) -> tuple[tuple[float, float], tuple[float, float]]:
    dx, dy = b.x - a.x, b.y - a.y
    length = math.hypot(dx, dy)
    ux, uy = dx / length, dy / length
    return ((a.x + ux * a.radius, a.y + uy * a.radius),
            (b.x - ux * b.radius, b.y - uy * b.radius))


def _column(count: int, tallest: int) -> list[float]:
    top = (tallest - 1) * NODE_GAP / 2
    first = top - (tallest - count) * NODE_GAP / 2
    return [first - i * NODE_GAP for i in range(count)]


def network_diagram(solution, *, values: bool = True, paths_to: tuple | None = None) -> Diagram:
    """The network of a solved problem, as Mazur draws his 2-2-2 example.

    Args:
        values: print the given values (inputs, targets, weights and biases).
        paths_to: a parameter id: add the loss node and highlight every path from it
            back to this parameter (its edge, then every edge downstream).

    Returns:
        The :class:`Diagram`; a layer-level one for networks too large to list.
    """
    derivation = solution.derivation
    net = derivation.network
    if not derivation.listed:
        return _layer_diagram(solution)
    widths = net.widths
    tallest = max(widths)
    one_sample = net.samples == 1
    # Nodes are named without a sample's superscript, even in a batch.
    names = Notation(net.notation.style, widths)
    x_symbol = lambda k: net.notation.symbol(names.input(k))
    a_symbol = lambda l, j: net.notation.symbol(names.activation(l, j))
    y_symbol = lambda k: net.notation.symbol(names.target(k))
    nodes: dict[tuple, Node] = {}
    for l, width in enumerate(widths):
        for j, y in enumerate(_column(width, tallest)):
            x = l * LAYER_GAP
            if l == 0:
                note = Shown(derivation.values.x[0, j], given=True) \
                    if values and one_sample else None
                nodes[("n", 0, j)] = Node(x, y, x_symbol(j), "input", note, "left")
            else:
                nodes[("n", l, j)] = Node(x, y, a_symbol(l - 1, j), "neuron")
    bottom = min(node.y for node in nodes.values()) - NODE_GAP
    edges: list[tuple[tuple, tuple, sp.Expr | None, float]] = []
    for l in range(net.depth):
        fan = widths[l + 1]
        position = min(0.3, 0.75 / fan)   # labels near the source, where edges fan out
        # Dense layers are left unlabelled: their labels would cover one another (the
        # Given table lists every weight).
        labelled = fan == 1 or fan * widths[l] <= 6
        for j in range(fan):
            for k in range(widths[l]):
                pid = ("W", l, j, k)
                edges.append((("n", l, k), ("n", l + 1, j),
                              _labelled(net, pid, values) if labelled else None, position, pid))
        bias = net.bias_id(l, 0)
        if bias is None:
            continue
        x = l * LAYER_GAP + LAYER_GAP * 0.35
        shared = len(bias) == 2
        label = net.param_symbol(bias) if shared else sp.Integer(1)
        note = Shown(net.parameter_value(bias), given=True) if shared and values else None
        nodes[("b", l)] = Node(x, bottom, label, "bias", note, "below", radius=BIAS_RADIUS)
        for j in range(fan):
            pid = bias if shared else net.bias_id(l, j)
            edges.append((("b", l), ("n", l + 1, j),
                          None if shared else _labelled(net, pid, values), 0.45, pid))
    for k in range(widths[-1]):
        node = nodes[("n", net.depth, k)]
        note = Shown(derivation.values.y[0, k], given=True) if values and one_sample else None
        if note is not None:
            note = sp.Eq(y_symbol(k), note, evaluate=False)
        nodes[("n", net.depth, k)] = Node(node.x, node.y, node.label, node.kind, note, "right")

    on_path: set[tuple] = set()
    if paths_to is not None:
        loss_x = net.depth * LAYER_GAP + LAYER_GAP * 0.8
        nodes[("loss",)] = Node(loss_x, (nodes[("n", net.depth, 0)].y
                                         + nodes[("n", net.depth, widths[-1] - 1)].y) / 2,
                                net.notation.symbol(names.loss()), "loss")
        for k in range(widths[-1]):
            edges.append((("n", net.depth, k), ("loss",), None, 0.5, None))
        on_path = _downstream(net, paths_to)
    drawn = []
    for source, target, label, position, pid in edges:
        start, end = _clip(nodes[source], nodes[target])
        highlighted = paths_to is not None and (pid == paths_to or (source, target) in on_path)
        drawn.append(Edge(start, end, label, position, highlighted))
    xs = [n.x for n in nodes.values()]
    ys = [n.y for n in nodes.values()]
    left, right = min(xs) - 2.2, max(xs) + (2.6 if paths_to is None else 1.2)
    low, high = min(ys) - 1.1, max(ys) + 0.8
    shifted = tuple(Node(n.x - left, n.y - low, n.label, n.kind, n.note, n.note_side,
                         n.caption, n.radius) for n in nodes.values())
    moved = tuple(Edge((e.start[0] - left, e.start[1] - low), (e.end[0] - left, e.end[1] - low),
                       e.label, e.position, e.highlighted) for e in drawn)
    return Diagram(shifted, moved, right - left, high - low, paths_to is not None)


def _labelled(net, pid: tuple, values: bool) -> sp.Expr:
    symbol = net.param_symbol(pid)
    if not values:
        return symbol
    return sp.Eq(symbol, Shown(net.parameter_value(pid), given=True), evaluate=False)


def _downstream(net, pid: tuple) -> set[tuple]:
    """Every edge on a path from the parameter's neuron to the loss."""
    l, j = pid[1], (pid[2] if len(pid) > 2 else None)
    reached = {j} if j is not None else set(range(net.widths[l + 1]))
    edges: set[tuple] = set()
    for layer in range(l + 1, net.depth):
        for k in range(net.widths[layer + 1]):
            for i in reached:
                edges.add((("n", layer, i), ("n", layer + 1, k)))
        reached = set(range(net.widths[layer + 1]))
    for k in reached:
        edges.add((("n", net.depth, k), ("loss",)))
    return edges


def _layer_diagram(solution) -> Diagram:
    """One box per layer, arrows labelled with the layer's weights (and biases)."""
    from .render import ACTIVATION_TITLES

    net = solution.derivation.network
    problem = solution.problem
    gap = 3.6
    vector = lambda name: sp.Symbol(name, commutative=False)
    nodes = [Node(0.0, 0.0, vector("x"), "layer", caption=f"{net.widths[0]} inputs",
                  radius=0.8)]
    for l, layer in enumerate(problem.layers):
        nodes.append(Node((l + 1) * gap, 0.0, vector(f"a[{l + 1}]"), "layer",
                          caption=f"{layer.width} {ACTIVATION_TITLES[layer.activation]} "
                                  f"unit{'s' if layer.width > 1 else ''}", radius=0.8))
    edges = []
    for l in range(net.depth):
        a, b = nodes[l], nodes[l + 1]
        weights = vector(f"W[{l + 1}]")
        edges.append(Edge((a.x + a.radius, 0.0), (b.x - b.radius, 0.0), weights, 0.5))
    shifted = tuple(Node(n.x + 1.2, 1.4, n.label, n.kind, caption=n.caption, radius=n.radius)
                    for n in nodes)
    moved = tuple(Edge((e.start[0] + 1.2, 1.4), (e.end[0] + 1.2, 1.4), e.label, e.position)
                  for e in edges)
    return Diagram(shifted, moved, net.depth * gap + 2.4, 2.6)


# -- views: the geometry with printed labels, for the templates ----------------------------
@dataclass(frozen=True)
class NodeView:
    x: str
    y: str        # from the bottom (TikZ)
    top: str      # from the top (Typst)
    label: str
    kind: str
    note: str | None
    note_side: str
    caption: str
    radius: str
    diameter: str


@dataclass(frozen=True)
class EdgeView:
    x1: str
    y1: str
    top1: str
    x2: str
    y2: str
    top2: str
    label: str | None
    label_x: str
    label_y: str
    label_top: str
    arrow: tuple[tuple[str, str], ...]   # the arrowhead's triangle, (x, top) in cm
    highlighted: bool


def _cm(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _arrowhead(start, end, length: float) -> tuple[tuple[float, float], ...]:
    """The tip, then the two back corners, of an arrowhead at ``end``."""
    (x1, y1), (x2, y2) = start, end
    distance = math.hypot(x2 - x1, y2 - y1)
    ux, uy = (x2 - x1) / distance, (y2 - y1) / distance
    bx, by = x2 - ux * length, y2 - uy * length
    return ((x2, y2), (bx - uy * length * 0.45, by + ux * length * 0.45),
            (bx + uy * length * 0.45, by - ux * length * 0.45))


def diagram_view(diagram: Diagram, printer) -> dict:
    """The diagram with every label printed by ``printer`` and coordinates as text."""
    def printed(label) -> str:
        return printer.doprint(label) if isinstance(label, sp.Basic) else str(label)

    nodes = tuple(NodeView(_cm(n.x), _cm(n.y), _cm(diagram.height - n.y), printed(n.label),
                           n.kind, None if n.note is None else printed(n.note), n.note_side,
                           n.caption, _cm(n.radius), _cm(2 * n.radius)) for n in diagram.nodes)
    edges = []
    for e in diagram.edges:
        (x1, y1), (x2, y2) = e.start, e.end
        lx, ly = x1 + (x2 - x1) * e.position, y1 + (y2 - y1) * e.position
        head = _arrowhead(e.start, e.end, ARROW)
        edges.append(EdgeView(
            _cm(x1), _cm(y1), _cm(diagram.height - y1), _cm(x2), _cm(y2),
            _cm(diagram.height - y2), None if e.label is None else printed(e.label),
            _cm(lx), _cm(ly), _cm(diagram.height - ly),
            tuple((_cm(x), _cm(diagram.height - y)) for x, y in head), e.highlighted))
    return {"width": _cm(diagram.width), "height": _cm(diagram.height), "nodes": nodes,
            "edges": tuple(edges), "highlight": diagram.highlight}


# -- SVG: the diagram in pixels, labels as runs of text, for figures.svg.j2 ----------------
PX = 96 / 2.54                     # SVG pixels per cm: the picture at its real size
FONT = 11.0                        # px, a node's label
SMALL_FONT = 9.5                   # px, edge labels, notes and captions
SCRIPT_SCALE = (1.0, 0.7, 0.55)    # font size on the baseline, in a script, in a script's script
SHIFT = {"sub": 0.25, "sup": -0.5}  # ems of the base: a script's baseline below (+) or above it
ITALIC = 0.1                       # ems: a superscript's gap after an italic letter
SPACE = 0.28                       # ems: a space in a label (around "="), as TeX's thick space
MARGIN = 4.0                       # px of white around the drawing


@dataclass(frozen=True)
class Tspan:
    """One run of a label's text: its font and where it starts, relative to the run before
    (``dx``, ``dy`` in px, None for 0; ``dy`` goes down)."""

    text: str
    size: str
    dx: str | None
    dy: str | None
    italic: bool
    bold: bool


@dataclass(frozen=True)
class SvgText:
    x: str
    y: str          # the baseline
    anchor: str     # start, middle or end
    size: str
    tspans: tuple[Tspan, ...]


@dataclass(frozen=True)
class SvgNode:
    """A circle (centre ``x, y``, radius ``r``) or, for ``kind="layer"``, a box."""

    kind: str
    x: str
    y: str
    r: str
    left: str
    top: str
    width: str
    height: str
    label: SvgText
    note: SvgText | None
    caption: SvgText | None


@dataclass(frozen=True)
class Rect:
    x: str
    y: str
    width: str
    height: str


@dataclass(frozen=True)
class SvgEdge:
    x1: str
    y1: str
    x2: str         # the line ends at the base of the arrowhead
    y2: str
    head: str       # the arrowhead's corners: "x,y x,y x,y"
    style: str      # plain; faint (off the highlighted paths); path (on them)
    label: SvgText | None
    backdrop: Rect | None   # behind the label


@dataclass(frozen=True)
class SvgDiagram:
    """The picture: its box (``left``, ``top``: where the drawing starts), and what is in it."""

    left: str
    top: str
    width: str
    height: str
    highlight: bool
    nodes: tuple[SvgNode, ...]
    edges: tuple[SvgEdge, ...]


def _px(value: float) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _least(ch: str) -> float:
    """A character's width in ems, at most: no serif font draws it narrower."""
    return 0.5 if ch.isdigit() else 0.25


def _most(ch: str) -> float:
    """A character's width in ems, generously (to size the picture)."""
    return 0.3 if ch.isspace() else 0.62


def _size(run: Run, size: float) -> float:
    return size * SCRIPT_SCALE[min(len(run.scripts), 2)]


def _stretch(runs: tuple[Run, ...], start: int, step: int,
             place: tuple[str, ...]) -> list[Run]:
    """The runs from ``start`` on (``step`` 1) or back (-1) that lie inside ``place``."""
    out = []
    i = start
    while 0 <= i < len(runs) and runs[i].scripts[:len(place)] == place:
        out.append(runs[i])
        i += step
    return out


def svg_text(latex: str, x: float, baseline: float, size: float, anchor: str) -> SvgText:
    """A label's LaTeX as SVG text: a tspan per run (:func:`svg_runs`), scripts smaller and
    shifted by ``dy``; a superscript stacked over the subscript of the same base by a ``dx``
    back, no further than either script is surely wide (so nothing overlaps).

    Spaces at a run's ends become ``dx`` (viewers drop them there), ``SPACE`` ems each.
    """
    runs = svg_runs(latex)
    tspans = []
    current = 0.0   # the baseline's shift so far
    carried = 0.0   # the space after the previous run
    for i, run in enumerate(runs):
        offset = sum(SHIFT[kind] * size * SCRIPT_SCALE[min(depth, 2)]
                     for depth, kind in enumerate(run.scripts))
        space = SPACE * _size(run, size)
        if not run.text.strip():
            carried += space * len(run.text)
            continue
        advance = carried + space * (len(run.text) - len(run.text.lstrip()))
        carried = space * (len(run.text) - len(run.text.rstrip()))
        below = _stretch(runs, i - 1, -1, (*run.scripts[:-1], "sub")) if run.stacked else []
        if run.stacked:
            above = _stretch(runs, i, 1, run.scripts)
            advance -= min(sum(_least(ch) * _size(r, size) for r in part for ch in r.text.strip())
                           for part in (below, above))
        base = i - len(below) - 1
        if run.scripts[-1:] == ("sup",) and base >= 0 and runs[base].italic \
                and runs[base].scripts == run.scripts[:-1]:
            advance += ITALIC * _size(runs[base], size)  # clear a slanted letter's top
        tspans.append(Tspan(run.text.strip(), _px(_size(run, size)),
                            _px(advance) if round(advance, 2) else None,
                            _px(offset - current) if round(offset - current, 2) else None,
                            run.italic, run.bold))
        current = offset
    return SvgText(_px(x), _px(baseline), anchor, _px(size), tuple(tspans))


def _typical(ch: str) -> float:
    """A character's width in ems in TeX's Computer Modern, roughly that in other serifs."""
    if ch.isdigit():
        return 0.5
    if ch in "=+\u2212":
        return 0.78
    if ch in ".,:;":
        return 0.28
    if ch in "()[]":
        return 0.39
    return 0.72 if ch.isupper() else 0.5


def _span(text: SvgText, per_char) -> tuple[float, float]:
    """Where a text reaches, left to right, with characters ``per_char`` ems wide."""
    width = sum(per_char(ch) * float(t.size) for t in text.tspans for ch in t.text) \
        + sum(float(t.dx) for t in text.tspans if t.dx)
    x = float(text.x)
    left = {"start": x, "middle": x - width / 2, "end": x - width}[text.anchor]
    return left, left + width


def _text_box(text: SvgText) -> tuple[float, float, float, float]:
    """Where a text reaches (left, top, right, bottom), estimated generously."""
    left, right = _span(text, _most)
    size, y = float(text.size), float(text.y)
    return left, y - 1.1 * size, right, y + 0.6 * size


def _backdrop(text: SvgText) -> Rect:
    """The white box that keeps edges out of a label: about as wide as its text."""
    left, right = _span(text, _typical)
    size, y = float(text.size), float(text.y)
    return Rect(_px(left - 1), _px(y - 0.8 * size), _px(right - left + 2), _px(1.15 * size))


def svg_view(diagram: Diagram, printer) -> SvgDiagram:
    """The diagram for ``templates/figures.svg.j2``: pixels from the top left, every label
    printed by ``printer`` (LaTeX) and read as runs of text (:func:`svg_runs`), the picture
    cropped to what is drawn."""
    def printed(label) -> str:
        return printer.doprint(label) if isinstance(label, sp.Basic) else str(label)

    def point(x: float, y: float) -> tuple[float, float]:
        return x * PX, (diagram.height - y) * PX

    boxes: list[tuple[float, float, float, float]] = []
    nodes = []
    for n in diagram.nodes:
        x, y = point(n.x, n.y)
        r = n.radius * PX
        if n.kind == "layer":
            left, top, width, height = x - r, y - 0.5 * PX, 2 * r, 1.0 * PX
        else:
            left, top, width, height = x - r, y - r, 2 * r, 2 * r
        boxes.append((left, top, left + width, top + height))
        size = FONT if n.kind != "layer" else FONT * 1.1
        label = svg_text(printed(n.label), x, y + 0.32 * size, size, "middle")
        note = None
        if n.note is not None:
            gap = 0.15 * PX
            x_note, baseline, anchor = {
                "left": (x - r - gap, y + 0.32 * SMALL_FONT, "end"),
                "right": (x + r + gap, y + 0.32 * SMALL_FONT, "start"),
                "below": (x, y + r + 0.12 * PX + 0.75 * SMALL_FONT, "middle")}[n.note_side]
            note = svg_text(printed(n.note), x_note, baseline, SMALL_FONT, anchor)
        caption = None
        if n.caption:
            caption = SvgText(_px(x), _px(y + 0.65 * PX + 0.75 * SMALL_FONT), "middle",
                              _px(SMALL_FONT), (Tspan(n.caption, _px(SMALL_FONT), None, None,
                                                      False, False),))
        boxes += [_text_box(t) for t in (label, note, caption) if t is not None]
        nodes.append(SvgNode(n.kind, _px(x), _px(y), _px(r), _px(left), _px(top), _px(width),
                             _px(height), label, note, caption))
    edges = []
    for e in diagram.edges:
        start, end = point(*e.start), point(*e.end)
        head = _arrowhead(start, end, ARROW * PX * (1.25 if e.highlighted else 1.0))
        base = ((head[1][0] + head[2][0]) / 2, (head[1][1] + head[2][1]) / 2)
        label = backdrop = None
        if e.label is not None:
            lx = start[0] + (end[0] - start[0]) * e.position
            ly = start[1] + (end[1] - start[1]) * e.position
            label = svg_text(printed(e.label), lx, ly + 0.32 * SMALL_FONT, SMALL_FONT, "middle")
            boxes.append(_text_box(label))
            backdrop = _backdrop(label)
        boxes.append((min(start[0], end[0]), min(start[1], end[1]),
                      max(start[0], end[0]), max(start[1], end[1])))
        style = "path" if e.highlighted else ("faint" if diagram.highlight else "plain")
        edges.append(SvgEdge(_px(start[0]), _px(start[1]), _px(base[0]), _px(base[1]),
                             " ".join(f"{_px(x)},{_px(y)}" for x, y in head), style, label,
                             backdrop))
    left = math.floor(min(b[0] for b in boxes) - MARGIN)
    top = math.floor(min(b[1] for b in boxes) - MARGIN)
    width = math.ceil(max(b[2] for b in boxes) + MARGIN) - left
    height = math.ceil(max(b[3] for b in boxes) + MARGIN) - top
    return SvgDiagram(str(left), str(top), str(width), str(height), diagram.highlight,
                      tuple(nodes), tuple(edges))


# -- plots (matplotlib, loaded only when a plot is drawn) -----------------------------------
STYLE = {"svg.hashsalt": "derive", "svg.fonttype": "path", "pdf.fonttype": 42,
         "font.size": 9, "mathtext.fontset": "cm"}


@contextmanager
def isolated_style(settings: dict):
    """Matplotlib's defaults plus ``settings`` for one picture, restored afterwards.

    Pictures must not depend on what a caller's script (or another picture) set in
    ``rcParams``: the same problem gives byte-identical files.
    """
    import matplotlib

    with matplotlib.rc_context():
        matplotlib.rcdefaults()
        matplotlib.rcParams.update(settings)  # fixed SVG ids, no date, text as paths
        yield


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else {"CreationDate": None, "ModDate": None}
    figure.savefig(buffer, format=fmt, metadata=metadata, bbox_inches="tight")
    return buffer.getvalue()


@dataclass(frozen=True)
class ActivationPlot:
    """One activation of the problem: its name and the pre-activations evaluated."""

    name: str
    title: str
    points: tuple[float, ...]


def activation_plots(solution) -> tuple[ActivationPlot, ...]:
    """Each elementwise activation the network uses, with its evaluated pre-activations."""
    from .render import ACTIVATION_TITLES

    found: dict[str, list[float]] = {}
    for l, layer in enumerate(solution.problem.layers):
        if layer.activation in ("softmax", "linear"):
            continue
        found.setdefault(layer.activation, []).extend(
            float(z) for z in solution.derivation.values.layers[l].z.ravel()[:40])
    return tuple(ActivationPlot(name, ACTIVATION_TITLES[name], tuple(points))
                 for name, points in found.items())


def activation_plot(solution, plot: ActivationPlot, *, marked: bool, fmt: str) -> bytes:
    """The activation and its derivative, the evaluated points marked."""
    with isolated_style(STYLE):
        return _activation_plot(solution, plot, marked=marked, fmt=fmt)


def _activation_plot(solution, plot: ActivationPlot, *, marked: bool, fmt: str) -> bytes:
    """The activation and its derivative over a range around the evaluated points.

    Args:
        marked: mark the pre-activations where the forward pass evaluated it (answers).
        fmt: ``pdf`` (LaTeX) or ``svg`` (Typst, Markdown).
    """
    from . import catalog

    plt = _pyplot()
    net = solution.derivation.network
    layer = next(l for l, spec in enumerate(solution.problem.layers)
                 if spec.activation == plot.name)
    activation = catalog.ACTIVATIONS[plot.name]
    parameter = net.activation_parameter(layer)
    function = catalog.compiled(activation.function(catalog.Z, parameter), catalog.Z)
    slope = catalog.compiled(activation.numeric_slope(parameter), catalog.Z, catalog.A)
    reach = max([4.0] + [abs(p) * 1.3 for p in plot.points])
    z = np.linspace(-reach, reach, 401)
    a = function(z)
    figure, axes = plt.subplots(figsize=(4.6, 2.6))
    axes.plot(z, a, color="#1f4e99", lw=1.5, label=f"{plot.title}")
    axes.plot(z, slope(z, a), color="#c0392b", lw=1.2, ls="--", label="derivative")
    if marked and plot.points:
        points = np.array(plot.points)
        axes.plot(points, function(points), "o", color="#1f4e99", ms=4,
                  label="evaluated at $z$")
    axes.axhline(0, color="#999999", lw=0.5)
    axes.axvline(0, color="#999999", lw=0.5)
    axes.set_xlabel("$z$")
    axes.legend(loc="upper left", fontsize=7, frameon=False)
    axes.grid(True, lw=0.3, alpha=0.5)
    data = _save(figure, fmt)
    plt.close(figure)
    return data
