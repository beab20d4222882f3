"""Write the intersphinx inventories the documentation links against.

The docs build without network access (CI has none), so intersphinx cannot
download ``objects.inv`` from scikit-learn, PyTorch, skorch, pandas and NumPy.
This script writes equivalent inventories from the installed packages: it
walks their public API (``__all__`` of the public modules listed below) and
maps each class, function and method to the page that site's URL scheme gives
it. ``conf.py`` reads the files written here; rerun the script after
upgrading those packages::

    python docs/_inventories/make_inventories.py
"""

import importlib
import inspect
import sys
import zlib
from pathlib import Path

HERE = Path(__file__).parent


def _one_page_per_object(name):
    # scikit-learn, PyTorch, pandas and NumPy give each public object a page
    # named by its dotted path; methods live on their class's page.
    return f"{name}.html#$"


def _skorch_page(name):
    # skorch documents each module on one page: skorch.callbacks.EarlyStopping
    # is on callbacks.html, skorch.net.NeuralNet on net.html.
    module = name.split(".")[1]
    return f"{module}.html#$"


SITES = {
    "sklearn": dict(
        project="scikit-learn",
        prefix="modules/generated/",
        page=_one_page_per_object,
        modules=[
            "sklearn.base", "sklearn.calibration", "sklearn.compose", "sklearn.ensemble",
            "sklearn.exceptions", "sklearn.frozen", "sklearn.impute", "sklearn.inspection",
            "sklearn.isotonic", "sklearn.linear_model",
            "sklearn.metrics", "sklearn.model_selection", "sklearn.multioutput",
            "sklearn.neural_network", "sklearn.pipeline", "sklearn.preprocessing",
            "sklearn.utils",
        ],
        # Glossary terms and user-guide labels cited by the docstrings our
        # estimators inherit (set_fit_request and the other metadata requests).
        references=[
            ("meta-estimator", "std:term", "glossary.html#term-meta-estimator", "-"),
            ("metadata_routing", "std:label", "metadata_routing.html#metadata-routing",
             "Metadata Routing"),
            # set_output, inherited by CategoricalPassthrough.
            ("df_output_transform", "std:label",
             "modules/df_output_transform.html", "Pandas/Polars output for transformers"),
            ("sphx_glr_auto_examples_miscellaneous_plot_set_output.py", "std:label",
             "auto_examples/miscellaneous/plot_set_output.html", "Introducing the set_output API"),
        ],
    ),
    "torch": dict(
        project="PyTorch",
        prefix="generated/",
        page=_one_page_per_object,
        modules=["torch.nn", "torch.optim", "torch.optim.lr_scheduler"],
        extra=["torch.Tensor", "torch.device", "torch.dtype", "torch.sigmoid", "torch.softmax",
               "torch.logsumexp", "torch.save", "torch.load", "torch.compile",
               "torch.set_num_threads", "torch.manual_seed", "torch.cuda.is_available",
               "torch.export.export", "torch.use_deterministic_algorithms"],
    ),
    "skorch": dict(
        project="skorch",
        prefix="",
        page=_skorch_page,
        modules=["skorch.net", "skorch.classifier", "skorch.callbacks", "skorch.history",
                 "skorch.helper", "skorch.dataset"],
    ),
    "pandas": dict(
        project="pandas",
        prefix="reference/api/",
        page=_one_page_per_object,
        modules=["pandas"],
        methods_on_own_page=True,
    ),
    "numpy": dict(
        project="NumPy",
        prefix="reference/generated/",
        page=_one_page_per_object,
        modules=[],
        # numpydoc links the types "array-like" and "scalar" here.
        references=[
            ("array_like", "std:term", "glossary.html#term-array_like", "-"),
            ("arrays.scalars", "std:label", "reference/arrays.scalars.html#arrays-scalars",
             "Scalars"),
        ],
        extra=["numpy.ndarray", "numpy.mean", "numpy.asarray", "numpy.column_stack",
               "numpy.random.RandomState", "numpy.random.default_rng"],
    ),
}


# Python's builtins live on a few fixed pages of its documentation; these are
# the ones numpydoc links parameter types to (bool, int, str, None, ...).
_PYTHON_CLASSES = {
    "bool": "functions", "int": "functions", "float": "functions", "object": "functions",
    "type": "functions", "str": "stdtypes", "list": "stdtypes", "tuple": "stdtypes",
    "dict": "stdtypes", "set": "stdtypes",
}
PYTHON = [
    *((name, "py:class", f"library/{page}.html#{name}", "-")
      for name, page in _PYTHON_CLASSES.items()),
    *((name, "py:data", f"library/constants.html#{name}", "-")
      for name in ("None", "True", "False")),
    ("callable", "py:function", "library/functions.html#callable", "-"),
    *((term, "std:term", f"glossary.html#term-{term}", "-")
      for term in ("iterable", "sequence", "generator", "mapping")),
    ("bltin-boolean-values", "std:label", "library/stdtypes.html#boolean-type-bool",
     "Boolean Type"),
]


SITES["python"] = dict(
    project="Python",
    version="{0.major}.{0.minor}".format(sys.version_info),
    prefix="",
    page=None,
    modules=[],
    references=PYTHON,
)


def _public_names(module):
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return sorted(set(names))


def _entries(package, site):
    objects = {}
    for module_name in site["modules"]:
        module = importlib.import_module(module_name)
        for name in _public_names(module):
            try:
                obj = getattr(module, name, None)
            except ImportError:  # experimental scikit-learn names need an opt-in import
                continue
            if inspect.isclass(obj) or inspect.isfunction(obj) or inspect.isbuiltin(obj):
                objects[f"{module_name}.{name}"] = obj
    for dotted in site.get("extra", []):
        module_name, name = dotted.rsplit(".", 1)
        objects[dotted] = getattr(importlib.import_module(module_name), name)
    rows = []
    for dotted, obj in sorted(objects.items()):
        if inspect.isclass(obj):
            page = site["page"](dotted)
            rows.append((dotted, "py:class", page))
            for member in sorted(vars(obj)):
                if member.startswith("_") or not callable(getattr(obj, member, None)):
                    continue
                method = f"{dotted}.{member}"
                own = site.get("methods_on_own_page")
                rows.append((method, "py:method", site["page"](method) if own else
                             page.replace("#$", f"#{method}")))
        elif callable(obj):
            rows.append((dotted, "py:function", site["page"](dotted)))
        else:
            rows.append((dotted, "py:data", site["page"](dotted)))
    rows = [(name, role, site["prefix"] + uri, "-") for name, role, uri in rows]
    return rows + site.get("references", [])


def write_inventory(package, site):
    version = site.get("version") or importlib.import_module(package).__version__
    header = (
        "# Sphinx inventory version 2\n"
        f"# Project: {site['project']}\n"
        f"# Version: {version}\n"
        "# The remainder of this file is compressed using zlib.\n"
    )
    body = "".join(
        f"{name} {role} {-1 if role.startswith('std:') else 1} {uri} {display}\n"
        for name, role, uri, display in _entries(package, site)
    )
    path = HERE / f"{package}.inv"
    path.write_bytes(header.encode() + zlib.compress(body.encode(), 9))
    return path, body.count("\n")


if __name__ == "__main__":
    for package, site in SITES.items():
        path, n = write_inventory(package, site)
        print(f"{path.name}: {n} entries")

