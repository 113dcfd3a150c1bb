"""Rendered output: LaTeX that compiles, Markdown that reads, golden files, escaping."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROBLEMS, ROOT, solved

import derive

DERIVE = str(Path(sys.executable).with_name("derive"))  # the installed console script
SHIPPED = sorted(path.stem for path in PROBLEMS.glob("*.yaml"))
needs_pdflatex = pytest.mark.skipif(
    shutil.which("pdflatex") is None and not os.environ.get("CI"),
    reason="pdflatex is not installed (CI installs it, and there this test runs)")


def compile_latex(text: str, folder: Path) -> Path:
    source = folder / "doc.tex"
    source.write_text(text, encoding="utf-8")
    result = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "-no-shell-escape",
         source.name], cwd=folder, capture_output=True, text=True, timeout=120)
    errors = [line for line in result.stdout.splitlines() if line.startswith("!")]
    assert result.returncode == 0, f"pdflatex failed: {errors}"
    return folder / "doc.pdf"


@needs_pdflatex
@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_examples_compile(name, tmp_path):
    assert compile_latex(solved(name).to_latex(), tmp_path).stat().st_size > 1000


WIDE = {  # 9 inputs: each hidden pre-activation is a sum of ten terms
    "x": [0.11, 0.22, 0.33, 0.44, 0.55, 0.66, 0.77, 0.88, 0.99], "y": 1,
    "layers": [{"activation": "sigmoid", "bias": [0.01, -0.02],
                "weights": [[0.1, -0.2, 0.3, -0.4, 0.5, -0.6, 0.7, -0.8, 0.9],
                            [0.15, 0.25, -0.35, 0.45, -0.55, 0.65, -0.75, 0.85, -0.95]]},
               {"activation": "sigmoid", "weights": [[0.3, -0.4]], "bias": 0.1}],
    "loss": "bce", "learning_rate": 0.5}


@needs_pdflatex
def test_long_sums_are_broken_to_fit_the_page(tmp_path):
    text = derive.solve(derive.parse_problem(WIDE)).to_latex()
    assert "\\\n&\\quad {} + 0.7 \\cdot 0.77" in text  # the substituted z, second line
    compile_latex(text, tmp_path)
    log = (tmp_path / "doc.log").read_text(encoding="utf-8", errors="replace")
    assert "Overfull \\hbox" not in log


@needs_pdflatex
def test_random_networks_compile(tmp_path):
    from hypothesis import given, settings
    from test_derivation import problems

    count = 0

    @settings(max_examples=6, deadline=None, database=None, derandomize=True)
    @given(problems(max_depth=3, max_width=3))
    def compile_one(mapping):
        nonlocal count
        count += 1
        folder = tmp_path / str(count)
        folder.mkdir()
        compile_latex(derive.solve(derive.parse_problem(mapping)).to_latex(), folder)

    compile_one()
    assert count == 6


@pytest.mark.parametrize("name", SHIPPED)
@pytest.mark.parametrize("fmt", ["md", "tex"])
def test_output_folder_is_up_to_date(name, fmt):
    # The cross-check's last lines report differences of the order of 1e-17, whose
    # exact digits depend on the NumPy build: they are left out of the comparison.
    def solution_part(text: str) -> str:
        return text.split("Cross-check")[0]

    shipped = (ROOT / "output" / f"{name}.{fmt}").read_text(encoding="utf-8")
    assert solution_part(shipped) == solution_part(solved(name).render(fmt)), (
        "output/ is stale: regenerate it with "
        "`derive solve problems/*.yaml --format md,tex --out output`")


def test_user_strings_are_escaped(tmp_path):
    hostile = r"Exam #1: 100% of $5 & a_b {c} \input{/etc/passwd} ^ ~"
    mapping = {"title": hostile, "x": [1.0], "y": 0.0, "loss": "mse", "learning_rate": 0.1,
               "layers": [{"activation": "sigmoid", "weights": [[0.5]]}]}
    solution = derive.solve(derive.parse_problem(mapping))
    latex = solution.to_latex()
    assert r"\input{/etc/passwd}" not in latex
    assert r"Exam \#1: 100\% of \$5 \& a\_b \{c\} \textbackslash{}input\{/etc/passwd\}" in latex
    markdown = solution.to_markdown()
    assert r"# Exam \#1: 100% of \$5 & a\_b {c} \\input{/etc/passwd} ^ ~" in markdown
    assert json.loads(solution.to_json())["title"] == hostile
    if shutil.which("pdflatex"):
        compile_latex(latex, tmp_path)


def test_json_has_the_promised_fields():
    data = json.loads(solved("mazur").to_json())
    assert {"loss", "gradients", "updated", "quantities", "check"} <= set(data)
    assert data["check"]["numpy_compared"] > 50
    assert data["check"]["finite_differences_compared"] == 10
    assert data["check"]["finite_differences_max_abs"] < 1e-8


def test_own_template_folder(tmp_path):
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    page = folder / "solution.md.j2"
    page.write_text("Answer key for {{ title }}: loss {{ loss_value }}\n")
    solution = derive.solve(derive.load_problem(PROBLEMS / "mazur.yaml"), template_dir=folder)
    assert solution.to_markdown() == (
        "Answer key for Backpropagation step by step: the 2-2-2 network: loss 0.298371109\n")


def test_broken_template_is_a_clean_error(tmp_path):
    (tmp_path / "solution.md.j2").write_text("{{ no_such_variable }}")
    solution = derive.solve(derive.load_problem(PROBLEMS / "mazur.yaml"), template_dir=tmp_path)
    with pytest.raises(derive.DeriveError, match="no_such_variable"):
        solution.to_markdown()
    with pytest.raises(derive.DeriveError):
        solution.write(tmp_path / "out", formats=("json", "md"))
    assert not (tmp_path / "out").exists()


def test_cli_writes_each_format_named_after_the_problem(tmp_path):
    result = subprocess.run(
        [DERIVE, "solve", str(PROBLEMS / "mazur.yaml"), "--format", "md,json",
         "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in tmp_path.iterdir())
    assert [name for name in written if not name.endswith(".svg")] == ["mazur.json", "mazur.md"]
    assert json.loads((tmp_path / "mazur.json").read_text())["updated"]["w5"] == pytest.approx(
        0.35891648, abs=5e-9)


def test_cli_help_and_version():
    help_text = subprocess.run([DERIVE, "solve", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "--format" in help_text.stdout
    version = subprocess.run([DERIVE, "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == f"derive, version {derive.__version__}"


def test_cli_rejects_unknown_format(tmp_path):
    result = subprocess.run([DERIVE, "solve", str(PROBLEMS / "mazur.yaml"), "--format", "pdf",
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "md, tex, json" in result.stderr


def test_separate_runs_write_byte_identical_files(tmp_path):
    # Two processes with different hash seeds: no output may depend on the order of a
    # set or on anything else that changes from one run to the next.
    names = ("mazur", "cce_4_4_3", "graph_seed_004", "derivative_softmax", "descent_seed003",
             "training_zhou_sgd")
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / seed
        subprocess.run([DERIVE, "solve", *(str(PROBLEMS / f"{name}.yaml") for name in names),
                        "--out", str(out)], check=True, capture_output=True,
                       env={**os.environ, "PYTHONHASHSEED": seed})
        outputs.append({path.name: path.read_bytes() for path in sorted(out.iterdir())})
    assert len(outputs[0]) >= 3 * len(names)
    assert outputs[0] == outputs[1]
