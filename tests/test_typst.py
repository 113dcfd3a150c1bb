"""The Typst printer: exact strings for every expression class, notation names that
compile, and user text that can never become Typst code."""

from __future__ import annotations

import re

import pytest
import sympy as sp
from conftest import PROBLEMS

import derive
from derive.catalog import leaky_relu, relu, sigmoid
from derive.forms import Partial, Shown
from derive.matrix import Hadamard, Slope
from derive.notation import Notation, parameter_names
from derive.typst import TypstPrinter, format_number, typst_string, typst_text

typst = pytest.importorskip("typst")

x, y, z, a = sp.symbols("x y z a")
L, out = sp.Symbol("L"), sp.Symbol("out_o1")
NAMES = {out: 'italic("out")_(o 1)', L: "L"}


def printed(expr, **settings) -> str:
    return TypstPrinter({"symbol_names": NAMES, **settings}).doprint(expr)


def compile_math(*formulas: str) -> bytes:
    source = "#set page(width: 20cm, height: auto)\n" + "\n".join(
        f"$ {formula} $" for formula in formulas)
    return typst.compile(source.encode(), format="pdf", ignore_system_fonts=True)


CASES = [
    (x, "x"),
    (out, 'italic("out")_(o 1)'),
    (sp.Symbol("net_h1"), '"net_h1"'),                     # unknown long name: upright text
    (Shown(0.123456), "0.1235"),
    (Shown(0.5, given=True), "0.5"),
    (Shown(-0.25, given=True), "-0.25"),
    (Shown(0.00001234), "1.234 dot 10^(-5)"),             # never a misleading 0
    (Partial(L, out), 'frac(partial L, partial italic("out")_(o 1))'),
    (sp.Add(Shown(0.5), Shown(-0.42), evaluate=False), "0.5 + (-0.42)"),
    (sp.Mul(Shown(-0.3), Shown(0.6), evaluate=False), "(-0.3) dot 0.6"),
    (sp.Add(x, sp.Mul(-1, y, z, evaluate=False), evaluate=False), "x - y dot z"),
    (sp.Mul(sp.Rational(1, 2), sp.Pow(sp.Add(y, -a, evaluate=False), 2, evaluate=False),
            evaluate=False), "frac(1, 2) (y - a)^(2)"),
    (sp.Rational(-1, 3), "-frac(1, 3)"),
    (sp.Integer(-2), "-2"),
    (sp.Float(0.01), "0.01"),
    (a * (1 - a), "a dot (1 - a)"),
    (1 / (1 + sp.exp(-z)), "frac(1, 1 + e^(-z))"),
    (-y / a, "-frac(y, a)"),
    (sp.log(a), "log(a)"),
    (sp.log(a, 2), "frac(log(a), log(2))"),
    (sp.tanh(z), "tanh(z)"),
    (sp.cosh(z) ** -2, "frac(1, cosh(z)^(2))"),
    (sp.sqrt(x), "sqrt(x)"),
    (sigmoid(z), "sigma(z)"),
    (relu(z, sp.Float(0)), 'op("ReLU")(z)'),
    (leaky_relu(z, sp.Float(0.01)), 'op("LeakyReLU")(z)'),
    (sp.Max(0, z, evaluate=False), "max(0, z)"),
    (sp.Heaviside(z), "theta(z)"),
    (sp.Piecewise((1, z > 0), (0, True)), 'cases(1 & "for" z > 0, 0 & "otherwise")'),
    (sp.Function("softmax")(z), 'op("softmax")(z)'),
    (sp.Function("Sum")(z), "sum_j (z)"),
    (sp.Function("f")(x, y), "f(x, y)"),
    (sp.Function("gain")(x), 'op("gain")(x)'),
    (Hadamard(Partial(L, a), Slope(sp.Symbol("sigmoid"), z)),
     "frac(partial L, partial a) dot.o sigma'(z)"),
    (Slope(sp.Symbol("relu"), z), "op(\"ReLU\")'(z)"),
]


@pytest.mark.parametrize("expr, expected", CASES, ids=[c[1] for c in CASES])
def test_exact_strings(expr, expected):
    assert printed(expr) == expected


def test_every_case_compiles():
    assert compile_math(*(expected for _, expected in CASES)).startswith(b"%PDF")


def test_digits_and_significant_rounding():
    assert printed(Shown(2 / 3), digits=2) == "0.67"
    assert printed(Shown(123.456), digits=2, rounding="significant") == "120"
    assert format_number(-0.0000004, digits=3) == "-4 dot 10^(-7)"


def test_unknown_classes_and_settings_are_refused():
    with pytest.raises(TypeError, match="cannot print"):
        printed(sp.Matrix([[1]]))
    with pytest.raises(TypeError):
        TypstPrinter({"no_such_setting": 1})


def _names():
    """Every name the notations make: each style, shape, batch and parameter naming."""
    found = []
    for style in ("mazur", "layer", "zhou"):
        for widths in ((1, 1), (2, 3), (2, 2, 1), (3, 2, 2), (2, 3, 2, 2), (12, 11, 2)):
            for samples in (1, 2):
                notation = Notation(style, widths, samples)
                depth = len(widths) - 1
                s = 1 if samples > 1 else None
                found += [notation.input(k, s) for k in range(widths[0])]
                found += [notation.target(k, s) for k in range(widths[-1])]
                found += [notation.loss_term(k, s) for k in range(widths[-1])]
                found += [notation.loss(s), notation.total_loss(), notation.learning_rate()]
                for l in range(depth):
                    for j in range(widths[l + 1]):
                        found += [notation.pre_activation(l, j, s), notation.activation(l, j, s)]
        for naming in ("flat", "layer"):
            for widths in ((1, 1), (2, 3), (2, 2, 1), (12, 11, 2)):
                depth = len(widths) - 1
                for shared in (True, False):
                    found += parameter_names(naming, widths, (shared,) * depth,
                                             (True,) * depth).values()
    return list({name.plain: name for name in found}.values())


def _alphanumerics(text: str, words: tuple[str, ...]) -> list[str]:
    for word in words:
        text = re.sub(word, " ", text)
    return sorted(ch for ch in text if ch.isalnum())


def test_every_notation_name_compiles_and_matches_its_latex_name():
    names = _names()
    assert len(names) > 200
    for name in names:
        # the same letters and indices, in any markup
        assert _alphanumerics(name.latex, (r"\\[a-z]+",)) == _alphanumerics(
            name.typst, (r"italic", r"hat", r"bold", r"\"", r"\beta\b")), name
    assert compile_math(*(name.typst for name in names)).startswith(b"%PDF")


def test_matrix_form_names_compile():
    mapping = {"x": [0.1] * 8, "y": [1.0], "loss": "mse", "learning_rate": 0.1,
               "max_listed_parameters": 5, "notation": "layer",
               "layers": [{"activation": "relu", "weights": [[0.1] * 8] * 2, "bias": 0.1},
                          {"activation": "softmax", "weights": [[0.2, 0.1], [0.3, -0.1]],
                           "bias": [0.1, 0.2]}]}
    mapping["y"] = [1.0, 0.0]
    mapping["loss"] = "cce"
    solution = derive.solve(derive.parse_problem(mapping))
    notation = solution.derivation.network.notation
    vectors = [s for s in notation.typst if not s.is_commutative]
    assert len(vectors) >= 10
    assert compile_math(*(notation.typst[s] for s in vectors))


HOSTILE = ['Exam #1: 100% of $5 & a_b {c} \\ ^ ~ "quoted"', '#read("/etc/passwd")',
           '#import "@preview/cetz:0.3.0": *', "*bold* _emph_ `raw` <label> @ref = heading",
           "line\nbreak\ttab"]


@pytest.mark.parametrize("text", HOSTILE)
def test_user_text_is_a_string_literal_shown_verbatim(text, tmp_path):
    from pypdf import PdfReader

    (tmp_path / "doc.typ").write_text(f"{typst_text(text)} and #text({typst_string(text)})\n")
    pdf = typst.compile(str(tmp_path / "doc.typ"), root=str(tmp_path), format="pdf",
                        ignore_system_fonts=True)
    (tmp_path / "doc.pdf").write_bytes(pdf)
    shown = PdfReader(tmp_path / "doc.pdf").pages[0].extract_text()
    visible = text.replace("\n", " ").replace("\t", " ")
    for word in visible.split():
        assert word in shown
    assert "root:" not in shown


def test_typst_string_escapes():
    assert typst_string('a"b\\c\nd') == '"a\\"b\\\\c\\nd"'
    assert typst_text("#x") == '#"#x";'


def test_shipped_solutions_print_every_step():
    for path in sorted(PROBLEMS.glob("*.yaml")):
        problem = derive.load_problem(path)
        if getattr(problem, "kind", "network") != "network":
            continue
        solution = derive.solve(problem)
        network = solution.derivation.network
        printer = TypstPrinter({"symbol_names": network.notation.typst})
        for step in solution.derivation.steps:
            for form in (step.lhs, step.formula, step.substituted):
                assert printer.doprint(form)


def test_minus_a_negative_number_is_bracketed():
    import sympy as sp

    from derive.catalog import ACTIVATIONS
    from derive.forms import Shown, substitute
    from derive.typst import TypstPrinter

    z = sp.Symbol("z")
    sigmoid = ACTIVATIONS["sigmoid"].shown(z, 0)
    printer = TypstPrinter({"digits": 4})
    assert printer.doprint(substitute(sigmoid, {z: Shown(-0.15)})) == "frac(1, 1 + e^(-(-0.15)))"
    assert printer.doprint(substitute(sigmoid, {z: Shown(0.15)})) == "frac(1, 1 + e^(-0.15))"
