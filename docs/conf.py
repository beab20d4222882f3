"""Sphinx configuration of the sklearn_mtl documentation.

Build: ``python -m sphinx -W -b html docs docs/_build/html`` (needs the
``docs`` extra). It runs the gallery in ``examples/`` and the notebooks in
``notebooks/``, and needs no network.
"""

import os
import sys
from pathlib import Path

import sklearn_mtl
from sklearn_mtl._discovery import public_modules, public_objects

HERE = Path(__file__).parent
# gallery.py (imported here, and named by reset_argv below) lies beside this file.
sys.path.insert(0, str(HERE))

from gallery import write_notebook_scripts  # noqa: E402

# Gallery examples share the machine with the build; torch's spinning OpenMP
# threads would slow both down.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

project = "sklearn_mtl"
author = "sklearn_mtl developers"
copyright = "sklearn_mtl developers"
release = version = sklearn_mtl.__version__

extensions = [
    "myst_parser",
    "numpydoc",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_inventories", "notebooks", "**.ipynb_checkpoints"]
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "pydata_sphinx_theme"
html_title = f"sklearn_mtl {version}"
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}

autosummary_generate = True
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Types in the Parameters and Returns sections link to their documentation.
numpydoc_xref_param_type = True
numpydoc_xref_aliases = {
    "DataFrame": "pandas.DataFrame",
    "Pipeline": "sklearn.pipeline.Pipeline",
    "ndarray": "numpy.ndarray",
    "Tensor": "torch.Tensor",
    "Module": "torch.nn.Module",
    "MixedInputEmbedding": "sklearn_mtl.nn.MixedInputEmbedding",
    "LossWeighting": "sklearn_mtl.loss_weighting.LossWeighting",
    "TaskScorer": "sklearn_mtl.metrics.TaskScorer",
}
numpydoc_xref_ignore = "all"

# Inventories written from the installed packages by
# _inventories/make_inventories.py: the build must not need the network.
_SITES = {
    "sklearn": "https://scikit-learn.org/stable/",
    "torch": "https://docs.pytorch.org/docs/stable/",
    "skorch": "https://skorch.readthedocs.io/en/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
    "numpy": "https://numpy.org/doc/stable/",
    "python": "https://docs.python.org/3/",
}
intersphinx_mapping = {
    name: (url, str(HERE / "_inventories" / f"{name}.inv")) for name, url in _SITES.items()
}

# The notebooks run in the build as a second gallery, from scripts written
# from them (notebooks/ itself is not a source folder of the site).
write_notebook_scripts(HERE / "notebooks")
sphinx_gallery_conf = {
    "examples_dirs": ["../examples", "notebooks"],
    "gallery_dirs": ["auto_examples", "auto_notebooks"],
    # Every example runs in the build, except the search on a dask cluster: its
    # worker processes each import torch, half a minute before the first fit.
    # Its page shows the output of a run.
    "filename_pattern": r"/(?!grid_search_dask\.py$)[^/]+\.py$",
    # The scripts with a command line run smaller than their defaults.
    "reset_argv": "gallery.reset_argv",
    # A code block's last value is shown (a DataFrame, a dict of scores), but not
    # the text, axes or display objects that drawing calls return.
    "ignore_repr_types": r"matplotlib\.|sklearn_mtl\.inspection\.",
    "doc_module": ("sklearn_mtl",),
    "reference_url": {"sklearn_mtl": None},
    "backreferences_dir": "gen_modules/backreferences",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "matplotlib_animations": False,
}


def _write_api_reference():
    """Write ``api.rst``: one autosummary table per public module, listing
    what its ``__all__`` exports (each object under its shortest path)."""
    by_module = {}
    for module, name, _ in public_objects():
        by_module.setdefault(module, []).append(name)
    lines = [
        ".. This file is written by conf.py from the __all__ lists; do not edit.",
        "",
        "API reference",
        "=============",
        "",
    ]
    for module in public_modules():
        names = by_module.get(module)
        if not names:
            continue
        lines += [
            f":mod:`{module}`",
            "-" * (len(module) + 7),
            "",
            f".. automodule:: {module}",
            "   :no-members:",
            "   :no-inherited-members:",
            "",
            f".. currentmodule:: {module}",
            "",
            ".. autosummary::",
            "   :toctree: generated/",
            "   :template: object.rst",
            "",
            *(f"   {name}" for name in names),
            "",
        ]
    text = "\n".join(lines)
    path = HERE / "api.rst"
    # Rewriting an unchanged file would make Sphinx reread every page.
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


_write_api_reference()
templates_path = ["_templates"]
