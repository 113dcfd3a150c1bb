"""What the problem kinds other than ``network`` share: validation, views, rendering, writing.

Each kind module (:mod:`derive.graph_problem`, :mod:`derive.calculus`,
:mod:`derive.descent`, :mod:`derive.training`) reads the same way:

1. validate: :func:`validate` checks the problem file's mapping against the kind's
   record (a :class:`derive.validation.Record`: unknown keys refused) and turns the
   first error into one :class:`~derive.errors.ProblemError` naming the file, the field
   path and what was expected, worded as the core's (:mod:`derive.validation`);
2. solve: the kind's own derivation and independent check;
3. render: its solution subclasses :class:`KindSolution`, which lays out the kind's view
   with its templates (``templates/<name>.<md|tex>.j2``) in the core's Jinja2 environment
   (:func:`derive.render.environment`: strict, LaTeX-safe delimiters for ``tex``), or
   dumps its JSON document; step records become :class:`~derive.render.EquationView`
   by :func:`equation_view`;
4. write: every text (and every picture the Markdown shows) is rendered first, then each
   file is written atomically, so a failure leaves nothing half-written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import jinja2
import sympy as sp

from . import __version__, curves
from .errors import RenderError
from .forms import Shown
from .latex import DerivePrinter
from .render import EquationView, default_template_dir, environment, json_text
from .solution import Renderable, atomic_write, output_folder
from .steps import Step
from .validation import Record, convert

# --- the problem file ----------------------------------------------------------------------

class ProblemModel(Record, kw_only=True):
    """A problem record that knows the file it was read from (set by :func:`validate`)."""

    source: str = "<problem>"


def exact(value: float) -> sp.Rational:
    """A number from the problem file as the exact fraction it is written as (``0.1`` is
    1/10: the shortest decimal that reads back as the same float)."""
    return sp.Rational(repr(float(value)))


def validate(model: type[Record], mapping: Any, source: str) -> Any:
    """Validate a mapping into a record; a :class:`ProblemModel` also learns ``source``.

    Raises:
        ProblemError: naming ``source``, the field path and what was expected.
    """
    given = {"source": source} if issubclass(model, ProblemModel) else None
    return convert(mapping, model, source, given=given)


# --- views ---------------------------------------------------------------------------------

def equation_view(step: Step, printer: DerivePrinter) -> EquationView:
    """A step as ``lhs = formula = substituted = value``; a form is left out where it
    prints as a form before it, as the value or as the left-hand side."""
    lhs = printer.doprint(step.lhs)
    value = printer.doprint(Shown(step.value))
    rhs: list[str] = []
    for form in (step.formula, step.substituted):
        text = printer.doprint(form)
        if text not in rhs and text not in (value, lhs):
            rhs.append(text)
    return EquationView(step.kind, lhs, (*rhs, value), ())


def gap(value: float) -> str:
    """The largest gap a check found, as ``1.2e-15`` (or ``0``)."""
    return f"{value:.1e}" if value else "0"


# --- rendering and writing -------------------------------------------------------------------

class KindSolution(Renderable):
    """Rendering and writing shared by the solutions of every kind but ``network``.

    A subclass is a frozen dataclass with ``problem`` (whose ``source`` is the problem
    file) and ``template_dir``; it gives ``template`` (the name of its templates,
    ``templates/<template>.<md|tex>.j2``), :meth:`view`, :meth:`document` and, for
    pictures the Markdown shows beside it, :meth:`pictures`.
    """

    template: ClassVar[str]
    template_formats: ClassVar[tuple[str, ...]] = ("md", "tex")
    template_dir: Path | None

    @property
    def default_stem(self) -> str:
        """The stem ``derive solve`` gives a problem file's outputs; ``solution`` otherwise."""
        path = Path(self.problem.source)
        return path.stem if path.suffix in (".yaml", ".yml") else "solution"

    def view(self, stem: str) -> dict:
        """What the templates lay out; ``stem`` names the files written beside the text."""
        raise NotImplementedError

    def document(self) -> dict:
        """What the JSON holds."""
        raise NotImplementedError

    def pictures(self, stem: str) -> dict[str, str]:
        """File name → text of each picture the Markdown shows, written beside it."""
        return {}

    def render(self, fmt: str, *, stem: str | None = None) -> str:
        """The solution as ``md``, ``tex`` or ``json`` text.

        Args:
            stem: the name of the files written beside it (default: the problem file's).

        Raises:
            RenderError: unknown format, or a template missing or broken.
        """
        if fmt == "json":
            return json_text(self.document())
        if fmt not in self.template_formats:
            raise RenderError(f"unknown format {fmt!r}; expected one of md, tex, json")
        return self.render_template(f"{self.template}.{fmt}.j2", fmt,
                                    self.view(stem or self.default_stem))

    def render_template(self, name: str, syntax: str, view: Mapping[str, Any]) -> str:
        """Lay out ``view`` with the template ``name`` (Jinja2 delimiters for ``syntax``).

        Raises:
            RenderError: the template is missing or broken.
        """
        folder = Path(self.template_dir) if self.template_dir is not None \
            else default_template_dir()
        try:
            template = environment(str(folder), syntax).get_template(name)
            return template.render({"version": __version__, **view})
        except jinja2.TemplateNotFound as exc:
            raise RenderError(f"{folder}: template {exc.name} not found") from None
        except jinja2.TemplateError as exc:
            raise RenderError(f"{folder}/{name}: {exc}") from None

    def write(self, out_dir: str | Path, *, formats: Iterable[str] = ("md", "tex", "json"),
              stem: str = "solution") -> list[Path]:
        """Render every format (with Markdown, its pictures) first, then write each file
        atomically.

        Returns:
            The paths written: the texts in the order of ``formats``, then the pictures.

        Raises:
            RenderError: a format is unknown, a template fails or a picture cannot be
                drawn (nothing is written).
        """
        formats = tuple(formats)
        files = {f"{stem}.{fmt}": self.render(fmt, stem=stem) for fmt in formats}
        if "md" in formats:
            files.update(self.pictures(stem))
        folder = output_folder(out_dir)
        return [atomic_write(folder / name, text) for name, text in files.items()]


class CurveSolution(KindSolution):
    """A solution that shows a loss curve: the Markdown as ``STEM.loss.svg`` beside it,
    the LaTeX with pgfplots from the coordinates in the view's ``plot``.

    A subclass gives ``curve`` (a :class:`~derive.curves.Curve`).
    """

    curve: curves.Curve

    @staticmethod
    def image_name(stem: str) -> str:
        return f"{stem}.loss.svg"

    def plot(self, stem: str) -> dict:
        """What the templates' ``plot_section`` lays out."""
        return curves.plot_view(self.curve, image=self.image_name(stem))

    def pictures(self, stem: str) -> dict[str, str]:
        return {self.image_name(stem): curves.svg(self.curve)}
