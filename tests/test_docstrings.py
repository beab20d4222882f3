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


# ------------------------------------------- shared parameters, written once

from sklearn.utils._testing import assert_docstring_consistency  # noqa: E402

from sklearn_mtl._shared import ATTRIBUTE_DOCS, PARAMETER_DOCS, model_params  # noqa: E402

from ._settings import ESTIMATORS  # noqa: E402


def _notes(kind):
    return {name for Estimator in ESTIMATORS for name in getattr(Estimator, kind, {})}


def test_shared_parameters_read_the_same_in_every_estimator():
    # Entries with a model's own note, or naming the model's layers, differ on purpose.
    varying = _notes("_parameter_notes") | {
        name for name, text in PARAMETER_DOCS.items() if "{layers}" in text
    }
    assert_docstring_consistency(
        ESTIMATORS, include_params=sorted(set(PARAMETER_DOCS) - varying)
    )
    assert_docstring_consistency(
        ESTIMATORS, include_attrs=sorted(set(ATTRIBUTE_DOCS) - _notes("_attribute_notes"))
    )


@pytest.mark.parametrize("Estimator", ESTIMATORS, ids=lambda cls: cls.__name__)
def test_every_parameter_is_documented_once(Estimator):
    from numpydoc.docscrape import ClassDoc

    documented = [p.name for p in ClassDoc(Estimator)["Parameters"]]
    assert documented == list(model_params(Estimator))
    assert "{shared}" not in Estimator.__doc__


def test_warm_start_lists_the_training_parameters():
    from sklearn_mtl._shared import TRAINING_PARAMS

    for Estimator in ESTIMATORS:
        text = " ".join(Estimator.__doc__.split())
        entry = text[text.index("warm_start : bool") :]
        for name in TRAINING_PARAMS:
            assert f"``{name}``" in entry.split("Attributes")[0], (Estimator.__name__, name)
