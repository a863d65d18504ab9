"""The README's and the docs' Python examples run as written."""
import re

import pytest

from conftest import ROOT

PAGES = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (ROOT / page).read_text()
    for block in re.findall(r"```python\n(.*?)```", text, re.S):
        exec(compile(block, page, "exec"), {"__name__": "__main__"})


def test_readme_has_examples_and_links_that_exist():
    text = (ROOT / "README.md").read_text()
    assert len(re.findall(r"```python\n", text)) >= 3
    for target in re.findall(r"\]\(([^)#]+)", text):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target
    for page in (ROOT / "docs").glob("*.md"):
        for target in re.findall(r"\]\(([^)#]+)", page.read_text()):
            if not target.startswith("http"):
                assert (page.parent / target).exists(), (page.name, target)


def test_documented_commands_parse():
    """Every `dcnmix train|prepare|predict|export|svd ...` line of the README and docs takes
    only flags and values the CLI accepts (parsed, and for train validated, as the CLI does;
    nothing runs). Lines with placeholders (`...`, `A | B`, `$VAR`, `PATH`) are sketches."""
    import shlex
    from dcnmix.cli import build_parser, model_options, train_config
    found = 0
    for page in PAGES:
        for block in re.findall(r"```(?:bash|sh)?[^\n]*\n(.*?)```", (ROOT / page).read_text(), re.S):
            for line in block.replace("\\\n", " ").splitlines():
                command = line.split("#")[0].strip().rstrip("&").strip()
                words = command.split()
                if words[:1] != ["dcnmix"] or words[1:2] == ["convert"] or words[1:2] == ["parity"] \
                        or any(mark in command for mark in ("...", " | ", "$", "PATH", "<", "--help")):
                    continue
                try:
                    args = build_parser().parse_args(shlex.split(command)[1:])
                    if args.command == "train":
                        model_options(args), train_config(args)
                except (SystemExit, ValueError) as exc:
                    pytest.fail(f"{page}: {command!r} is refused ({exc!r})")
                found += 1
    assert found >= 20, found
