"""Names of quantities and parameters, in the notation a problem chooses.

A notation only names things: each quantity gets a SymPy symbol with a plain name
(used in JSON and error messages), a LaTeX name and a Typst name (given to the
printers as their ``symbol_names`` setting). Three styles follow the seeds:

* ``mazur``: inputs ``i1``, hidden ``net_h1``/``out_h1``, outputs ``net_o1``/``out_o1``,
  targets ``target_o1``, loss ``E_total`` with terms ``E_o1`` (seed 001).
* ``layer``: ``x_k``, ``z^{[l]}_j``, ``a^{[l]}_j``, targets ``y_j``, loss ``L`` (seed 003);
  indices that are always 1 are dropped, so a single neuron reads ``z``, ``a``.
* ``zhou``: ``x_k``, hidden outputs ``h_j`` (pre-activations ``z_{h_j}``), output
  ``ŷ`` (``z_o``), target ``y``, loss ``L`` (seed 004).

For SVG pictures, :func:`svg_runs` reads a name's LaTeX form (or a label printed from
names and numbers, ``w_{1} = 0.15``) as runs of text on a baseline or in a script.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace

import sympy as sp

from .errors import RenderError


@dataclass(frozen=True)
class Name:
    plain: str
    latex: str
    typst: str

    @property
    def svg(self) -> tuple[Run, ...]:
        """The name as runs of SVG text (see :func:`svg_runs`)."""
        return svg_runs(self.latex)


def _sub(*parts: object) -> str:
    return ",".join(str(p) for p in parts)


def typst_word(text: str) -> str:
    """A word of a name in Typst math, italic like LaTeX's: ``h1`` → ``h 1``, ``net`` →
    ``italic("net")`` (Typst reads ``h1`` or ``net`` as the name of a variable)."""
    parts = re.findall(r"[A-Za-z]+|[0-9]+|,", text)
    return " ".join(f'italic("{p}")' if p.isalpha() and len(p) > 1 else p for p in parts)


def typst_over(typst: str, superscript: str) -> str:
    """``{name}^{sup}`` in Typst: the name as one piece, so its own scripts stay put."""
    return f"#${typst}$^({superscript})"


@dataclass
class Notation:
    """Makes the symbols of one problem and remembers their LaTeX and Typst names.

    Args:
        style: ``mazur``, ``layer`` or ``zhou``.
        widths: input width, then the width of each layer.
        samples: the number of samples (a superscript ``(s)`` appears when > 1).
    """

    style: str
    widths: tuple[int, ...]
    samples: int = 1
    latex: dict[sp.Symbol, str] = field(default_factory=dict)
    typst: dict[sp.Symbol, str] = field(default_factory=dict)

    def symbol(self, name: Name) -> sp.Symbol:
        symbol = sp.Symbol(name.plain)
        self.latex[symbol] = name.latex
        self.typst[symbol] = name.typst
        return symbol

    # -- helpers -------------------------------------------------------------
    @property
    def depth(self) -> int:
        return len(self.widths) - 1

    def _sample(self, name: Name, s: int | None) -> Name:
        if s is None or self.samples == 1:
            return name
        return Name(f"{name.plain}({s + 1})", f"{{{name.latex}}}^{{({s + 1})}}",
                    typst_over(name.typst, f"({s + 1})"))

    def _mazur_label(self, l: int, j: int) -> str:
        if l == self.depth - 1:
            return f"o{j + 1}"
        return f"h{j + 1}" if self.depth == 2 else f"h{l + 1},{j + 1}"

    def _layer_indexed(self, letter: str, l: int, j: int) -> Name:
        layer = f"^{{[{l + 1}]}}" if self.depth > 1 else ""
        index = f"_{{{j + 1}}}" if self.widths[l + 1] > 1 else ""
        plain = letter + (f"{l + 1}" if self.depth > 1 else "") + (
            f"_{j + 1}" if self.widths[l + 1] > 1 else "")
        typst = letter + (f"^([{l + 1}])" if self.depth > 1 else "") + (
            f"_({j + 1})" if self.widths[l + 1] > 1 else "")
        return Name(plain, f"{letter}{layer}{index}", typst)

    def _zhou_label(self, l: int, j: int) -> Name:
        if l == self.depth - 1:
            if self.widths[-1] == 1:
                return Name("y_pred", r"\hat{y}", "hat(y)")
            return Name(f"y_pred{j + 1}", rf"\hat{{y}}_{{{j + 1}}}", f"hat(y)_({j + 1})")
        if self.depth == 2:
            return Name(f"h{j + 1}", f"h_{{{j + 1}}}", f"h_({j + 1})")
        return Name(f"h{l + 1}_{j + 1}", f"h^{{[{l + 1}]}}_{{{j + 1}}}",
                    f"h^([{l + 1}])_({j + 1})")

    # -- quantities ------------------------------------------------------------
    def input(self, k: int, s: int | None = None) -> Name:
        if self.style == "mazur":
            name = Name(f"i{k + 1}", f"i_{{{k + 1}}}", f"i_({k + 1})")
        elif self.widths[0] == 1:
            name = Name("x", "x", "x")
        else:
            name = Name(f"x{k + 1}", f"x_{{{k + 1}}}", f"x_({k + 1})")
        return self._sample(name, s)

    def pre_activation(self, l: int, j: int, s: int | None = None) -> Name:
        if self.style == "mazur":
            label = self._mazur_label(l, j)
            name = Name(f"net_{label}", f"net_{{{label}}}",
                        f'italic("net")_({typst_word(label)})')
        elif self.style == "zhou":
            label = "o" if l == self.depth - 1 else "h"
            index = _sub(*([l + 1] if self.depth > 2 and label == "h" else []), j + 1)
            if label == "o" and self.widths[-1] == 1:
                name = Name("z_o", "z_{o}", "z_(o)")
            else:
                name = Name(f"z_{label}{index}", f"z_{{{label}_{{{index}}}}}",
                            f"z_({label}_({index}))")
        else:
            name = self._layer_indexed("z", l, j)
        return self._sample(name, s)

    def activation(self, l: int, j: int, s: int | None = None) -> Name:
        if self.style == "mazur":
            label = self._mazur_label(l, j)
            name = Name(f"out_{label}", f"out_{{{label}}}",
                        f'italic("out")_({typst_word(label)})')
        elif self.style == "zhou":
            name = self._zhou_label(l, j)
        else:
            name = self._layer_indexed("a", l, j)
        return self._sample(name, s)

    def target(self, k: int, s: int | None = None) -> Name:
        if self.style == "mazur":
            label = self._mazur_label(self.depth - 1, k)
            name = Name(f"target_{label}", f"target_{{{label}}}",
                        f'italic("target")_({typst_word(label)})')
        elif self.widths[-1] == 1:
            name = Name("y", "y", "y")
        else:
            name = Name(f"y{k + 1}", f"y_{{{k + 1}}}", f"y_({k + 1})")
        return self._sample(name, s)

    def loss(self, s: int | None = None) -> Name:
        name = (Name("E_total", "E_{total}", 'E_(italic("total"))') if self.style == "mazur"
                else Name("L", "L", "L"))
        return self._sample(name, s)

    def loss_term(self, k: int, s: int | None = None) -> Name:
        """The loss of output k; the sample's loss itself when there is one output."""
        if self.widths[-1] == 1:
            return self.loss(s)
        if self.style == "mazur":
            label = self._mazur_label(self.depth - 1, k)
            name = Name(f"E_{label}", f"E_{{{label}}}", f"E_({typst_word(label)})")
        else:
            name = Name(f"L_{k + 1}", f"L_{{{k + 1}}}", f"L_({k + 1})")
        return self._sample(name, s)

    def total_loss(self) -> Name:
        return self.loss(None)

    def learning_rate(self) -> Name:
        return Name("eta", r"\eta", "eta")


def _pair(j: int, k: int) -> str:
    """Two 0-based indices as a 1-based subscript: ``12``, or ``10,2`` past 9."""
    return f"{j + 1}{k + 1}" if j < 9 and k < 9 else f"{j + 1},{k + 1}"


def parameter_names(style: str, widths: tuple[int, ...],
                    shared: tuple[bool, ...], has_bias: tuple[bool, ...]) -> dict[tuple, Name]:
    """Name every parameter, keyed by its structural id.

    Ids are ``("W", l, j, k)`` for the weight from input ``k`` to neuron ``j`` of layer
    ``l``, ``("b", l, j)`` for a neuron's own bias and ``("b", l)`` for a bias shared by
    layer ``l``. ``flat`` numbers weights and biases in the slides' order (layer by
    layer, neuron by neuron, input by input: w1 … w8, b1, b2); ``layer`` writes
    ``W^{[l]}_{jk}`` and ``b^{[l]}_j``.
    """
    depth = len(widths) - 1
    weights = [("W", l, j, k) for l in range(depth)
               for j in range(widths[l + 1]) for k in range(widths[l])]
    biases = []
    for l in range(depth):
        if not has_bias[l]:
            continue
        biases += [("b", l)] if shared[l] else [("b", l, j) for j in range(widths[l + 1])]
    names: dict[tuple, Name] = {}
    if style == "flat":
        for letter, ids in (("w", weights), ("b", biases)):
            for n, pid in enumerate(ids, start=1):
                names[pid] = (Name(letter, letter, letter) if len(ids) == 1
                              else Name(f"{letter}{n}", f"{letter}_{{{n}}}", f"{letter}_({n})"))
        return names
    for pid in weights:
        _, l, j, k = pid
        if depth == 1 and widths[1] == 1:
            names[pid] = Name(f"w{k + 1}", f"w_{{{k + 1}}}", f"w_({k + 1})")
        elif depth == 1:
            names[pid] = Name(f"W[{j + 1},{k + 1}]", f"W_{{{_pair(j, k)}}}",
                              f"W_({_pair(j, k)})")
        else:
            names[pid] = Name(f"W{l + 1}[{j + 1},{k + 1}]",
                              f"W^{{[{l + 1}]}}_{{{_pair(j, k)}}}",
                              f"W^([{l + 1}])_({_pair(j, k)})")
    for pid in biases:
        l = pid[1]
        layer = f"^{{[{l + 1}]}}" if depth > 1 else ""
        typst_layer = f"^([{l + 1}])" if depth > 1 else ""
        plain_layer = f"{l + 1}" if depth > 1 else ""
        if len(pid) == 2 or widths[l + 1] == 1:
            names[pid] = Name(f"b{plain_layer}", f"b{layer}", f"b{typst_layer}")
        else:
            j = pid[2]
            names[pid] = Name(f"b{plain_layer}[{j + 1}]", f"b{layer}_{{{j + 1}}}",
                              f"b{typst_layer}_({j + 1})")
    return names


# -- the SVG form: a label's LaTeX read as runs of text ------------------------------------
@dataclass(frozen=True)
class Run:
    r"""Characters of a label drawn in one font at one place.

    Attributes:
        text: the characters, as Unicode (``η``, ``ŷ``, ``−``).
        scripts: where they sit, from the outside in: ``()`` on the baseline,
            ``("sub",)`` in a subscript, ``("sub", "sub")`` in a subscript's subscript.
        italic: letters of a name, as TeX sets them in mathematics.
        bold: a vector (``\mathbf{a}``) or matrix.
        stacked: the first run of a superscript drawn above the subscript just before it
            (both scripts of one base, ``a^{[1]}_{1}``), rather than after it.
    """

    text: str
    scripts: tuple[str, ...] = ()
    italic: bool = False
    bold: bool = False
    stacked: bool = False


GREEK = dict(zip(
    ("alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
     "lambda", "mu", "nu", "xi", "omicron", "pi", "rho", "varsigma", "sigma", "tau",
     "upsilon", "phi", "chi", "psi", "omega"), "αβγδεζηθικλμνξοπρςστυφχψω", strict=True))
_COMMANDS = {"cdot": "·", "top": "⊤"}


def svg_runs(latex: str) -> tuple[Run, ...]:
    r"""A label's LaTeX as runs of text, for the closed set the notations and numbers print.

    Reads letters, digits and signs, groups ``{…}``, scripts ``_`` and ``^`` (one token
    or a group; nested), ``\hat{…}``, ``\mathbf{…}``, ``\boldsymbol{…}``, lowercase
    Greek letters, ``\cdot`` and ``\top``. When one base has both scripts, the subscript
    comes first and the superscript is ``stacked`` above it. ``-`` becomes a minus sign.
    Neighbouring runs in one font and place are joined, spaces collapsed, ends trimmed.

    Raises:
        RenderError: anything else (another command, an unbalanced brace).
    """
    reader = _Reader(latex)
    runs = reader.group(_Font())
    if reader.at("}"):
        reader.fail("unbalanced '}'")
    out: list[Run] = []
    for run in runs:
        last = out[-1] if out else None
        if last is not None and not run.stacked and (run.scripts, run.italic, run.bold) == (
                last.scripts, last.italic, last.bold):
            out[-1] = replace(last, text=re.sub(" +", " ", last.text + run.text))
        else:
            out.append(run)
    if out:
        out[0] = replace(out[0], text=out[0].text.lstrip())
        out[-1] = replace(out[-1], text=out[-1].text.rstrip())
    return tuple(run for run in out if run.text)


@dataclass(frozen=True)
class _Font:
    scripts: tuple[str, ...] = ()
    bold: bool = False
    upright: bool = False   # letters too (\mathbf)

    def run(self, text: str, *, letter: bool = False) -> Run:
        return Run(text, self.scripts, letter and not self.upright, self.bold)


class _Reader:
    """Reads the tokens of a label one group or atom at a time (see :func:`svg_runs`)."""

    TOKEN = re.compile(r"\\[A-Za-z]+|\\.|\s+|.", re.DOTALL)

    def __init__(self, latex: str):
        self.latex = latex
        self.tokens = self.TOKEN.findall(latex)
        self.i = 0

    def fail(self, problem: str):
        raise RenderError(f"cannot draw {self.latex!r} as SVG text: {problem}")

    def at(self, *tokens: str) -> bool:
        return self.i < len(self.tokens) and self.tokens[self.i] in tokens

    def group(self, font: _Font) -> list[Run]:
        """Atoms and their scripts up to the closing brace of a group (or the end)."""
        runs: list[Run] = []
        while self.i < len(self.tokens) and not self.at("}"):
            if self.at("_", "^"):
                self.fail("a script without a base")
            runs += self.atom(font)
            scripts: dict[str, list[Run]] = {}
            while self.at("_", "^"):
                kind = "sub" if self.tokens[self.i] == "_" else "sup"
                if kind in scripts:
                    self.fail(f"a double {kind}script")
                self.i += 1
                scripts[kind] = self.atom(replace(font, scripts=(*font.scripts, kind)))
            above = scripts.get("sup", [])
            if above and "sub" in scripts:
                above[0] = replace(above[0], stacked=True)
            runs += scripts.get("sub", []) + above
        return runs

    def atom(self, font: _Font) -> list[Run]:
        """One token, group or command (with its argument)."""
        if self.i >= len(self.tokens):
            self.fail("it ends too soon")
        token = self.tokens[self.i]
        self.i += 1
        if token == "{":
            runs = self.group(font)
            if not self.at("}"):
                self.fail("unbalanced '{'")
            self.i += 1
            return runs
        command = token[1:] if token.startswith("\\") and token[1:].isalpha() else None
        if command == "hat":
            runs = self.atom(font)
            if not runs:
                self.fail(r"\hat of nothing")
            first = runs[0]
            text = unicodedata.normalize("NFC", first.text[0] + "\u0302" + first.text[1:])
            return [replace(first, text=text), *runs[1:]]
        if command in ("mathbf", "boldsymbol"):
            return self.atom(replace(font, bold=True, upright=command == "mathbf"))
        if command in GREEK:
            return [font.run(GREEK[command], letter=True)]
        if command in _COMMANDS:
            return [font.run(f" {_COMMANDS[command]} ")]
        if command is not None:
            self.fail(f"unknown command {token}")
        if token.startswith("\\") or token == "}":
            self.fail(f"unexpected {token!r}")
        if token.isspace():
            return [font.run(" ")]
        return [font.run("\u2212" if token == "-" else token, letter=token.isalpha())]
