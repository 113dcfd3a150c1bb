"""Diagrams and plots: the network's geometry, the highlighted paths, deterministic SVG,
and the pictures the Markdown links to."""

from __future__ import annotations

import re

import pytest
import sympy as sp

import derive
from conftest import solved
from derive import figures
from derive.render import figure_svgs, solution_printer

pytest.importorskip("matplotlib")


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
    mapping = {"x": [0.1] * 30, "y": [1.0], "loss": "mse", "learning_rate": 0.1,
               "layers": [{"activation": "relu", "weights": [[0.01] * 30] * 4, "bias": 0.1},
                          {"activation": "sigmoid", "weights": [[0.2] * 4]}]}
    solution = derive.solve(derive.parse_problem(mapping))
    diagram = figures.network_diagram(solution)
    assert [node.kind for node in diagram.nodes] == ["layer"] * 3
    assert [node.caption for node in diagram.nodes] == [
        "30 inputs", "4 ReLU units", "1 sigmoid unit"]
    view = figures.diagram_view(diagram, solution_printer(solution))
    assert [e.label for e in view["edges"]] == ["W^{[1]}", "W^{[2]}"]


def test_svg_is_deterministic():
    solution = solved("zhou_alice")
    first, second = figure_svgs(solution), figure_svgs(solution)
    assert first == second and len(first) == 2
    for data in first.values():
        assert data.startswith(b"<?xml") and b"<svg" in data
        assert b"<dc:date>" not in data


def test_markdown_links_the_pictures_it_writes(tmp_path):
    written = solved("mazur").write(tmp_path, formats=("md",), stem="mazur")
    markdown = (tmp_path / "mazur.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert len(linked) == 2
    assert sorted(p.name for p in written) == sorted(["mazur.md", *linked])
    # a picture's name follows its content: another network, another name
    other = solved("zhou_alice").to_markdown()
    assert not set(linked) & set(re.findall(r"\(([^)]+\.svg)\)", other))


@pytest.mark.parametrize("fmt, magic", [("pdf", b"%PDF"), ("svg", b"<?xml")])
def test_activation_plot(fmt, magic):
    solution = solved("zhou_alice")
    (plot,) = figures.activation_plots(solution)
    assert plot.name == "sigmoid"
    assert len(plot.points) == 3                      # z of h1, h2 and o
    data = figures.activation_plot(solution, plot, marked=True, fmt=fmt)
    assert data.startswith(magic)
    assert data == figures.activation_plot(solution, plot, marked=True, fmt=fmt)


def test_tanh_relu_plots():
    mapping = {"x": [0.5, -0.3], "y": [0.2], "loss": "mse", "learning_rate": 0.1,
               "layers": [{"activation": "tanh", "weights": [[0.1, 0.2], [0.3, -0.4]]},
                          {"activation": "leaky_relu", "weights": [[0.5, 0.6]]}]}
    solution = derive.solve(derive.parse_problem(mapping))
    plots = figures.activation_plots(solution)
    assert [p.name for p in plots] == ["tanh", "leaky_relu"]
    for plot in plots:
        assert figures.activation_plot(solution, plot, marked=False, fmt="svg")
    assert isinstance(figures.network_diagram(solution).nodes[0].label, sp.Symbol)
