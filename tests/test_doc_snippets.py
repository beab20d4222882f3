"""Every python code block of README.md and docs/**/*.md runs.

The blocks of one file run in order in one namespace, as a reader would run
them, from a temporary working directory. A block that cannot run (a
template with placeholders, a command needing data that is not bundled) is
marked on the line before its fence with ``<!-- snippet: skip, <reason> -->``;
the reason is required.
"""

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
_OPEN = re.compile(r"^\s*(?P<fence>`{3,}|~{3,})\s*(?P<info>.*?)\s*$")
_PYTHON = {"python", "py", "python3", "{code-block} python", "{code-cell} python", "{code-cell} ipython3"}
_SKIP = re.compile(r"<!--\s*snippet:\s*skip\b(?P<reason>.*?)-->")


def _pages_with_python():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
    return [page for page in pages if python_blocks(page.read_text(encoding="utf-8"))]


def python_blocks(text):
    """``(line number, code, skip reason or None)`` of each python block of a Markdown text."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = _OPEN.match(lines[i])
        if not opening:
            i += 1
            continue
        closing = re.compile(rf"\s*{re.escape(opening['fence'][0])}{{{len(opening['fence'])},}}\s*")
        end = i + 1
        while end < len(lines) and not closing.fullmatch(lines[end]):
            end += 1
        if opening["info"].lower() in _PYTHON:
            previous = next((line for line in reversed(lines[:i]) if line.strip()), "")
            skip = _SKIP.search(previous)
            reason = None if skip is None else skip["reason"].strip(" ,:")
            blocks.append((i + 1, textwrap.dedent("\n".join(lines[i + 1 : end])), reason))
        i = end + 1
    return blocks


def test_block_extraction_keeps_order_indentation_and_skip_reasons():
    text = (
        "intro\n```python\na = 1\n```\n- item\n  ```python\n  b = a + 1\n  ```\n"
        "```bash\nexit 1\n```\n<!-- snippet: skip, needs the full UCI files -->\n"
        "```python\nraise SystemExit\n```\n"
    )
    assert python_blocks(text) == [
        (2, "a = 1", None),
        (6, "b = a + 1", None),
        (13, "raise SystemExit", "needs the full UCI files"),
    ]


@pytest.mark.parametrize("page", _pages_with_python(), ids=lambda page: str(page.relative_to(ROOT)))
def test_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    namespace = {"__name__": "__main__"}
    for line, code, reason in python_blocks(page.read_text(encoding="utf-8")):
        where = f"{page.relative_to(ROOT)}, block at line {line}"
        if reason is not None:
            assert reason, f"{where} is skipped without a reason"
            continue
        exec(compile(code, where, "exec"), namespace)
