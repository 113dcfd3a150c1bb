"""Command line: ``derive solve PROBLEM.yaml --format md,tex,json --out DIR``.

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


if __name__ == "__main__":  # pragma: no cover
    main()
