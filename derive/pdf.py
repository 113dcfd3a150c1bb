"""Print-ready PDFs: exams (question sheets) and answer keys, with LaTeX or Typst.

The pipeline, one stage per function:

1. :func:`question_view` — each solution becomes a question: its statement (a
   network's or graph's diagram, the given values, what to compute) and, for the
   answer key, its worked solution; a problem kind (network, graph, descent) registers
   its view builder in :data:`QUESTION_VIEWS` and its body template
   ``exam_<kind>.<tex|typ>.j2``;
2. :func:`write_source` — the templates ``exam.tex.j2`` / ``exam.typ.j2`` render the
   document into a temporary folder, with the plots it includes;
3. :func:`compile_latex` (latexmk or pdflatex, never with shell escape, files read
   only inside the folder) or :func:`compile_typst` (the ``typst`` package, project
   root the folder, no system fonts, no packages) — a failure raises
   :class:`CompileError` with the relevant lines of the engine's log;
4. :func:`build_pdf` writes the PDF into the output folder atomically.

:func:`choose_engine` picks LaTeX when latexmk/pdflatex and the exam class are
installed, Typst otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date as Date
from pathlib import Path
from typing import Annotated

import jinja2
from msgspec import Meta

from .errors import DeriveError, RenderError
from .validation import Record, convert, read_yaml

ENGINES = ("latex", "typst")
DEFAULT_POINTS = 10
LINE_WIDTH = 62          # digit widths available to the right of "lhs =" in a solution
DEBIAN_PACKAGES = ("texlive-latex-base", "texlive-latex-recommended", "texlive-latex-extra",
                   "texlive-pictures", "latexmk")


class CompileError(DeriveError):
    """The TeX engine or Typst failed; the message holds the relevant log lines.

    Args:
        engine: ``latex`` or ``typst``.
        excerpt: the lines of the log that say what went wrong.
    """

    def __init__(self, engine: str, excerpt: str):
        self.engine = engine
        self.excerpt = excerpt
        super().__init__(f"{engine} could not compile the document:\n{excerpt}")


class EngineMissing(DeriveError):
    """The engine asked for is not installed; the message says what to install."""


# -- settings -------------------------------------------------------------------------
class ExamConfig(Record):
    """The small config file of ``derive pdf --config``: every key optional.

    ``points`` is one number for every question, or one per problem file.
    """

    title: str | None = None
    course: str = ""
    date: str = ""  # YAML reads 2026-11-22 as a date: load_config writes it back as text
    points: Annotated[int, Meta(ge=0)] | tuple[Annotated[int, Meta(ge=0)], ...] = \
        DEFAULT_POINTS


def load_config(path: str | Path) -> ExamConfig:
    """Read a YAML config file (``title``, ``course``, ``date``, ``points``).

    Raises:
        ProblemError: naming the file and the field, as for problem files.
    """
    mapping = read_yaml(path)
    mapping = {} if mapping is None else mapping
    if isinstance(mapping, dict) and isinstance(mapping.get("date"), Date):
        mapping = {**mapping, "date": mapping["date"].isoformat()}
    return convert(mapping, ExamConfig, str(path))


@dataclass(frozen=True)
class Exam:
    """What one PDF holds.

    Attributes:
        title, course, date: user text for the title block and headers (escaped).
        points: per question, in the order of the solutions.
        answers: the answer key (worked solutions) rather than the question sheet.
        plots: an appendix of activation plots.
    """

    title: str
    course: str = ""
    date: str = ""
    points: tuple[int, ...] = ()
    answers: bool = False
    plots: bool = False


# -- 1. questions ---------------------------------------------------------------------
@dataclass(frozen=True)
class PlotFile:
    file: str
    title: str
    data: bytes = field(repr=False, default=b"")


def network_question(solution, *, engine: str, exam: Exam, number: int) -> dict:
    """The statement and (for answer keys) the worked solution of a network problem."""
    from . import figures, render
    from .forms import Partial

    syntax = "typ" if engine == "typst" else "tex"
    view = render.build_view(solution, engine=syntax, line_width=LINE_WIDTH)
    printer = render.solution_printer(solution, syntax)
    derivation = solution.derivation
    net = derivation.network
    loss = net.symbol("loss")

    forward = [printer.doprint(step.lhs) for section in derivation.sections
               if section.part == "forward" and section.sample in (None, 0)
               for block in section.blocks for step in block.steps if step.key[0] == "a"]
    updates = [block for section in derivation.sections if section.part == "update"
               for block in section.blocks]
    gradients = [printer.doprint(Partial(loss, block.subject)) for block in updates] or [
        printer.doprint(Partial(loss, net.param_symbol(pid))) for pid in net.parameters]
    tasks = {"forward": forward, "loss": printer.doprint(loss), "gradients": gradients,
             "parameters": [printer.doprint(block.subject) for block in updates] or [
                 printer.doprint(net.param_symbol(pid)) for pid in net.parameters],
             "updated": [printer.doprint(block.steps[0].lhs) for block in updates]}

    draw = figures.diagram_view
    paths = None
    if any(section.paths_figure for section in view["sections"]):
        paths = dict(view["paths"], diagram=draw(figures.network_diagram(
            solution, values=False, paths_to=render.PATHS_TO), printer))

    plots = []
    if exam.plots:
        fmt = "pdf" if engine == "latex" else "svg"
        for plot in figures.activation_plots(solution):
            plots.append(PlotFile(f"plot-{number}-{plot.name}.{fmt}", plot.title,
                                  figures.activation_plot(solution, plot, marked=exam.answers,
                                                          fmt=fmt)))
    rows = len(view["data_rows"]) + len(view["parameter_rows"])
    return {"kind": "network", "view": view, "tasks": tasks, "paths": paths,
            "diagram": draw(figures.network_diagram(solution), printer),
            "given_columns": 1 if rows <= 3 else (3 if rows <= 12 else 4),
            "plots": plots, "files": []}


def graph_question(solution, *, engine: str, exam: Exam, number: int) -> dict:
    """The statement and (for answer keys) the worked solution of a computational graph.

    The question sheet's picture shows the graph alone; the answer key's adds each node's
    value and gradient. LaTeX draws it with TikZ, Typst shows it as an SVG file.
    """
    syntax = "typ" if engine == "typst" else "tex"
    figure = f"graph-{number}.svg"
    picture = solution.picture(numbers=exam.answers)
    files = ([PlotFile(figure, "", solution.svg(picture).encode("utf-8"))]
             if engine == "typst" else [])
    return {"kind": "graph", "view": solution.view(solution.default_stem, engine=syntax),
            "picture": picture, "figure": figure, "plots": [], "files": files}


def descent_question(solution, *, engine: str, exam: Exam, number: int) -> dict:
    """The statement and (for answer keys) the worked steps of a gradient descent."""
    syntax = "typ" if engine == "typst" else "tex"
    return {"kind": "descent", "view": solution.view(solution.default_stem, engine=syntax),
            "plots": [], "files": []}


QUESTION_VIEWS: dict[str, Callable[..., dict]] = {"network": network_question,
                                                  "graph": graph_question,
                                                  "descent": descent_question}


def question_view(solution, *, engine: str, exam: Exam, number: int) -> dict:
    """The view of one question; ``number`` and ``points`` are added here."""
    kind = getattr(solution.problem, "kind", "network")
    if kind not in QUESTION_VIEWS:
        *others, last = QUESTION_VIEWS
        raise RenderError(f"problems of kind {kind!r} cannot be printed as exam questions yet; "
                          f"{', '.join(others)} and {last} problems can")
    view = QUESTION_VIEWS[kind](solution, engine=engine, exam=exam, number=number)
    view.update(number=number, title=solution.problem.title,
                points=exam.points[number - 1] if exam.points else DEFAULT_POINTS)
    return view


# -- 2. the source ------------------------------------------------------------------------
def render_source(solutions, exam: Exam, *, engine: str,
                  template_dir: str | Path | None = None) -> tuple[str, list[PlotFile]]:
    """The document's source text and the files it includes (plots, pictures)."""
    from . import render

    folder = Path(template_dir) if template_dir is not None else render.default_template_dir()
    syntax = "typ" if engine == "typst" else "tex"
    questions = [question_view(solution, engine=engine, exam=exam, number=n)
                 for n, solution in enumerate(solutions, start=1)]
    name = f"exam.{syntax}.j2"
    try:
        template = render.environment(str(folder), syntax).get_template(name)
        text = template.render(title=exam.title, course=exam.course, date=exam.date,
                               answers=exam.answers, plots=exam.plots, questions=questions)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"{folder}: template {exc.name} not found") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"{folder}/{name}: {exc}") from None
    return text, [file for question in questions
                  for file in (*question["plots"], *question["files"])]


def write_source(solutions, exam: Exam, folder: Path, *, engine: str,
                 template_dir: str | Path | None = None) -> Path:
    """Write the document and its plots into ``folder``; returns the main file."""
    text, plots = render_source(solutions, exam, engine=engine, template_dir=template_dir)
    main = folder / ("exam.tex" if engine == "latex" else "exam.typ")
    main.write_text(text, encoding="utf-8")
    for plot in plots:
        (folder / plot.file).write_bytes(plot.data)
    return main


# -- 3. engines -----------------------------------------------------------------------------
def latex_available() -> bool:
    """pdflatex and the exam class are installed."""
    if shutil.which("pdflatex") is None or shutil.which("kpsewhich") is None:
        return False
    found = subprocess.run(["kpsewhich", "exam.cls"], capture_output=True, text=True,
                           check=False)
    return found.returncode == 0 and bool(found.stdout.strip())


def choose_engine(requested: str | None = None) -> str:
    """``requested``, else LaTeX where it is installed, else Typst.

    Raises:
        EngineMissing: LaTeX was asked for but is not installed.
    """
    if requested == "typst":
        return "typst"
    if requested not in (None, "latex"):
        raise DeriveError(f"unknown engine {requested!r}; expected one of {', '.join(ENGINES)}")
    if latex_available():
        return "latex"
    if requested == "latex":
        raise EngineMissing(
            "LaTeX with the exam class is not installed; on Debian or Ubuntu: "
            f"apt-get install {' '.join(DEBIAN_PACKAGES)} (or use --engine typst)")
    return "typst"


def latex_errors(log: str, *, after: int = 4) -> str:
    """The ``!`` lines of a TeX log and a few lines after each (the context)."""
    lines = log.splitlines()
    picked: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("!") or re.match(r"^[^:\s]+\.tex:\d+: ", line):
            picked += lines[i:i + 1 + after]
            if len(picked) > 40:
                break
    return "\n".join(picked) if picked else "\n".join(lines[-15:])


_REFERENCES = re.compile(r"\\(?:ref|pageref|eqref|numpages|numquestions|numpoints|totalpoints|"
                         r"pointtable|gradetable|combinedgradetable|pointsonpage)\b")


def compile_latex(main: Path, *, timeout: float = 300) -> bytes:
    """Compile with pdflatex, without shell escape; again if the document refers to labels
    or totals and the log asks for it.

    (latexmk would decide the reruns too, but the exam class always asks for a second
    run on a fresh folder: twice the time for documents that do not need one.) TeX may
    read and write files only inside the document's folder and TeX's own tree
    (kpathsea's ``openin_any=p``/``openout_any=p``), so not even a crafted document
    could read ``/etc/passwd``.

    Raises:
        CompileError: with the ``!`` lines of the log and a few lines after each.
    """
    environment = dict(os.environ, openin_any="p", openout_any="p", shell_escape="f")
    source = main.read_text(encoding="utf-8", errors="replace")
    command = ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
               "-file-line-error", main.name]
    for _ in range(3):
        result = subprocess.run(command, cwd=main.parent, capture_output=True, text=True,
                                errors="replace", env=environment, timeout=timeout,
                                check=False)
        log_file = main.with_suffix(".log")
        log = log_file.read_text(errors="replace") if log_file.exists() else result.stdout
        if result.returncode != 0:
            raise CompileError("latex", latex_errors(log))
        # The shipped templates refer to nothing (no page or point totals), so one run
        # is enough: another only where a document refers to labels or totals and TeX
        # says they changed.
        if not _REFERENCES.search(source) or "Rerun to get" not in log:
            break
    return main.with_suffix(".pdf").read_bytes()


def _source_date() -> int | None:
    """``SOURCE_DATE_EPOCH`` for reproducible PDFs, else None (now)."""
    value = os.environ.get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else None


def compile_typst(main: Path) -> bytes:
    """Compile with the ``typst`` package: the document's folder is the project root (no
    file outside it can be read), embedded fonts only, no package downloads.

    Raises:
        CompileError: with Typst's message and where it points.
    """
    import typst

    packages = main.parent / ".no-packages"
    packages.mkdir(exist_ok=True)
    try:
        return typst.compile(str(main), root=str(main.parent), format="pdf",
                             ignore_system_fonts=True, sys_inputs={},
                             package_path=str(packages), package_cache_path=str(packages),
                             timestamp=_source_date())
    except typst.TypstError as exc:
        detail = [exc.message] + [f"hint: {hint}" for hint in exc.hints]
        if exc.diagnostic:
            detail.append(exc.diagnostic.strip())
        raise CompileError("typst", "\n".join(detail)) from None
    except RuntimeError as exc:  # older bindings raise a plain RuntimeError
        raise CompileError("typst", str(exc)) from None


# -- 4. the whole pipeline -------------------------------------------------------------------
def render_pdf(solutions, exam: Exam, *, engine: str | None = None,
               template_dir: str | Path | None = None) -> bytes:
    """The PDF of ``solutions`` as one exam, compiled in a temporary folder.

    Raises:
        EngineMissing, CompileError, RenderError.
    """
    engine = choose_engine(engine)
    with tempfile.TemporaryDirectory(prefix="derive-pdf-") as temporary:
        main = write_source(solutions, exam, Path(temporary), engine=engine,
                            template_dir=template_dir)
        return compile_latex(main) if engine == "latex" else compile_typst(main)


def build_pdf(solutions, exam: Exam, out_dir: str | Path, *, stem: str,
              engine: str | None = None, template_dir: str | Path | None = None) -> Path:
    """Compile and write ``out_dir/stem.pdf`` (``stem-answers.pdf`` for an answer key)
    atomically: a failure leaves no PDF behind.

    Returns:
        The path written.
    """
    from .solution import atomic_write_bytes, output_folder

    data = render_pdf(solutions, exam, engine=engine, template_dir=template_dir)
    folder = output_folder(out_dir)
    name = f"{stem}-answers.pdf" if exam.answers else f"{stem}.pdf"
    return atomic_write_bytes(folder / name, data)
