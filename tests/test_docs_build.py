"""The documentation builds with warnings as errors, gallery included, and the
estimators' HTML repr links to their page of it."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.utils import estimator_html_repr

from sklearn_mtl._base import BaseMultiTaskClassifier
from sklearn_mtl._discovery import public_objects

ROOT = Path(__file__).resolve().parents[1]
ESTIMATORS = [
    (module, name, obj)
    for module, name, obj in public_objects()
    if isinstance(obj, type) and issubclass(obj, BaseMultiTaskClassifier)
]


@pytest.mark.parametrize("module, name, cls", ESTIMATORS, ids=[e[1] for e in ESTIMATORS])
def test_html_repr_links_to_the_api_page(module, name, cls):
    link = cls()._get_doc_link()
    assert link == f"https://sklearn-mtl.readthedocs.io/en/stable/generated/{module}.{name}.html"
    assert f'href="{link}"' in estimator_html_repr(cls())


@pytest.fixture(scope="module")
def built_docs(tmp_path_factory):
    for package in ("sphinx", "numpydoc", "sphinx_gallery", "myst_parser",
                    "pydata_sphinx_theme", "matplotlib"):
        pytest.importorskip(package)
    tmp = tmp_path_factory.mktemp("docs")
    # Build from a copy: the build writes the API pages and the gallery
    # into its source folder.
    generated = shutil.ignore_patterns(
        "_build", "generated", "auto_examples", "auto_notebooks", "gen_modules", "api.rst",
        "sg_execution_times.rst", "quickstart.py",
    )
    shutil.copytree(ROOT / "docs", tmp / "docs", ignore=generated)
    shutil.copytree(ROOT / "examples", tmp / "examples")
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_WAIT_POLICY": "PASSIVE",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    html = tmp / "html"
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(tmp / "docs"), str(html)],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-5000:]
    return html


def test_docs_build_without_warnings(built_docs):
    assert (built_docs / "index.html").exists()
    for module, name, _ in public_objects():
        assert (built_docs / "generated" / f"{module}.{name}.html").exists(), name
    # Every estimator's repr link points at a page the build wrote, and that
    # page documents the methods it inherits from the base estimator.
    for module, name, cls in ESTIMATORS:
        page = built_docs / "generated" / cls()._get_doc_link().rsplit("/generated/", 1)[1]
        for method in ("fit", "predict_proba", "predict_proba_frame"):
            assert f'id="{module}.{name}.{method}"' in page.read_text(), (name, method)


#: Examples the build shows without running them (worker processes of their
#: own), with the output of a run in their text.
NOT_RUN = {"grid_search_dask": "its cross-validated mean AUC: 0."}


def test_gallery_runs_and_draws(built_docs):
    scripts = sorted(p.stem for p in (ROOT / "examples").glob("*.py"))
    assert {"plot_click_log", "train_census", "distributed_census"} <= set(scripts)
    images = built_docs / "_images"
    for stem in scripts:
        page = (built_docs / "auto_examples" / f"{stem}.html").read_text()
        if stem in NOT_RUN:
            text = re.sub(r"<[^>]+>", "", page)  # the captured run, highlighted
            assert "sphx-glr-script-out" not in page and NOT_RUN[stem] in text, stem
            continue
        if stem.startswith("plot_"):
            assert list(images.glob(f"sphx_glr_{stem}_*.png")), f"{stem} drew no figure"
        else:
            assert "sphx-glr-script-out" in page, f"{stem} ran without showing its output"
    # Run at the size the build gives it, the README's first command prints its scores.
    page = (built_docs / "auto_examples" / "train_census.html").read_text()
    assert "trained on " in page and "test roc_auc_income" in page


def test_notebook_page_shows_outputs_and_figures(built_docs):
    page = (built_docs / "auto_notebooks" / "quickstart.html").read_text()
    assert "valid_roc_auc" in page  # the per-epoch table
    assert "<table" in page  # the DataFrame
    assert "%matplotlib" not in page
    assert len(list((built_docs / "_images").glob("sphx_glr_quickstart_*.png"))) >= 2
    assert "auto_notebooks/quickstart.html" in (built_docs / "index.html").read_text()


def test_intersphinx_links_resolve_offline(built_docs):
    # The inventories are local files: these links resolve with no network.
    page = (built_docs / "guide" / "from_dataframe.html").read_text()
    assert "scikit-learn.org/stable/modules/generated/sklearn.compose.ColumnTransformer" in page
    page = (built_docs / "guide" / "persistence.html").read_text()
    assert "https://docs.pytorch.org/docs/stable/generated/torch.nn.Module.html" in page
    page = (built_docs / "guide" / "callbacks.html").read_text()
    assert "skorch.readthedocs.io/en/stable/callbacks.html#skorch.callbacks.Checkpoint" in page
