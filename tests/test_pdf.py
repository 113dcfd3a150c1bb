"""PDF exams and answer keys: both engines compile every shipped example, the question
sheet leaks no answer, user text is escaped, failures show the relevant log lines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import PROBLEMS, ROOT, solved

import derive
from derive import pdf
from derive.forms import Shown
from derive.latex import DerivePrinter
from derive.render import solution_printer

pytest.importorskip("typst")
pypdf = pytest.importorskip("pypdf")

DERIVE = str(Path(sys.executable).with_name("derive"))
NETWORKS = sorted(path.stem for path in PROBLEMS.glob("*.yaml")
                  if getattr(derive.load_problem(path), "kind", "network") == "network")
needs_latex = pytest.mark.skipif(
    not pdf.latex_available() and not os.environ.get("CI"),
    reason="pdflatex or the exam class is missing (CI installs them, and there this runs)")
ENGINES = [pytest.param("typst"), pytest.param("latex", marks=needs_latex)]
HOSTILE = r"Exam #1: 100% of $5 & a_b {c} \input{/etc/passwd} ^ ~ #read(""/etc/passwd"")"


def text_of(data: bytes, tmp_path: Path) -> str:
    path = tmp_path / "doc.pdf"
    path.write_bytes(data)
    text = "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)
    return text.replace("\u2212", "-")


def numbers_of(solution) -> tuple[set[str], set[str]]:
    """The numbers only a solver knows (activations, loss, gradients, updated parameters)
    and the numbers the problem gives, as printed and unsigned."""
    printer = solution_printer(solution)
    values = solution.derivation.values
    network = solution.derivation.network
    numbers = [values.loss, *values.gradients.values(), *values.updated.values()]
    numbers += [float(v) for layer in values.layers for v in layer.a.ravel()]
    given = {printer.doprint(Shown(abs(v), given=True))
             for v in list(values.x.ravel()) + list(values.y.ravel())
             + [network.parameter_value(p) for p in network.parameters]}
    return {printer.doprint(Shown(abs(v))) for v in numbers}, given


@pytest.mark.parametrize("engine", ENGINES)
def test_question_sheet_has_no_answers_and_the_key_has_them(engine, tmp_path):
    # Every shipped network in one document each: one compile per sheet and engine.
    solutions = [solved(name) for name in NETWORKS]
    exam = pdf.Exam(title="Every shipped example", course="Course", date="today")
    questions = text_of(pdf.render_pdf(solutions, exam, engine=engine), tmp_path)
    key = text_of(pdf.render_pdf(solutions, pdf.Exam(title="Key", answers=True),
                                 engine=engine), tmp_path)
    given = set().union(*(numbers_of(solution)[1] for solution in solutions))
    for number, solution in enumerate(solutions, start=1):
        secret = {n for n in numbers_of(solution)[0] - given
                  if len(n.replace("0", "").replace(".", "")) >= 2}
        assert len(secret) >= 3
        assert f"Question {number}: {solution.problem.title}" in " ".join(questions.split())
        leaked = sorted(n for n in secret if n in questions)
        assert not leaked, f"the question sheet shows answers of {solution.problem.title}: {leaked}"
        assert solution_printer(solution).doprint(Shown(solution.loss)) in key
        assert len([n for n in secret if n in key]) > 0.8 * len(secret)
    assert "(10 points)" in questions and questions.count("Compute") == len(solutions)
    assert "Solution" not in questions and key.count("Solution") == len(solutions)


GRAPHS = sorted(path.stem for path in PROBLEMS.glob("*.yaml")
                if getattr(derive.load_problem(path), "kind", "network") == "graph")


@pytest.mark.parametrize("engine", ENGINES)
def test_graph_questions_and_their_answers(engine, tmp_path):
    # Every shipped graph, after a network: kinds mix in one document.
    solutions = [solved("perceptron_toy"), *(solved(name) for name in GRAPHS)]
    questions = text_of(pdf.render_pdf(solutions, pdf.Exam(title="Graphs"), engine=engine),
                        tmp_path)
    key = text_of(pdf.render_pdf(solutions, pdf.Exam(title="Key", answers=True),
                                 engine=engine), tmp_path)
    assert questions.count("Compute") == len(solutions) and "Solution" not in questions
    for solution in solutions[1:]:
        printer = solution.printer()
        inputs = {step.name for step in solution.derivation.inputs}
        secret = {printer.doprint(Shown(abs(value))) for name, value in
                  [*solution.values.items(), *solution.gradients.items()]
                  if name not in inputs}
        # Numbers of one digit also stand in the statement (z = -4, x^2).
        secret = {n for n in secret if len(n.replace("0", "").replace(".", "")) >= 2}
        assert secret
        assert not sorted(n for n in secret if n in questions), solution.problem.title
        assert all(n in key for n in secret), solution.problem.title
    assert key.count("Solution") == len(solutions)


@pytest.mark.parametrize("engine", ENGINES)
def test_descent_question_and_its_answer(engine, tmp_path):
    solution = solved("descent_seed003")
    questions = text_of(pdf.render_pdf([solution], pdf.Exam(title="Descent"), engine=engine),
                        tmp_path)
    key = text_of(pdf.render_pdf([solution], pdf.Exam(title="Key", answers=True),
                                 engine=engine), tmp_path)
    printer = DerivePrinter({"digits": solution.problem.digits,
                             "rounding": solution.problem.rounding})
    secret = {printer.doprint(Shown(abs(float(value)))) for it in solution.iterates[1:]
              for value in (it.w, it.loss, it.gradient)}
    secret = {n for n in secret if len(n.replace("0", "").replace(".", "")) >= 2}
    assert len(secret) >= 10
    assert not sorted(n for n in secret if n in questions)
    flat = " ".join(key.split())
    assert all(n in flat for n in secret)
    assert "Solution" not in questions and "After 5 steps" in flat


@pytest.mark.parametrize("engine", ENGINES)
def test_user_strings_are_escaped(engine, tmp_path):
    exam = pdf.Exam(title=HOSTILE, course="C&O {101} _x_ *y*", date="~2026^", answers=True)
    text = text_of(pdf.render_pdf([solved("perceptron_toy")], exam, engine=engine), tmp_path)
    flat = "".join(text.split())
    # (pdftotext-like extraction loses LaTeX's \_, drawn as a rule: compare without it)
    for part in ("Exam#1:100%of$5&a", "b{c}", "input{/etc/passwd}", "C&O{101}", "x", "*y*"):
        assert part in flat.replace("_", "")
    assert "root:" not in text


@pytest.mark.parametrize("engine", ENGINES)
def test_several_problems_one_document_with_plots(engine, tmp_path):
    solutions = [solved("mazur"), solved("zhou_alice")]
    exam = pdf.Exam(title="Midterm", course="ML", date="2026-11-22", points=(12, 8),
                    answers=True, plots=True)
    text = text_of(pdf.render_pdf(solutions, exam, engine=engine), tmp_path)
    assert "Question 1" in text and "Question 2" in text
    assert "(12 points)" in text and "(8 points)" in text
    assert "Appendix" in text and "sigmoid" in text
    assert "The paths from" in text   # the highlighted diagram of the backward pass


def test_typst_cannot_read_outside_its_folder(tmp_path):
    folder = tmp_path / "doc"
    folder.mkdir()
    (folder / "exam.typ").write_text('#read("/etc/passwd")\n#read("../secret.txt")\n')
    (tmp_path / "secret.txt").write_text("secret")
    with pytest.raises(pdf.CompileError) as caught:
        pdf.compile_typst(folder / "exam.typ")
    assert "secret" not in str(caught.value).replace("secret.txt", "")


@needs_latex
def test_latex_cannot_read_absolute_paths(tmp_path):
    (tmp_path / "exam.tex").write_text(
        "\\documentclass{article}\\begin{document}\\input{/etc/passwd}\\end{document}\n")
    with pytest.raises(pdf.CompileError, match="passwd"):
        pdf.compile_latex(tmp_path / "exam.tex")


def _broken_templates(tmp_path: Path, name: str, old: str, new: str) -> Path:
    folder = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", folder)
    path = folder / name
    path.write_text(path.read_text().replace(old, new, 1))
    return folder


@pytest.mark.parametrize("engine, name, old, new, expected", [
    pytest.param("latex", "exam.tex.j2", "\\begin{questions}",
                 "\\begin{questions}\\nosuchcommand", "Undefined control sequence",
                 marks=needs_latex),
    pytest.param("typst", "exam.typ.j2", "#v(0.6em)", "#nosuchfunction(1)",
                 "unknown variable: nosuchfunction"),
])
def test_failing_compile_shows_the_relevant_lines(engine, name, old, new, expected, tmp_path):
    folder = _broken_templates(tmp_path, name, old, new)
    with pytest.raises(pdf.CompileError) as caught:
        pdf.build_pdf([solved("mazur")], pdf.Exam(title="t"), tmp_path / "out", stem="m",
                      engine=engine, template_dir=folder)
    message = str(caught.value)
    assert expected in message
    assert len(message.splitlines()) < 30
    assert not (tmp_path / "out" / "m.pdf").exists()


def test_latex_log_excerpt():
    error = "./exam.tex:12: Undefined control sequence."
    log = "\n".join(["This is pdfTeX", *["(file.sty)"] * 50, error, "l.12 \\nosuch", "",
                     "more", "more", "tail", "(end)"])
    excerpt = pdf.latex_errors(log)
    assert excerpt.startswith("./exam.tex:12: Undefined control sequence.")
    assert "l.12 \\nosuch" in excerpt and "(file.sty)" not in excerpt


def test_engine_choice(monkeypatch):
    monkeypatch.setattr(pdf, "latex_available", lambda: False)
    assert pdf.choose_engine(None) == "typst"
    with pytest.raises(pdf.EngineMissing, match="texlive-latex-extra"):
        pdf.choose_engine("latex")
    monkeypatch.setattr(pdf, "latex_available", lambda: True)
    assert pdf.choose_engine(None) == "latex"
    assert pdf.choose_engine("typst") == "typst"


def test_cli_pdf(tmp_path):
    config = tmp_path / "exam.yaml"
    config.write_text("title: Midterm\ncourse: ML 101\ndate: 2026-11-22\npoints: [5, 7]\n")
    run = subprocess.run([DERIVE, "pdf", str(PROBLEMS / "mazur.yaml"),
                          str(PROBLEMS / "zhou_alice.yaml"), "--engine", "typst", "--answers",
                          "--config", str(config), "--out", str(tmp_path / "out")],
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr
    written = tmp_path / "out" / "exam-answers.pdf"
    assert run.stdout.strip() == str(written)
    text = text_of(written.read_bytes(), tmp_path)
    assert "Midterm" in text and "ML 101" in text and "(7 points)" in text


def test_cli_pdf_errors(tmp_path):
    bare = {**os.environ, "PATH": str(Path(sys.executable).parent)}  # no TeX on this PATH
    missing = subprocess.run([DERIVE, "pdf", str(PROBLEMS / "mazur.yaml"), "--engine", "latex",
                              "--out", str(tmp_path)], capture_output=True, text=True, env=bare,
                             check=False)
    assert missing.returncode == 2
    assert "apt-get install texlive-latex-base" in missing.stderr
    assert list(tmp_path.iterdir()) == []
    default = subprocess.run([DERIVE, "pdf", str(PROBLEMS / "mazur.yaml"), "--out",
                              str(tmp_path)], capture_output=True, text=True, env=bare,
                             check=False)
    assert default.returncode == 0, default.stderr          # falls back to Typst
    assert (tmp_path / "mazur.pdf").read_bytes().startswith(b"%PDF")
    config = tmp_path / "bad.yaml"
    config.write_text("titel: x\n")
    bad = subprocess.run([DERIVE, "pdf", str(PROBLEMS / "mazur.yaml"), "--config", str(config),
                          "--out", str(tmp_path)], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "titel" in bad.stderr and "unknown key" in bad.stderr
    other = subprocess.run([DERIVE, "pdf", str(PROBLEMS / "mazur.yaml"),
                            str(PROBLEMS / "derivative_sigmoid.yaml"), "--out",
                            str(tmp_path / "other")], capture_output=True, text=True,
                           check=False)
    assert other.returncode == 2 and not (tmp_path / "other").exists()
    assert "kind 'derivative' cannot be printed" in other.stderr
    assert "network, graph and descent problems can" in other.stderr
