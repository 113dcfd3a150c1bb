"""Rendering: step records → LaTeX strings → Jinja2 templates (Markdown, LaTeX), JSON.

``render.py`` prints every SymPy expression with :class:`~derive.latex.DerivePrinter`
and hands the templates plain strings arranged as views; the templates only lay
them out. LaTeX templates use LaTeX-safe delimiters (``((* *))`` for blocks,
``((( )))`` for variables) so that TeX braces never clash with Jinja's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import jinja2

from . import __version__
from .errors import RenderError
from .forms import Shown
from .latex import DerivePrinter, escape_latex, format_given, format_number
from .steps import LayerStatement

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
    """One equation chain as LaTeX: ``lhs = rhs[0] = rhs[1] = …``."""

    kind: str
    lhs: str
    rhs: tuple[str, ...]
    reused: tuple[str, ...]


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


@dataclass(frozen=True)
class Row:
    """A row of a table: a symbol (LaTeX) and a value (text)."""

    symbol: str
    value: str


def _equation(step, printer: DerivePrinter) -> EquationView:
    if isinstance(step, LayerStatement):
        return EquationView(step.kind, printer.doprint(step.lhs),
                            (printer.doprint(step.formula),), ())
    value = printer.doprint(_shown(step.value))
    rhs: list[str] = []
    for form in (step.formula, step.substituted):
        text = printer.doprint(form)
        if text not in rhs and text != value:
            rhs.append(text)
    rhs.append(value)
    lhs = printer.doprint(step.lhs)
    if rhs[0] == lhs:  # a given value: lhs = value
        rhs = rhs[1:]
    reused = tuple(printer.doprint(expr) for expr in getattr(step, "reused", ()))
    return EquationView(step.kind, lhs, tuple(rhs), reused)


def _shown(value: float) -> Shown:
    return Shown(value)


def build_view(solution) -> dict:
    """Everything the templates need, as strings and small records."""
    derivation = solution.derivation
    network = derivation.network
    problem = solution.problem
    printer = DerivePrinter({"symbol_names": network.notation.latex, "digits": problem.digits,
                             "rounding": problem.rounding})
    sections = []
    for section in derivation.sections:
        blocks = tuple(
            BlockView(None if block.subject is None else printer.doprint(block.subject),
                      tuple(_equation(step, printer) for step in block.steps))
            for block in section.blocks)
        sections.append(SectionView(
            section.part,
            None if section.layer is None else section.layer + 1,
            section.layer == network.depth - 1,
            None if section.sample is None or network.samples == 1 else section.sample + 1,
            blocks))

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
    number = lambda v: f"{v:.1e}" if v else "0"  # noqa: E731
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
        "check": check,
        "loss_symbol": printer.doprint(network.symbol("loss")),
        "loss_value": format_number(derivation.values.loss, digits=problem.digits,
                                    rounding=problem.rounding),
    }


@lru_cache(maxsize=8)
def _environment(folder: str, fmt: str) -> jinja2.Environment:
    options = dict(loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined,
                   keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
                   autoescape=False)
    if fmt == "tex":
        options.update(block_start_string="((*", block_end_string="*))",
                       variable_start_string="(((", variable_end_string=")))",
                       comment_start_string="((=", comment_end_string="=))")
    environment = jinja2.Environment(**options)
    environment.filters["escape_latex"] = escape_latex
    environment.filters["escape_markdown"] = escape_markdown
    return environment


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
        template = _environment(str(folder), fmt).get_template(TEMPLATE_FILES[fmt])
        return template.render(**build_view(solution))
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
    # Pretty-printed for slide-sized networks; compact (and fast) for large ones.
    indent = 2 if derivation.listed else None
    return json.dumps(document, indent=indent, ensure_ascii=False) + "\n"
