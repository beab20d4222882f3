"""The public API, found from the ``__all__`` lists of the public modules.

The API reference of the documentation and the docstring tests both walk it,
so a class or function added to an ``__all__`` is documented and checked
without being listed anywhere else.
"""

import importlib
import inspect
import pkgutil


def public_modules():
    """Names of the public modules: ``sklearn_mtl`` first, then its public
    submodules (no part of the name starts with an underscore), sorted."""
    # Imported here: the package's own modules never import its root.
    package = importlib.import_module("sklearn_mtl")
    names = [
        info.name
        for info in pkgutil.walk_packages(package.__path__, "sklearn_mtl.")
        if not any(part.startswith("_") for part in info.name.split("."))
    ]
    return ["sklearn_mtl", *sorted(names)]


def public_objects():
    """The public classes and functions, each once.

    Returns
    -------
    list of (str, str, object)
        ``(module, name, obj)``: ``obj`` is ``module.name`` for the first
        public module (in :func:`public_modules` order) whose ``__all__``
        lists it, so re-exports such as ``sklearn_mtl.MMoEClassifier`` are
        documented under their shortest path only.
    """
    seen = set()
    found = []
    for module_name in public_modules():
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            obj = getattr(module, name)
            if not (inspect.isclass(obj) or inspect.isfunction(obj)) or id(obj) in seen:
                continue
            seen.add(id(obj))
            found.append((module_name, name, obj))
    return found


def public_module(cls):
    """The public module a class is documented under (see :func:`public_objects`),
    or None when no ``__all__`` lists it."""
    return next((module for module, _, obj in public_objects() if obj is cls), None)
