"""Command line: ``derive solve PROBLEM.yaml --format md,tex,json --out DIR`` and
``derive pdf PROBLEM.yaml [--answers] [--engine latex|typst] --out DIR``.

Only click is imported at start-up; SymPy and NumPy load when a command needs
them, so ``derive --help`` and ``derive --version`` answer at once. Every
:class:`~derive.errors.DeriveError` becomes one line on stderr and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .errors import DeriveError

FORMATS = ("md", "tex", "json")


def _formats(ctx, param, value: str) -> tuple[str, ...]:
    chosen = tuple(part.strip() for part in value.split(",") if part.strip())
    unknown = [fmt for fmt in chosen if fmt not in FORMATS]
    if unknown or not chosen:
        raise click.BadParameter(
            f"expected a comma-separated list of {', '.join(FORMATS)}, got {value!r}")
    return tuple(dict.fromkeys(chosen))


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="derive")
def main() -> None:
    """Step-by-step worked solutions of backpropagation, checked numerically."""


@main.command()
@click.argument("problems", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--format", "-f", "formats", default="md,tex,json", show_default=True,
              callback=_formats, help="Comma-separated output formats: md, tex, json.")
@click.option("--out", "-o", "out_dir", default=Path("."), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--templates", "template_dir", default=None,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A folder of Jinja2 templates replacing the shipped ones.")
def solve(problems: tuple[Path, ...], formats: tuple[str, ...], out_dir: Path,
          template_dir: Path | None) -> None:
    """Write the worked solution of each PROBLEM file (named after the file) into --out."""
    from .solution import solve as solve_problem
    from .spec import load_problem

    try:
        # Solve and render everything before writing anything.
        solutions = [(path, solve_problem(load_problem(path), template_dir=template_dir))
                     for path in problems]
        for path, solution in solutions:
            for written in solution.write(out_dir, formats=formats, stem=path.stem):
                click.echo(str(written))
    except DeriveError as exc:
        click.echo(f"derive: error: {exc}", err=True)
        sys.exit(2)


@main.command()
@click.argument("problems", nargs=-1, required=True,
                type=click.Path(dir_okay=False, path_type=Path))
@click.option("--answers", is_flag=True,
              help="The answer key (with worked solutions); without it, the question sheet.")
@click.option("--engine", type=click.Choice(["latex", "typst"]), default=None,
              help="LaTeX (exam class) or Typst. Default: LaTeX where installed, else Typst.")
@click.option("--out", "-o", "out_dir", default=Path("."), show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Output folder.")
@click.option("--title", default=None, help="Document title (default: the problem's title).")
@click.option("--course", default=None, help="Course name, in the header.")
@click.option("--date", "date_text", default=None, help="Date, in the header.")
@click.option("--points", type=click.IntRange(min=0), default=None,
              help="Points per question (default 10).")
@click.option("--config", "config_file", default=None,
              type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="YAML file with title, course, date and points (one number or a list).")
@click.option("--plots", is_flag=True,
              help="Append plots of the activation functions (marked in the answer key).")
@click.option("--name", "stem", default=None,
              help="File name without .pdf (default: the problem's, or 'exam' for several).")
@click.option("--templates", "template_dir", default=None,
              type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A folder of Jinja2 templates replacing the shipped ones.")
def pdf(problems: tuple[Path, ...], answers: bool, engine: str | None, out_dir: Path,
        title: str | None, course: str | None, date_text: str | None, points: int | None,
        config_file: Path | None, plots: bool, stem: str | None,
        template_dir: Path | None) -> None:
    """Write one PDF of every PROBLEM file as an exam: the question sheet NAME.pdf, or
    with --answers the answer key NAME-answers.pdf, into --out. Network, graph and
    descent problems can be questions."""
    from . import pdf as printing
    from .solution import solve as solve_problem
    from .spec import load_problem

    try:
        config = (printing.load_config(config_file) if config_file is not None
                  else printing.ExamConfig())
        solutions = [solve_problem(load_problem(path), template_dir=template_dir)
                     for path in problems]
        per_question = config.points if isinstance(config.points, tuple) else (
            (config.points,) * len(problems))
        if points is not None:
            per_question = (points,) * len(problems)
        if len(per_question) != len(problems):
            raise DeriveError(f"{config_file}: points: expected one number, or one per "
                              f"problem ({len(problems)}), got {len(per_question)}")
        exam = printing.Exam(
            title=title if title is not None else config.title if config.title is not None
            else solutions[0].problem.title if len(solutions) == 1 else "Exercises",
            course=course if course is not None else config.course,
            date=date_text if date_text is not None else str(config.date),
            points=per_question, answers=answers, plots=plots)
        written = printing.build_pdf(
            solutions, exam, out_dir, engine=engine, template_dir=template_dir,
            stem=stem or (problems[0].stem if len(problems) == 1 else "exam"))
        click.echo(str(written))
    except DeriveError as exc:
        click.echo(f"derive: error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
