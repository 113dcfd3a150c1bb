"""Rendering: step records → LaTeX strings → Jinja2 templates (Markdown, LaTeX), JSON.

``render.py`` prints every SymPy expression with :class:`~derive.latex.DerivePrinter`
and hands the templates plain strings arranged as views; the templates only lay
them out. LaTeX templates use LaTeX-safe delimiters (``((* *))`` for blocks,
``((( )))`` for variables) so that TeX braces never clash with Jinja's.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import jinja2
import msgspec
import sympy as sp
from sympy.core.function import _coeff_isneg
from sympy.printing.precedence import PRECEDENCE

from . import __version__
from .errors import RenderError
from .forms import Partial, Shown, total
from .latex import DerivePrinter, escape_latex, format_given
from .steps import LayerStatement
from .typst import TypstPrinter, negated, typst_string, typst_text

FORMATS = ("md", "tex", "json")
TEMPLATE_FILES = {"md": "solution.md.j2", "tex": "solution.tex.j2"}

ACTIVATION_TITLES = {
    "sigmoid": "sigmoid", "tanh": "tanh", "relu": "ReLU", "leaky_relu": "leaky ReLU",
    "linear": "linear", "softmax": "softmax",
}
LOSS_TITLES = {
    "mse": "mean squared error", "sse": "sum of squared errors",
    "half_sse": "half sum of squared errors", "bce": "binary cross-entropy",
    "cce": "categorical cross-entropy",
}


def default_template_dir() -> Path:
    """``templates/`` inside an installed package, else the source tree's."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "templates", here.parent / "templates"):
        if (candidate / TEMPLATE_FILES["md"]).is_file():
            return candidate
    raise RenderError("the templates folder is missing from this installation")


@dataclass(frozen=True)
class EquationView:
    """One equation chain as LaTeX (or Typst): ``lhs = rhs[0] = rhs[1] = …``.

    ``lines`` holds each of ``rhs`` broken into lines where it is too long for a page
    (a sum split before a ``+`` or ``-``; every line after the first starts with it).
    """

    kind: str
    lhs: str
    rhs: tuple[str, ...]
    reused: tuple[str, ...]
    lines: tuple[tuple[str, ...], ...] = ()


@dataclass(frozen=True)
class BlockView:
    subject: str | None
    equations: tuple[EquationView, ...]


@dataclass(frozen=True)
class SectionView:
    part: str
    layer: int | None        # 1-based
    output_layer: bool
    sample: int | None       # 1-based, only for batches
    blocks: tuple[BlockView, ...]
    paths_figure: bool = False  # the diagram of the paths to the first weight goes here


@dataclass(frozen=True)
class Row:
    """A row of a table: a symbol (LaTeX) and a value (text)."""

    symbol: str
    value: str


def _equation(step, printer, line_width: float | None = None) -> EquationView:
    if isinstance(step, LayerStatement):
        text = printer.doprint(step.formula)
        return EquationView(step.kind, printer.doprint(step.lhs), (text,), (), ((text,),))
    value = printer.doprint(_shown(step.value))
    rhs: list[str] = []
    lines: list[tuple[str, ...]] = []
    for form in (step.formula, step.substituted):
        text = printer.doprint(form)
        if text not in rhs and text != value:
            rhs.append(text)
            room = None if line_width is None else line_width - estimated_width(step.lhs)
            lines.append(broken_sum(form, printer, room) if room else (text,))
    rhs.append(value)
    lines.append((value,))
    lhs = printer.doprint(step.lhs)
    if rhs[0] == lhs:  # a given value: lhs = value
        rhs, lines = rhs[1:], lines[1:]
    reused = tuple(printer.doprint(expr) for expr in getattr(step, "reused", ()))
    return EquationView(step.kind, lhs, tuple(rhs), reused, tuple(lines))


def estimated_width(expr: sp.Expr) -> float:
    """How wide ``expr`` prints, in widths of a digit: a structural estimate.

    Stacked fractions count their wider part; scripts count at 70 %.
    """
    if isinstance(expr, Shown):
        return len(format_given(round(expr.value, 6)))
    if isinstance(expr, Partial):
        return 1 + max(estimated_width(expr.num), estimated_width(expr.den))
    if expr.is_Symbol:
        head, _, scripts = expr.name.partition("_")
        return len(head) + 0.7 * len(scripts)
    if expr.is_Number:
        return len(str(expr))
    parts = [estimated_width(arg) for arg in expr.args]
    if expr.is_Add:
        return sum(parts) + 2.5 * (len(parts) - 1) + 2 * sum(a.is_Add for a in expr.args)
    if expr.is_Mul:
        if any(a.is_Pow and a.exp.is_negative for a in expr.args):
            return max(parts)  # a fraction
        return sum(parts) + 1.5 * (len(parts) - 1) + 2 * sum(a.is_Add for a in expr.args)
    if expr.is_Pow:
        return parts[0] + 0.7 * parts[1] + (2 if expr.base.is_Add else 0)
    return 3 + sum(parts) + 1.5 * (len(parts) - 1)  # a function: name and brackets


def broken_sum(expr: sp.Expr, printer, width: float) -> tuple[str, ...]:
    """A sum wider than ``width`` as lines: terms kept whole, each line but the first
    starting with its operator; anything else as one line."""
    if not expr.is_Add or estimated_width(expr) <= width:
        return (printer.doprint(expr),)
    chunks: list[list[sp.Expr]] = [[]]
    used = 0.0
    for term in expr.args:
        size = estimated_width(term) + 2.5
        if chunks[-1] and used + size > width:
            chunks.append([])
            used = 4.0  # the indent of a continued line
        chunks[-1].append(term)
        used += size
    lines = [printer.doprint(total(*chunks[0]))]
    for chunk in chunks[1:]:
        text = ""
        for term in chunk:
            if _coeff_isneg(term):
                text += "- "
                term = negated(term)
            else:
                text += "+ "
            bracket = term.is_Add or (isinstance(term, Shown) and term.value < 0)
            text += (printer.parenthesize(term, PRECEDENCE["Add"]) if bracket
                     else printer.doprint(term)) + " "
        lines.append(text.rstrip())
    return tuple(lines)


def _shown(value: float) -> Shown:
    return Shown(value)


LINE_WIDTH = 76  # digit widths of a line of solution.tex.j2's page (11 pt, 2.2 cm margins)
PATHS_TO = ("W", 0, 0, 0)  # the parameter whose paths to the loss are drawn: the first weight


def figure_files(solution) -> dict[str, str | None]:
    """The names of the SVG pictures beside the Markdown (see :func:`figure_svgs`).

    Named after their content (the drawing's view), so that solutions written into one
    folder never share a name unless they share the picture.
    """
    return {name: None if view is None else _figure_name(name, view)
            for name, view in solution.figure_views.items()}


def _figure_name(name: str, view) -> str:
    return f"{name}-{hashlib.sha256(repr(view).encode()).hexdigest()[:10]}.svg"


def figure_views(solution) -> dict:
    """The network, and the paths from the loss to the first weight (deep listed networks
    only, else None), as SVG views (kept by the solution: see ``Solution.figure_views``)."""
    from . import figures

    printer = solution_printer(solution, "tex")
    derivation = solution.derivation
    network = figures.network_diagram(solution)
    paths = (figures.network_diagram(solution, values=False, paths_to=PATHS_TO)
             if derivation.listed and derivation.network.depth > 1 else None)
    return {"network": figures.svg_view(network, printer),
            "paths": None if paths is None else figures.svg_view(paths, printer)}


def figure_svgs(solution) -> dict[str, bytes]:
    """File name → SVG of the pictures the Markdown shows, drawn by ``figures.svg.j2``.

    Raises:
        RenderError: the template is missing or broken, or a label cannot be drawn.
    """
    folder = (Path(solution.template_dir) if solution.template_dir is not None
              else default_template_dir())
    name = "figures.svg.j2"
    try:
        template = environment(str(folder), "svg").get_template(name)
        return {_figure_name(key, view): template.render(d=view).encode("utf-8")
                for key, view in solution.figure_views.items() if view is not None}
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"{folder}: template {exc.name} not found") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"{folder}/{name}: {exc}") from None


def solution_printer(solution, engine: str = "tex"):
    """The printer of a solution's mathematics for ``tex`` (LaTeX, also in Markdown)
    or ``typ`` (Typst), with its notation and digits."""
    network = solution.derivation.network
    problem = solution.problem
    if engine == "typ":
        return TypstPrinter({"symbol_names": network.notation.typst, "digits": problem.digits,
                             "rounding": problem.rounding})
    return DerivePrinter({"symbol_names": network.notation.latex, "digits": problem.digits,
                          "rounding": problem.rounding})


def build_view(solution, *, engine: str = "tex", line_width: float | None = None) -> dict:
    """Everything the templates need, as strings and small records.

    Args:
        engine: ``tex`` for LaTeX mathematics (Markdown and LaTeX), ``typ`` for Typst.
        line_width: break sums wider than this many digit widths (None: never).
    """
    derivation = solution.derivation
    network = derivation.network
    problem = solution.problem
    printer = solution_printer(solution, engine)
    sections = []
    for section in derivation.sections:
        blocks = tuple(
            BlockView(None if block.subject is None else printer.doprint(block.subject),
                      tuple(_equation(step, printer, line_width) for step in block.steps))
            for block in section.blocks)
        sections.append(SectionView(
            section.part,
            None if section.layer is None else section.layer + 1,
            section.layer == network.depth - 1,
            None if section.sample is None or network.samples == 1 else section.sample + 1,
            blocks))
    # The picture of the paths from the loss back to the first weight goes before the
    # first hidden layer's backward pass (the first sample's, in a batch).
    first_layer = next((i for i, section in enumerate(derivation.sections)
                        if section.part == "backward" and section.layer == 0), None)
    if derivation.listed and network.depth > 1 and first_layer is not None:
        sections[first_layer] = replace(sections[first_layer], paths_figure=True)

    data_rows = []
    for s in range(network.samples):
        for k in range(network.widths[0]):
            data_rows.append(Row(printer.doprint(network.symbol("x", s, k)),
                                 format_given(derivation.values.x[s, k])))
        for k in range(network.widths[-1]):
            data_rows.append(Row(printer.doprint(network.symbol("y", s, k)),
                                 format_given(derivation.values.y[s, k])))
    if not derivation.listed and len(data_rows) > 60:
        data_rows = []  # hundreds of inputs: the problem file has them
    parameter_rows = [Row(printer.doprint(network.param_symbol(pid)),
                          format_given(network.parameter_value(pid)))
                      for pid in network.parameters] if derivation.listed else []

    report = solution.report
    number = lambda v: f"{v:.1e}" if v else "0"
    check = {
        "numpy_compared": report.numpy.compared,
        "numpy_max_abs": number(report.numpy.max_abs),
        "numpy_max_abs_quantity": report.numpy.max_abs_quantity,
        "numpy_max_rel": number(report.numpy.max_rel),
        "fd_compared": report.finite_differences.compared,
        "fd_max_abs": number(report.finite_differences.max_abs),
        "fd_max_abs_quantity": report.finite_differences.max_abs_quantity,
        "fd_eps": number(report.eps),
        "fd_skipped": report.fd_skipped,
    }
    widths = network.widths
    return {
        "title": problem.title,
        "version": __version__,
        "architecture": "-".join(str(w) for w in widths),
        "activations": [ACTIVATION_TITLES[layer.activation] for layer in problem.layers],
        "loss_title": LOSS_TITLES[problem.loss],
        "log_base": problem.log_base,
        "reduction": problem.reduction,
        "samples": network.samples,
        "learning_rate": format_given(problem.learning_rate),
        "eta": printer.doprint(network.symbol("eta")),
        "update_biases": problem.update_biases,
        "parameter_count": len(network.parameters),
        "listed": derivation.listed,
        "data_rows": data_rows,
        "parameter_rows": parameter_rows,
        "sections": sections,
        "figures": figure_files(solution),
        "paths": {"loss": printer.doprint(network.symbol("loss_sample", 0)),
                  "parameter": printer.doprint(network.param_symbol(PATHS_TO))},
        "check": check,
        "loss_symbol": printer.doprint(network.symbol("loss")),
        "loss_value": printer.doprint(_shown(derivation.values.loss)),
    }


@lru_cache(maxsize=1)
def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Compiled templates kept between runs (keyed by their source's checksum), so a
    command does not compile the same templates every time; none if no cache folder
    can be made."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(root, "derive", f"jinja-{jinja2.__version__}")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError:
        return None
    return jinja2.FileSystemBytecodeCache(folder) if os.access(folder, os.W_OK) else None


@lru_cache(maxsize=8)
def environment(folder: str, fmt: str) -> jinja2.Environment:
    """The Jinja2 environment of a template folder for ``md``, ``tex`` or ``typ``."""
    options = dict(loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined,
                   keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                   autoescape=False)
    if fmt == "tex":
        options.update(block_start_string="((*", block_end_string="*))",
                       variable_start_string="(((", variable_end_string=")))",
                       comment_start_string="((=", comment_end_string="=))")
    env = jinja2.Environment(**options, bytecode_cache=_bytecode_cache())
    env.filters.update(escape_latex=escape_latex, escape_markdown=escape_markdown,
                       typst_string=typst_string, typst_text=typst_text)
    return env


def escape_markdown(text: str) -> str:
    """Escape user text for Markdown so that it renders as written."""
    return "".join("\\" + ch if ch in "\\`*_[]<>#|$" else ch for ch in str(text))


def render(solution, fmt: str, *, template_dir: str | Path | None = None) -> str:
    """Render a solution in one format (``md``, ``tex`` or ``json``).

    Raises:
        RenderError: unknown format, or a template missing or broken.
    """
    if fmt == "json":
        return to_json(solution)
    if fmt not in TEMPLATE_FILES:
        raise RenderError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    folder = Path(template_dir) if template_dir is not None else default_template_dir()
    try:
        template = environment(str(folder), fmt).get_template(TEMPLATE_FILES[fmt])
        return template.render(**solution.view)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"{folder}: template {exc.name} not found") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"{folder}/{TEMPLATE_FILES[fmt]}: {exc}") from None


def to_json(solution) -> str:
    """Every named quantity's value, plus ``loss``, ``gradients`` and ``updated``."""
    derivation = solution.derivation
    network = derivation.network
    names = {pid: name.plain for pid, name in network.param_names.items()}
    report = solution.report
    document = {
        "derive": __version__,
        "title": solution.problem.title,
        "loss": derivation.values.loss,
        "gradients": {names[pid]: v for pid, v in derivation.values.gradients.items()},
        "updated": {names[pid]: v for pid, v in derivation.values.updated.items()},
        "parameters": {names[pid]: network.parameter_value(pid) for pid in network.parameters},
        "quantities": {step.name: step.value for step in derivation.steps},
        "check": {
            "numpy_compared": report.numpy.compared,
            "numpy_max_abs": report.numpy.max_abs,
            "numpy_max_rel": report.numpy.max_rel,
            "finite_differences_compared": report.finite_differences.compared,
            "finite_differences_max_abs": report.finite_differences.max_abs,
            "finite_differences_eps": report.eps,
            "finite_differences_skipped": report.fd_skipped,
        },
    }
    # Pretty-printed for slide-sized networks; compact for large ones.
    return json_text(document, pretty=derivation.listed)


def json_text(document: dict, *, pretty: bool = True) -> str:
    """A JSON document as UTF-8 text; each float written with the fewest digits that read
    back as the same number. (msgspec's encoder: 15 times faster than the standard
    library's on the 25,000 gradients of a 784-32-10 network.)"""
    data = msgspec.json.encode(document, enc_hook=_plain)
    return (msgspec.json.format(data, indent=2) if pretty else data).decode("utf-8") + "\n"


def _plain(value):
    # A float subclass such as NumPy's float64, which msgspec does not take for a float.
    if isinstance(value, float):
        return float(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")
