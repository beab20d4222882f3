"""The notebook in docs/notebooks executes, shows a DataFrame, the progress
table and inline figures."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_quickstart_notebook_executes():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    pytest.importorskip("matplotlib")
    notebook = nbformat.read(ROOT / "docs" / "notebooks" / "quickstart.ipynb", as_version=4)
    # The kernel imports this checkout's package (its working directory is
    # the repository root) and must not spin OpenMP threads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    nbclient.NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    ).execute()
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    streams = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert "valid_roc_auc" in streams  # the per-epoch progress table
    data = [out.get("data", {}) for out in outputs if "data" in out]
    assert any("text/html" in d and "<table" in d["text/html"] for d in data)  # DataFrame
    assert sum("image/png" in d for d in data) >= 2  # the two figures, inline
    assert not any("application/vnd.jupyter.widget-view+json" in d for d in data)
