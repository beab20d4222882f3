"""What the documentation's galleries need beyond their configuration in conf.py.

- :func:`reset_argv`: the command line each script of ``examples/`` runs with
  in the build. A script that trains at full size by default (as a reader
  runs it) runs in the build at a size that keeps the build short, and
  prints the size it ran at.
- :func:`write_notebook_scripts`: the notebooks of ``notebooks/`` as
  sphinx-gallery scripts, so that the build runs them and shows their
  outputs and figures, without a notebook extension.
"""

import json
import re
from pathlib import Path

SMALL_RUNS = {
    "distributed_census.py": ["--train-rows", "3000", "--max-epochs", "3"],
    "multi_valued_tags.py": ["--train-rows", "12000", "--max-epochs", "3", "--threads", "1"],
    "ple_mixed_tasks.py": ["--train-rows", "3000", "--max-epochs", "3", "--threads", "1"],
    "single_task_baselines.py": ["--train-rows", "3000", "--max-epochs", "3", "--threads", "1"],
    "train_census.py": ["--train-rows", "3000", "--max-epochs", "3", "--threads", "1"],
}


def reset_argv(gallery_conf, script_vars):
    """The arguments ``examples/<name>.py`` runs with in the build."""
    return SMALL_RUNS.get(Path(script_vars["src_file"]).name, [])


_UNDERLINES = {1: "=", 2: "-", 3: "^"}
_INLINE_CODE = re.compile(r"(?<!`)`([^`]+)`(?!`)")


def _rst_lines(markdown):
    """reST lines of a notebook's Markdown cell: its headings and inline code."""
    lines = []
    for line in markdown.splitlines():
        heading = re.match(r"(#+)\s+(.*)", line)
        if heading:
            level, title = len(heading.group(1)), heading.group(2).strip()
            rule = _UNDERLINES[level] * len(title)
            lines += [rule, title, rule] if level == 1 else [title, rule]
        else:
            lines.append(_INLINE_CODE.sub(r"``\1``", line))
    return lines


def notebook_script(notebook):
    """A sphinx-gallery script of ``notebook`` (a dict of the nbformat JSON).

    The first Markdown cell becomes the docstring (the page's title and
    introduction), each other Markdown cell a text block, each code cell a
    code block without its IPython magics.
    """
    cells = notebook["cells"]
    first, *rest = cells
    if first["cell_type"] != "markdown":
        raise ValueError("A notebook rendered in the gallery starts with a Markdown title cell.")
    parts = ['"""', *_rst_lines("".join(first["source"])), '"""', ""]
    for cell in rest:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            parts += ["# %%", *(f"# {line}".rstrip() for line in _rst_lines(source)), ""]
        elif cell["cell_type"] == "code":
            code = [line for line in source.splitlines() if not line.startswith("%")]
            parts += ["# %%", *code, ""]
    return "\n".join(parts)


def write_notebook_scripts(folder):
    """Write ``<name>.py`` beside each ``<name>.ipynb`` of ``folder``."""
    for path in sorted(Path(folder).glob("*.ipynb")):
        script = notebook_script(json.loads(path.read_text()))
        target = path.with_suffix(".py")
        # An unchanged script keeps its date: sphinx-gallery then need not rerun it.
        if not target.exists() or target.read_text() != script:
            target.write_text(script)
