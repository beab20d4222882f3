"""Every public class and function has a numpydoc docstring whose documented
parameters match its signature, and an Examples section (run as a doctest).

The public API is found from the ``__all__`` lists at run time, so whatever
is added to them is checked too.
"""

import inspect
import re

import pytest

numpydoc_validate = pytest.importorskip("numpydoc.validate")

from sklearn_mtl._discovery import public_objects  # noqa: E402

# numpydoc's codes: GL08 no docstring, SS01 no summary, PR01 a parameter not
# documented, PR02 a documented parameter not in the signature, PR03 wrong
# order, RT01 no Returns section.
CHECKS = ("GL08", "SS01", "PR01", "PR02", "PR03")
#: Checks of the objects themselves (not their methods); EX01: no Examples section.
OBJECT_CHECKS = (*CHECKS, "EX01")
TORCH_INIT = {"*args", "**kwargs"}


def _ours(obj):
    return obj.__module__.startswith("sklearn_mtl")


def _methods(cls):
    """Import paths of the public methods of ``cls`` documented in this package.

    A method is documented where its docstring is: an override without one
    shows its base class's docstring (as in Sphinx and ``help``). torch's
    hooks such as ``forward`` are documented by torch and left out.
    """
    for name, _ in inspect.getmembers(cls, inspect.isfunction):
        if name.startswith("_"):
            continue
        owners = [base for base in cls.__mro__ if name in vars(base)]
        owner = next((b for b in owners if getattr(vars(b)[name], "__doc__", None)), owners[0])
        if _ours(owner):
            yield f"{owner.__module__}.{owner.__qualname__}.{name}"


def _torch_init_arguments(obj, errors):
    # A torch module without its own __init__ has torch's (*args, **kwargs).
    if inspect.isclass(obj) and not _ours(obj.__init__):
        return [
            e for e in errors
            if not (e.startswith("PR01") and set(re.findall(r"'([^']+)'", e)) == TORCH_INIT)
        ]
    return errors


def _documented():
    paths = {}
    for module, name, obj in public_objects():
        paths[f"{module}.{name}"] = (obj, OBJECT_CHECKS)
        if inspect.isclass(obj):
            paths.update({method: (None, CHECKS) for method in _methods(obj)})
    return [pytest.param(path, *params, id=path) for path, params in sorted(paths.items())]


def _errors(import_path, checks):
    result = numpydoc_validate.validate(import_path)
    return [f"{code}: {message}" for code, message in result["errors"] if code in checks]


@pytest.mark.parametrize("import_path, obj, checks", _documented())
def test_docstring(import_path, obj, checks):
    errors = _torch_init_arguments(obj, _errors(import_path, checks))
    assert not errors, f"{import_path}:\n" + "\n".join(errors)


def test_validation_catches_an_undocumented_parameter():
    assert _errors(f"{__name__}._undocumented_example", CHECKS) == [
        "PR01: Parameters {'b'} not documented"
    ]


def _undocumented_example(a, b):
    """Add two numbers.

    Parameters
    ----------
    a : int
        A number.

    Examples
    --------
    >>> _undocumented_example(1, 2)
    3
    """
    return a + b
