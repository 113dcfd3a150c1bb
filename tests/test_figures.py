"""Diagrams and plots: the network's geometry, the highlighted paths, the SVG pictures the
Markdown links to (drawn by a template, labels as text), and the activation plots."""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import sys
import unicodedata
import xml.etree.ElementTree as ET
from collections import Counter

import pytest
import sympy as sp
from conftest import PROBLEMS, ROOT, solved

import derive
from derive import figures
from derive.notation import Notation, Run, parameter_names, svg_runs
from derive.render import environment, figure_files, figure_svgs, solution_printer

NETWORKS = ["mazur", "zhou_alice", "perceptron_toy", "bce_4_4_1", "cce_4_4_3"]
SVG = "{http://www.w3.org/2000/svg}"
LARGE = {"x": [0.1] * 30, "y": [1.0], "loss": "mse", "learning_rate": 0.1,
         "layers": [{"activation": "relu", "weights": [[0.01] * 30] * 4, "bias": 0.1},
                    {"activation": "sigmoid", "weights": [[0.2] * 4]}]}


def labels(diagram) -> list[str]:
    printer = solution_printer(solved("mazur"))
    return [printer.doprint(e.label) for e in diagram.edges if e.label is not None]


def test_mazur_diagram_as_in_the_slides():
    diagram = figures.network_diagram(solved("mazur"))
    kinds = [node.kind for node in diagram.nodes]
    assert kinds.count("input") == 2 and kinds.count("neuron") == 4 and kinds.count("bias") == 2
    assert len(diagram.edges) == 8 + 4          # eight weights, two shared biases to two neurons
    assert "w_{1} = 0.15" in labels(diagram) and "w_{8} = 0.55" in labels(diagram)
    notes = [solution_printer(solved("mazur")).doprint(n.note) for n in diagram.nodes
             if n.note is not None]
    assert {"0.05", "0.1", "0.35", "0.6", "target_{o1} = 0.01"} <= set(notes)
    inside = all(0 <= x <= diagram.width and 0 <= y <= diagram.height
                 for e in diagram.edges for x, y in (e.start, e.end))
    assert inside


def test_paths_from_the_loss_to_the_first_weight():
    diagram = figures.network_diagram(solved("mazur"), values=False, paths_to=("W", 0, 0, 0))
    assert any(node.kind == "loss" for node in diagram.nodes)
    highlighted = [e for e in diagram.edges if e.highlighted]
    # w1 (i1 -> h1), then h1 -> o1 (w5), h1 -> o2 (w7), o1 -> E, o2 -> E
    assert len(highlighted) == 5
    printer = solution_printer(solved("mazur"))
    assert sorted(printer.doprint(e.label) for e in highlighted if e.label is not None) == [
        "w_{1}", "w_{5}", "w_{7}"]
    assert all("=" not in text for text in labels(diagram))   # no values on this one


def test_large_networks_get_a_layer_diagram():
    solution = derive.solve(derive.parse_problem(LARGE))
    diagram = figures.network_diagram(solution)
    assert [node.kind for node in diagram.nodes] == ["layer"] * 3
    assert [node.caption for node in diagram.nodes] == [
        "30 inputs", "4 ReLU units", "1 sigmoid unit"]
    view = figures.diagram_view(diagram, solution_printer(solution))
    assert [e.label for e in view["edges"]] == ["W^{[1]}", "W^{[2]}"]


# -- labels as SVG text ---------------------------------------------------------------------
SUB, SUP, SUBSUB = ("sub",), ("sup",), ("sub", "sub")


@pytest.mark.parametrize("latex, runs", [
    ("out_{h1}", [Run("out", (), True), Run("h", SUB, True), Run("1", SUB)]),
    ("net_{o2}", [Run("net", (), True), Run("o", SUB, True), Run("2", SUB)]),
    ("out_{h2,3}", [Run("out", (), True), Run("h", SUB, True), Run("2,3", SUB)]),
    ("a^{[1]}_{1}", [Run("a", (), True), Run("1", SUB), Run("[1]", SUP, stacked=True)]),
    ("W^{[2]}_{12}", [Run("W", (), True), Run("12", SUB), Run("[2]", SUP, stacked=True)]),
    (r"\hat{y}", [Run("ŷ", (), True)]),
    (r"\hat{y}_{2}", [Run("ŷ", (), True), Run("2", SUB)]),
    ("z_{h_{1}}", [Run("z", (), True), Run("h", SUB, True), Run("1", SUBSUB)]),
    ("{x}^{(2)}", [Run("x", (), True), Run("(2)", SUP)]),
    ("{x_{1}}^{(2)}", [Run("x", (), True), Run("1", SUB), Run("(2)", SUP)]),
    ("w_{5}", [Run("w", (), True), Run("5", SUB)]),
    ("b^{[1]}", [Run("b", (), True), Run("[1]", SUP)]),
    (r"\eta", [Run("η", (), True)]),
    ("target_{o1}", [Run("target", (), True), Run("o", SUB, True), Run("1", SUB)]),
    ("E_{total}", [Run("E", (), True), Run("total", SUB, True)]),
    ("L", [Run("L", (), True)]),
    (r"\mathbf{a}^{[1]}", [Run("a", (), bold=True), Run("[1]", SUP)]),
    (r"\boldsymbol{\delta}", [Run("δ", (), True, True)]),
    ("w_{1} = -0.15", [Run("w", (), True), Run("1", SUB), Run(" = −0.15")]),
    (r"1.2 \cdot 10^{-5}", [Run("1.2 · 10"), Run("−5", SUP)]),
    ("x_1", [Run("x", (), True), Run("1", SUB)]),
    ("a<b & c>", [Run("a", (), True), Run("<"), Run("b", (), True), Run(" & "),
                  Run("c", (), True), Run(">")]),
])
def test_svg_runs(latex, runs):
    assert svg_runs(latex) == tuple(runs)


@pytest.mark.parametrize("latex, problem", [
    (r"\frac{1}{2}", r"unknown command \frac"), ("a_{1", "unbalanced '{'"),
    ("a}", "unbalanced '}'"), ("a_1_2", "double subscript"), ("^2", "without a base"),
    ("x_", "ends too soon"),
])
def test_svg_runs_refuse_what_they_cannot_draw(latex, problem):
    with pytest.raises(derive.DeriveError, match=re.escape(problem)):
        svg_runs(latex)


def every_name():
    """Every name the three notation styles and both parameter namings give, for networks
    of several shapes (one, two and three layers; wide layers; one and two samples)."""
    shapes = [(1, 1), (2, 1), (2, 2, 2), (3, 1, 1), (4, 4, 3), (2, 3, 2, 1), (12, 11, 10)]
    for style, widths, samples in itertools.product(("mazur", "layer", "zhou"), shapes, (1, 2)):
        n = Notation(style, widths, samples)
        for s in (None, *range(samples)):
            yield from (n.input(k, s) for k in range(widths[0]))
            for l in range(n.depth):
                for j in range(widths[l + 1]):
                    yield n.pre_activation(l, j, s)
                    yield n.activation(l, j, s)
            for k in range(widths[-1]):
                yield n.target(k, s)
                yield n.loss_term(k, s)
            yield n.loss(s)
        yield n.total_loss()
        yield n.learning_rate()
    for style, widths in itertools.product(("flat", "layer"), shapes):
        flags = list(itertools.product((False, True), repeat=len(widths) - 1))
        for shared, bias in itertools.product(flags, flags):
            yield from parameter_names(style, widths, shared, bias).values()


NAMES = {name.latex: name for name in every_name()}


def digits(text: str) -> str:
    return re.sub(r"\d", "0", text)


PATTERNS = {digits(latex): latex for latex in reversed(NAMES)}   # pattern → its first name


def shape(runs) -> list[tuple]:
    return [(digits(r.text), r.scripts, r.italic, r.bold, r.stacked) for r in runs]


def test_every_name_reads_as_text_with_its_scripts():
    """Each name's runs hold exactly its characters; names that differ only in their
    digits read alike (so the oracle below, one name of each pattern, covers them all)."""
    assert len(NAMES) > 1000
    for latex, name in NAMES.items():
        runs = name.svg
        assert runs and all(run.text and run.text == run.text.strip() for run in runs), latex
        drawn = unicodedata.normalize("NFD", "".join(run.text for run in runs))
        written = re.sub(r"\\hat\{(.)\}", "\\1\u0302", latex).replace(r"\eta", "η")
        assert sorted(drawn) == sorted(re.sub(r"[{}^_]", "", written)), latex
        assert shape(runs) == shape(NAMES[PATTERNS[digits(latex)]].svg), latex


def placed_by_mathtext(parser, latex: str) -> Counter:
    """(character, script depth, above/below the baseline, italic) of each glyph that
    matplotlib's mathtext (an independent TeX layout) sets; accents as (accent, depth)."""
    parsed = parser.parse(f"${latex}$", dpi=72)
    glyphs = [(g[0].fname, g[1], chr(g[2]), g[-1]) for g in parsed.glyphs]  # font, size, oy
    biggest = max(size for _, size, _, _ in glyphs)
    base = next(oy for _, size, ch, oy in glyphs
                if size == biggest and not unicodedata.combining(ch))
    placed = Counter()
    for font, size, ch, oy in glyphs:
        depth = {10: 0, 7: 1, 4.9: 2}[round(size, 1)]
        if unicodedata.combining(ch):
            placed[(ch, depth)] += 1
            continue
        where = 0 if depth == 0 else (1 if oy > base else -1)
        placed[(ch, depth, where, "Oblique" in font)] += 1
    return placed


def placed_by_runs(runs) -> Counter:
    placed = Counter()
    for run in runs:
        where = 0 if not run.scripts else (1 if run.scripts[0] == "sup" else -1)
        for ch in unicodedata.normalize("NFD", run.text):
            if unicodedata.combining(ch):
                placed[(ch, len(run.scripts))] += 1
            else:
                placed[(ch, len(run.scripts), where, run.italic)] += 1
    return placed


def test_names_are_set_as_tex_sets_them():
    mathtext = pytest.importorskip("matplotlib.mathtext")
    parser = mathtext.MathTextParser("path")
    assert len(PATTERNS) > 100
    for latex in PATTERNS.values():
        assert placed_by_runs(svg_runs(latex)) == placed_by_mathtext(parser, latex), latex


def test_svg_text_stacks_scripts_and_keeps_spaces():
    text = figures.svg_text("a^{[1]}_{1}", 0, 0, 10, "middle")
    assert text.tspans == (
        figures.Tspan("a", "10", None, None, True, False),
        figures.Tspan("1", "7", None, "2.5", False, False),
        # back over the subscript (a digit: 3.5 px), on by the italic a's overhang (1 px)
        figures.Tspan("[1]", "7", "-2.5", "-7.5", False, False))
    text = figures.svg_text("w_{1} = 0.15", 0, 0, 10, "start")
    assert text.tspans[-1] == figures.Tspan("= 0.15", "10", "2.8", "-2.5", False, False)


# -- the SVG files ----------------------------------------------------------------------------
def pictures(name: str) -> dict[str, bytes]:
    solution = derive.solve(derive.parse_problem(LARGE)) if name == "large" else solved(name)
    return figure_svgs(solution)


def drawn_texts(root) -> list[str]:
    return ["".join(text.itertext()) for text in root.iter(f"{SVG}text")
            if text.get("class") != "halo"]


@pytest.mark.parametrize("name", [*NETWORKS, "large"])
def test_svg_is_deterministic_well_formed_xml(name):
    first = pictures(name)
    assert first == pictures(name)
    assert len(first) == (1 if name in ("perceptron_toy", "large") else 2)
    for data in first.values():
        assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<svg')
        root = ET.fromstring(data)
        assert root.tag == f"{SVG}svg"
        left, top, width, height = map(float, root.get("viewBox").split())
        assert (width, height) == (float(root.get("width")), float(root.get("height")))
        for circle in root.iter(f"{SVG}circle"):   # every node inside the picture
            x, y, r = (float(circle.get(a)) for a in ("cx", "cy", "r"))
            assert left <= x - r and x + r <= left + width
            assert top <= y - r and y + r <= top + height


def test_svg_labels_are_text_with_scripts():
    network, paths = (ET.fromstring(data) for data in pictures("mazur").values())
    texts = drawn_texts(network)
    assert {"i1", "outh1", "w1= 0.15", "targeto2= 0.99", "0.35"} <= set(texts)
    assert not list(network.iter(f"{SVG}path"))      # text, not glyphs drawn as paths
    labels_on_path = [" ".join(t.itertext()) for t in paths.iter(f"{SVG}text")
                      if t.get("class") == "label path"]
    assert sorted(labels_on_path) == ["w 1", "w 5", "w 7"]
    assert "Etotal" in drawn_texts(paths)
    cce = ET.fromstring(pictures("cce_4_4_3")[figure_files(solved("cce_4_4_3"))["network"]])
    stacked = next(t for t in cce.iter(f"{SVG}text") if "".join(t.itertext()) == "a1[1]")
    sub, sup = list(stacked)[1:]
    assert float(sub.get("dy")) > 0 > float(sup.get("dy")) and float(sup.get("dx")) < 0
    assert float(sub.get("font-size")) < float(stacked.get("font-size"))
    large = ET.fromstring(next(iter(pictures("large").values())))
    assert {"x", "a[1]", "W[2]", "4 ReLU units"} <= set(drawn_texts(large))


def test_svg_escapes_label_text():
    node = figures.Node(1.0, 1.0, "a<b&c>", "neuron", caption="x & y <z>")
    box = figures.Node(4.0, 1.0, sp.Symbol("q"), "layer", caption="<&> units", radius=0.8)
    edge = figures.Edge((1.5, 1.0), (3.2, 1.0), sp.Symbol("w"), 0.5)
    diagram = figures.Diagram((node, box), (edge,), 6.0, 2.0)
    view = figures.svg_view(diagram, solution_printer(solved("mazur")))
    template = environment(str(ROOT / "templates"), "svg").get_template("figures.svg.j2")
    text = template.render(d=view)
    assert "&lt;&amp;&gt; units" in text
    assert {"a<b&c>", "<&> units", "x & y <z>", "w"} <= set(drawn_texts(ET.fromstring(text)))


def test_figure_names_follow_the_drawing():
    names = figure_files(solved("mazur"))
    assert set(pictures("mazur")) == set(names.values())
    assert re.fullmatch(r"network-[0-9a-f]{10}\.svg", names["network"])
    assert figure_files(solved("perceptron_toy"))["paths"] is None


def test_markdown_links_the_pictures_it_writes(tmp_path):
    written = solved("mazur").write(tmp_path, formats=("md",), stem="mazur")
    markdown = (tmp_path / "mazur.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(linked) == 2
    assert sorted(p.name for p in written) == sorted(["mazur.md", *linked])
    # a picture's name follows its content: another network, another name
    other = solved("zhou_alice").to_markdown()
    assert not set(linked) & set(re.findall(r"\(([^)]+\.svg)\)", other))


def test_missing_picture_template_writes_nothing(tmp_path):
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    (folder / "figures.svg.j2").unlink()
    solution = derive.solve(derive.load_problem(PROBLEMS / "mazur.yaml"), template_dir=folder)
    with pytest.raises(derive.DeriveError, match="figures.svg.j2 not found"):
        solution.write(tmp_path / "out", formats=("md",))
    assert not (tmp_path / "out").exists()


def test_solving_does_not_import_matplotlib(tmp_path):
    code = ("import sys, derive; solution = derive.solve(derive.load_problem(sys.argv[1])); "
            "solution.write(sys.argv[2], formats=('md', 'tex', 'json')); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'matplotlib'))")
    result = subprocess.run([sys.executable, "-c", code, str(PROBLEMS / "mazur.yaml"),
                             str(tmp_path)], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
    assert len(list(tmp_path.glob("*.svg"))) == 2


@pytest.mark.skipif(shutil.which("rsvg-convert") is None,
                    reason="rsvg-convert is not installed (package librsvg2-bin)")
@pytest.mark.parametrize("name", [*NETWORKS, "large"])
def test_rsvg_draws_the_pictures(name, tmp_path):
    for file, data in pictures(name).items():
        (tmp_path / file).write_bytes(data)
        result = subprocess.run(["rsvg-convert", str(tmp_path / file)], capture_output=True,
                                timeout=60, check=False)
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith(b"\x89PNG")
        width, height = (int.from_bytes(result.stdout[i:i + 4], "big") for i in (16, 20))
        root = ET.fromstring(data)
        assert (width, height) == (int(root.get("width")), int(root.get("height")))


# -- activation plots (matplotlib) ------------------------------------------------------------
@pytest.mark.parametrize("fmt, magic", [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_activation_plot(fmt, magic):
    pytest.importorskip("matplotlib")
    solution = solved("zhou_alice")
    (plot,) = figures.activation_plots(solution)
    assert plot.name == "sigmoid"
    assert len(plot.points) == 3                      # z of h1, h2 and o
    data = figures.activation_plot(solution, plot, marked=True, fmt=fmt)
    assert data.startswith(magic)
    assert data == figures.activation_plot(solution, plot, marked=True, fmt=fmt)


def test_tanh_relu_plots():
    pytest.importorskip("matplotlib")
    mapping = {"x": [0.5, -0.3], "y": [0.2], "loss": "mse", "learning_rate": 0.1,
               "layers": [{"activation": "tanh", "weights": [[0.1, 0.2], [0.3, -0.4]]},
                          {"activation": "leaky_relu", "weights": [[0.5, 0.6]]}]}
    solution = derive.solve(derive.parse_problem(mapping))
    plots = figures.activation_plots(solution)
    assert [p.name for p in plots] == ["tanh", "leaky_relu"]
    for plot in plots:
        assert figures.activation_plot(solution, plot, marked=False, fmt="svg")
    assert isinstance(figures.network_diagram(solution).nodes[0].label, sp.Symbol)
