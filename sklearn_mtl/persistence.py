"""Save and load fitted estimators as data: nothing in a file is executed on load.

An archive is one zip file of JSON and ``.npy`` members:

- ``manifest.json``: the format version, the versions of sklearn_mtl, torch,
  NumPy and scikit-learn that wrote it, the estimator class
  (``module:qualname``) and the SHA-256 of every other member;
- ``params.json``: the estimator's ``get_params(deep=False)``;
- ``state.json``: its fitted attributes (encoders, tasks, classes...);
- ``network.json``: the state dicts of the network, its loss and its
  loss-weighting strategy, the optimizer's state and the training history;
- ``arrays/<n>.npy``: every numeric array and tensor, read with
  ``allow_pickle=False``;
- ``pipeline.json``, for a Pipeline ending in the estimator: the steps
  before it and the Pipeline's parameters (format version 2).

The JSON members hold values of a small allowlist (see :func:`_encode`):
containers, numbers, strings, NumPy arrays and scalars, torch dtypes and
tensors, pandas indexes, slices, objects of classes defined in
sklearn_mtl and, in a Pipeline's steps, scikit-learn estimators (classes of
``sklearn.*`` modules), restored through ``cls.__new__`` and their state,
never through a constructor named by the file.
"""

import hashlib
import importlib
import inspect
import io
import json
import os
import secrets
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import torch
from sklearn.base import BaseEstimator
from sklearn.pipeline import Pipeline
from sklearn.utils.validation import check_is_fitted

from ._pipeline import final_estimator
from ._training import TrainingSession
from ._versions import current_version, warn_if_other_version
from .loss_weighting import LossWeighting

__all__ = ["load", "save"]

#: The archive layout this module writes; :func:`load` reads this one and older.
#: Version 2 adds a Pipeline's steps; an estimator alone is still written as 1.
FORMAT_VERSION = 2

_FORMAT_NAME = "sklearn_mtl.persistence"
_MANIFEST = "manifest.json"
_PARAMS = "params.json"
_STATE = "state.json"
_NETWORK = "network.json"
_ARRAYS = "arrays/"
_PIPELINE = "pipeline.json"

#: Array dtypes that ``np.save`` writes without pickling: booleans, numbers,
#: dates and durations, fixed-width strings.
_NPY_KINDS = frozenset("biufcmMUS")

#: Python values JSON holds as they are.
_PRIMITIVES = (str, int, float, bool, type(None))

#: The fitted attributes kept in network.json, not state.json.
_NETWORK_ATTRIBUTES = ("net_", "history_")
#: Not saved: scikit-learn's callbacks (``set_callbacks``) are objects that act
#: during a fit, not a part of the fitted model; a loaded estimator has none.
_UNSAVED_ATTRIBUTES = ("_skl_callbacks",)


def save(estimator, path):
    """Save a fitted estimator to one file that :func:`load` reads back.

    The file is a zip archive of JSON and NumPy ``.npy`` members: the
    parameters, the fitted attributes, the weights and optimizer state of
    the network, and the training history, with the SHA-256 of each member
    and the versions that wrote it. Unlike a pickle, loading it runs no
    code from the file.

    Parameters
    ----------
    estimator : estimator of sklearn_mtl or Pipeline
        A fitted estimator of this package, or a fitted Pipeline ending in
        one whose other steps are scikit-learn's or this package's
        transformers (e.g. a ColumnTransformer of scalers and encoders).
    path : str or path-like
        Where to write the archive (replaced if it exists; written whole or
        not at all).

    Raises
    ------
    TypeError
        If ``estimator`` is not one of this package's estimators (or a
        Pipeline ending in one), or if a parameter or fitted attribute holds
        a value that cannot be stored as data, such as a callback object, a
        function (a FunctionTransformer's) or a class from another library:
        the message names it.
    sklearn.exceptions.NotFittedError
        If ``estimator`` is not fitted.

    See Also
    --------
    load : Read the estimator back.

    Examples
    --------
    >>> import tempfile, zipfile
    >>> from pathlib import Path
    >>> from sklearn_mtl import ESMMClassifier
    >>> from sklearn_mtl.datasets import make_funnel
    >>> from sklearn_mtl.persistence import save
    >>> funnel = make_funnel(n_samples=500, random_state=0)
    >>> model = ESMMClassifier(max_epochs=1, random_state=0).fit(funnel.data, funnel.target)
    >>> path = Path(tempfile.mkdtemp()) / "esmm.zip"
    >>> save(model, path)
    >>> sorted(name for name in zipfile.ZipFile(path).namelist() if name.endswith(".json"))
    ['manifest.json', 'network.json', 'params.json', 'state.json']
    """
    pipeline, estimator = estimator, final_estimator(estimator)
    _check_estimator_class(type(estimator))
    check_is_fitted(estimator)
    writer = _ArchiveWriter()
    steps = {} if pipeline is estimator else {_PIPELINE: _json_bytes(_pipeline_state(pipeline, writer))}
    params = {
        name: _encode(value, writer, f"parameter {name!r}")
        for name, value in estimator.get_params(deep=False).items()
    }
    state = {
        name: _encode(value, writer, f"fitted attribute {name!r}")
        for name, value in vars(estimator).items()
        if name not in params and name not in _NETWORK_ATTRIBUTES + _UNSAVED_ATTRIBUTES
    }
    network = _encode(_network_state(estimator.net_), writer, "the network")
    members = {
        _PARAMS: _json_bytes(params),
        _STATE: _json_bytes(state),
        _NETWORK: _json_bytes(network),
        **steps,
        **writer.members,
    }
    manifest = {
        "format": _FORMAT_NAME,
        # Older versions read an estimator alone; one that ignored the steps would
        # return the final estimator in place of the Pipeline.
        "format_version": FORMAT_VERSION if steps else 1,
        "estimator": _class_path(type(estimator)),
        "versions": {
            "sklearn_mtl": current_version(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "scikit-learn": sklearn.__version__,
        },
        "sha256": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
    }
    _write_atomically(Path(path), {_MANIFEST: _json_bytes(manifest), **members})


def load(path):
    """Load an estimator saved by :func:`save`.

    Every member is checked against its SHA-256 in the manifest before
    anything is decoded; arrays are read with ``allow_pickle=False``;
    objects are restored only for classes defined in sklearn_mtl, and the
    network is rebuilt by the estimator's own code around the stored
    weights. Nothing from the file is executed.

    Parameters
    ----------
    path : str or path-like
        An archive written by :func:`save`.

    Returns
    -------
    estimator : estimator of sklearn_mtl or Pipeline
        The fitted estimator: same parameters, predictions and history; a
        ``partial_fit`` or ``warm_start`` fit continues from its optimizer
        state. A saved Pipeline comes back as a Pipeline.

    Raises
    ------
    ValueError
        If the file is not such an archive, is truncated or corrupted, a
        member does not match its checksum, a weight is not finite, the
        estimator class is not one of sklearn_mtl's, or the archive's format
        is newer than this version reads. The message names the file.

    Warns
    -----
    sklearn.exceptions.InconsistentVersionWarning
        If the archive was written by another version of sklearn_mtl.

    See Also
    --------
    save : Write an archive.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> from sklearn_mtl import MMoEClassifier
    >>> from sklearn_mtl.datasets import load_census_income
    >>> from sklearn_mtl.persistence import load, save
    >>> X, Y = load_census_income(return_X_y=True)
    >>> model = MMoEClassifier(max_epochs=1, random_state=0).fit(X[:500], Y[:500])
    >>> path = Path(tempfile.mkdtemp()) / "mmoe.zip"
    >>> save(model, path)
    >>> loaded = load(path)
    >>> loaded.get_params() == model.get_params()
    True
    >>> (loaded.predict_proba_frame(X[:5]) == model.predict_proba_frame(X[:5])).all().all()
    np.True_
    """
    path = Path(path)
    members, manifest = _read_archive(path)
    cls = _resolve_class(manifest["estimator"], path)
    _check_estimator_class(cls)
    warn_if_other_version(
        manifest["versions"]["sklearn_mtl"], cls.__name__, f"archive {path.name}"
    )
    reader = _ArchiveReader(members, path)
    try:
        params = {name: _decode(value, reader) for name, value in _json(members, _PARAMS).items()}
        state = {name: _decode(value, reader) for name, value in _json(members, _STATE).items()}
        network = _decode(_json(members, _NETWORK), reader)
        steps = _decode(_json(members, _PIPELINE), reader) if _PIPELINE in members else None
        estimator = cls(**params)
    except _CorruptArchive:
        raise
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as error:
        raise _corrupt(path, f"a member does not decode ({error!r})") from error
    misplaced = sorted(set(state) & (set(params) | set(_NETWORK_ATTRIBUTES)))
    if misplaced:
        raise _corrupt(path, f"its fitted state sets {misplaced}, which it does not hold")
    _check_network(network, path)
    vars(estimator).update(state)
    _rebuild_network(estimator, network, path)
    return estimator if steps is None else _rebuild_pipeline(steps, estimator, path)


def _pipeline_state(pipeline, writer):
    """A fitted Pipeline's steps before its final estimator, and its parameters."""
    *steps, (name, _) = pipeline.steps
    if isinstance(pipeline.steps[-1][1], Pipeline):
        raise TypeError(
            "save takes a Pipeline whose last step is the sklearn_mtl estimator itself, "
            "not a nested Pipeline; flatten it (make_pipeline(*outer[:-1], *inner))."
        )
    params = {k: v for k, v in pipeline.get_params(deep=False).items() if k != "steps"}
    state = {"steps": [tuple(step) for step in steps], "final_step": name, "params": params}
    return _encode(state, writer, "the Pipeline")


def _rebuild_pipeline(steps, estimator, path):
    try:
        return Pipeline([*steps["steps"], (steps["final_step"], estimator)], **steps["params"])
    except (KeyError, TypeError, ValueError) as error:
        raise _corrupt(path, f"its Pipeline does not decode ({error!r})") from error


# ----------------------------------------------------------------- estimator


def _check_estimator_class(cls):
    from ._base import BaseMultiTaskClassifier

    if not (isinstance(cls, type) and issubclass(cls, BaseMultiTaskClassifier)):
        name = getattr(cls, "__name__", repr(cls))
        raise TypeError(
            f"sklearn_mtl.persistence saves this package's estimators, or Pipelines "
            f"ending in one, not {name}."
        )
    if not _is_ours(cls.__module__):
        raise TypeError(
            f"{_class_path(cls)} subclasses a sklearn_mtl estimator outside sklearn_mtl; "
            "load restores sklearn_mtl's own classes only, so it could not read the file "
            "back. Save an instance of the sklearn_mtl class it extends, or pickle it."
        )


def _network_state(net):
    """The fitted skorch net as data: state dicts, the optimizer's state and
    the batch sizes that the net predicts with."""
    optimizer = net.optimizer_.state_dict()
    try:
        _encode(optimizer, _ArchiveWriter(dry_run=True), "the optimizer state")
    except TypeError:
        # A custom optimizer may keep more than tensors and numbers: a continued
        # fit after load then starts its optimizer afresh.
        optimizer = None
    return {
        "module": net.module_.state_dict(),
        "criterion": net.criterion_.state_dict(),
        "loss_weighting": net.loss_weighting_.state_dict(),
        "optimizer": optimizer,
        "batch_size": net.batch_size,
        "valid_batch_size": net.iterator_valid__batch_size,
        "history": list(net.history_),
    }


def _rebuild_network(estimator, network, path):
    """Build ``estimator.net_`` around the stored state with the estimator's
    own code, as ``fit`` builds it. Every call into estimator internals is
    here, so that a change of the fit path changes this function only."""
    session = TrainingSession(estimator, continuing=False)
    # The new parts' random initial weights are overwritten: the caller's RNG stays as it was.
    with torch.random.fork_rng(devices=[]):
        parts = estimator._new_parts(estimator.embedding_init_std_, estimator._feature_encoder)
    for name, part in zip(("module", "criterion", "loss_weighting"), parts):
        try:
            part.load_state_dict(network[name])
        except (RuntimeError, KeyError) as error:
            raise _corrupt(path, f"its {name} weights do not fit the network") from error
    module, criterion, loss_weighting = parts
    # Buffers of the loss and its weighting may hold NaN by design (e.g.
    # GradNorm's "no loss seen yet"); the network's may not.
    _check_finite(path, "network", module.state_dict())
    _check_finite(path, "loss", dict(criterion.named_parameters()))
    _check_finite(path, "loss weighting", dict(loss_weighting.named_parameters()))
    net = session.restore(
        parts,
        batch_size=network["batch_size"],
        valid_batch_size=network["valid_batch_size"],
        history=network["history"],
    )
    if network["optimizer"] is not None:
        for index, state in network["optimizer"]["state"].items():
            _check_finite(path, f"the optimizer state of parameter {index}", state)
        try:
            net.optimizer_.load_state_dict(network["optimizer"])
        except (ValueError, KeyError) as error:
            raise _corrupt(path, "its optimizer state does not fit the network") from error
    estimator.net_ = net
    estimator.history_ = net.history_


def _check_network(network, path):
    """Refuse a network.json that does not have the layout that save writes."""
    parts = ("module", "criterion", "loss_weighting")
    optimizer = network.get("optimizer") if isinstance(network, dict) else None
    valid = (
        isinstance(network, dict)
        and all(isinstance(network.get(part), dict) for part in parts)
        and all(isinstance(network.get(key), int) for key in ("batch_size", "valid_batch_size"))
        and isinstance(network.get("history"), list)
        and all(isinstance(epoch, dict) for epoch in network["history"])
        and (optimizer is None or isinstance(optimizer, dict))
        and (optimizer is None or isinstance(optimizer.get("state"), dict))
    )
    if not valid:
        raise _corrupt(path, f"its {_NETWORK} does not describe a network")


def _check_finite(path, what, tensors):
    """Refuse NaN or infinity in the floating-point tensors of ``tensors``."""
    for name, value in tensors.items():
        if (
            isinstance(value, torch.Tensor)
            and value.is_floating_point()
            and not torch.isfinite(value).all()
        ):
            raise ValueError(
                f"{path} holds non-finite values in {what} {name!r}: a model saved from "
                "a diverged fit, or a corrupted file. Refit the model and save it again."
            )


# ------------------------------------------------------------------ archive


def _json_bytes(value):
    # Keys keep their order: a shared value is written where it first occurs
    # and referred to after, in the order that load decodes.
    return json.dumps(value, separators=(",", ":")).encode()


def _json(members, name):
    return json.loads(members[name])


def _write_atomically(path, members):
    """Write the archive beside ``path``, then move it there: an interrupted
    save leaves no half-written file at ``path``."""
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    try:
        with open(temporary, "xb") as file, zipfile.ZipFile(file, "w") as zf:
            for name, data in members.items():
                # Trained float weights barely compress: deflating the arrays took
                # most of a save's time for under a third of the file's size.
                method = zipfile.ZIP_STORED if name.startswith(_ARRAYS) else zipfile.ZIP_DEFLATED
                zf.writestr(name, data, compress_type=method)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


class _CorruptArchive(ValueError):
    """A file that is not a readable archive (raised as a ValueError)."""


def _corrupt(path, what):
    return _CorruptArchive(
        f"{path} is not a readable sklearn_mtl archive: {what}. Save the estimator again "
        "with sklearn_mtl.persistence.save, or check where the file came from."
    )


def _read_archive(path):
    """The checked members of the archive, and its manifest."""
    if not path.is_file():
        raise FileNotFoundError(f"No file {path}.")
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if len(set(names)) != len(names):
                raise _corrupt(path, "it holds a member twice")
            members = {name: zf.read(name) for name in names}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError) as error:
        raise _corrupt(path, f"not a complete zip archive ({error})") from error
    if _MANIFEST not in members:
        raise _corrupt(path, f"it has no {_MANIFEST}")
    try:
        manifest = _json(members, _MANIFEST)
        format_name, format_version = manifest["format"], manifest["format_version"]
        checksums = {str(name): str(digest) for name, digest in manifest["sha256"].items()}
        fields = [manifest["estimator"], manifest["versions"]["sklearn_mtl"]]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise _corrupt(path, f"its {_MANIFEST} is not a manifest ({error!r})") from error
    if format_name != _FORMAT_NAME or not isinstance(format_version, int):
        raise _corrupt(path, f"its {_MANIFEST} names format {format_name!r}")
    if not all(isinstance(field, str) for field in fields):
        raise _corrupt(path, f"its {_MANIFEST} names no estimator class or version")
    if format_version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has archive format version {format_version}, newer than this version "
            f"of sklearn_mtl ({current_version()}) reads (up to {FORMAT_VERSION}). Load it "
            "with a newer sklearn_mtl."
        )
    expected = set(checksums) | {_MANIFEST}
    if set(members) != expected:
        missing, extra = sorted(expected - set(members)), sorted(set(members) - expected)
        raise _corrupt(path, f"members missing {missing}, unexpected {extra}")
    for name, digest in checksums.items():
        if hashlib.sha256(members[name]).hexdigest() != digest:
            raise ValueError(
                f"{path}: member {name} does not match its SHA-256 checksum in the "
                "manifest: the file was changed or damaged after it was saved. Do not "
                "use it; save the estimator again."
            )
    return members, manifest


class _ArchiveWriter:
    """Collects the ``.npy`` members of an archive being written, and the
    values written so far, so that a value shared by two attributes (the
    same object, e.g. a parameter kept in ``_structure``) is written once and
    loads shared, as pickle keeps it."""

    def __init__(self, *, dry_run=False):
        self.members = {}
        self.ids = {}
        # Holding every value written keeps its id from being reused.
        self.written = []
        # A dry run only checks that a value can be written, without the arrays.
        self.dry_run = dry_run

    def shared(self, value):
        """The number of ``value`` if it was written before, else None."""
        return self.ids.get(id(value))

    def number(self, value):
        self.ids[id(value)] = len(self.written)
        self.written.append(value)
        return self.ids[id(value)]

    def add(self, array):
        name = f"{_ARRAYS}{len(self.members)}.npy"
        if self.dry_run:
            return name
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
        self.members[name] = buffer.getvalue()
        return name


class _ArchiveReader:
    """Reads the ``.npy`` members of a checked archive, never unpickling, and
    keeps the values decoded so far for the references to them."""

    def __init__(self, members, path):
        self.members, self.path = members, path
        self.values = {}

    def get(self, name):
        if not (isinstance(name, str) and name.startswith(_ARRAYS) and name in self.members):
            raise _corrupt(self.path, f"it refers to a missing array {name!r}")
        try:
            return np.load(io.BytesIO(self.members[name]), allow_pickle=False)
        except ValueError as error:
            raise _corrupt(self.path, f"array {name} does not read ({error})") from error


# ------------------------------------------------------------------ classes


def _class_path(cls):
    return f"{cls.__module__}:{cls.__qualname__}"


def _is_ours(module_name):
    return module_name == "sklearn_mtl" or module_name.startswith("sklearn_mtl.")


def _is_scikit_learn(module_name):
    return module_name.startswith("sklearn.")


def _resolve_class(class_path, path, allowed=_is_ours):
    """The class that ``module:qualname`` names, if its module is ``allowed``
    (sklearn_mtl's); any other is refused."""
    module_name, _, qualname = str(class_path).partition(":")
    refused = ValueError(
        f"{path} names the class {class_path!r}, which is not a class of sklearn_mtl: "
        "only sklearn_mtl's own classes (and scikit-learn's estimators in a Pipeline's "
        "steps) are restored from an archive."
    )
    if not allowed(module_name) or not qualname:
        raise refused
    try:
        obj = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as error:
        raise refused from error
    if not (isinstance(obj, type) and _class_path(obj) == class_path):
        raise refused
    return obj


# ------------------------------------------------------------------- walker
#
# Encoded values are JSON: str, int, float, bool and None as they are, lists
# of encoded values, and objects {"$": tag, ...} for everything else, decoded
# by the codec registered under the tag. A value that no codec takes is a
# TypeError naming where it is.


def _encode(value, writer, where):
    if type(value) in _PRIMITIVES:
        return value
    if type(value) is list:
        return [_encode(item, writer, f"{where}[{i}]") for i, item in enumerate(value)]
    for codec in _CODECS.values():
        if not codec.takes(value):
            continue
        if not codec.shareable:
            return {"$": codec.tag, **codec.encode(value, writer, where)}
        number = writer.shared(value)
        if number is not None:
            return {"$": "ref", "id": number}
        number = writer.number(value)
        return {"$": codec.tag, "id": number, **codec.encode(value, writer, where)}
    raise TypeError(
        f"{where} holds {_describe(value)}, which cannot be stored as data. Set it to a "
        "plain value (None, a name, a number, a list) before saving, or pickle the estimator "
        "(pickle runs code on load: only from sources you trust)."
    )


def _decode(value, reader):
    if isinstance(value, list):
        return [_decode(item, reader) for item in value]
    if not isinstance(value, dict):
        return value
    tag = value.get("$")
    if tag == "ref":
        if value["id"] not in reader.values:
            raise _corrupt(reader.path, f"it refers to value {value['id']!r} before it is read")
        return reader.values[value["id"]]
    codec = _CODECS.get(tag)
    if codec is None:
        raise _corrupt(reader.path, f"unknown value type {tag!r}")
    decoded = codec.decode(value, reader)
    if codec.shareable:
        reader.values[value["id"]] = decoded
    return decoded


def _describe(value):
    cls = type(value)
    if inspect.isfunction(value) or inspect.ismethod(value):
        return f"the function {getattr(value, '__qualname__', value)!r}"
    if isinstance(value, type):
        return f"the class {_class_path(value)}"
    return f"a {cls.__module__}.{cls.__qualname__} object"


class _Codec:
    """How one kind of value is written as JSON (and arrays) and read back."""

    tag = None
    #: Whether the value may be shared (an object, an array...), not a plain constant.
    shareable = True

    def takes(self, value):
        raise NotImplementedError

    def encode(self, value, writer, where):
        raise NotImplementedError

    def decode(self, data, reader):
        raise NotImplementedError


class _Items(_Codec):
    """Tuples and sets: their items in order."""

    def __init__(self, cls):
        self.cls, self.tag = cls, cls.__name__

    def takes(self, value):
        return type(value) is self.cls

    def encode(self, value, writer, where):
        return {"items": [_encode(item, writer, f"{where}[{i}]") for i, item in enumerate(value)]}

    def decode(self, data, reader):
        return self.cls(_decode(item, reader) for item in data["items"])


class _Dict(_Codec):
    """Dicts (and the OrderedDicts of state dicts) with any keys of the
    allowlist, in order."""

    def __init__(self, cls):
        self.cls, self.tag = cls, cls.__name__

    def takes(self, value):
        return type(value) is self.cls

    def encode(self, value, writer, where):
        return {
            "items": [
                [_encode(k, writer, f"{where} key"), _encode(v, writer, f"{where}[{k!r}]")]
                for k, v in value.items()
            ]
        }

    def decode(self, data, reader):
        return self.cls((_decode(k, reader), _decode(v, reader)) for k, v in data["items"])


class _Array(_Codec):
    """NumPy arrays: numbers, booleans, dates and fixed-width strings as
    ``.npy`` members; object arrays item by item."""

    tag = "ndarray"

    def takes(self, value):
        return type(value) is np.ndarray

    def encode(self, value, writer, where):
        if value.dtype.kind in _NPY_KINDS:
            return {"npy": writer.add(value)}
        if value.dtype != object:
            raise TypeError(f"{where} is an array of dtype {value.dtype}, which is not stored.")
        items = [_encode(_scalar(item, where), writer, where) for item in value.ravel()]
        return {"shape": list(value.shape), "items": items}

    def decode(self, data, reader):
        if "npy" in data:
            return reader.get(data["npy"])
        array = np.empty(len(data["items"]), dtype=object)
        array[:] = [_decode(item, reader) for item in data["items"]]
        return array.reshape(data["shape"])


def _scalar(item, where):
    """An object array's item, if it is a plain scalar."""
    if type(item) in _PRIMITIVES or isinstance(item, np.generic):
        return item
    raise TypeError(
        f"{where} is an object array holding {_describe(item)}; only strings, numbers, "
        "booleans and None are stored."
    )


class _NumpyScalar(_Codec):
    """NumPy scalars: booleans and real numbers in the JSON (exactly: a
    float's repr reads back to the same value), others as 0-d arrays."""

    tag = "numpy_scalar"
    shareable = False

    def takes(self, value):
        return isinstance(value, np.generic) and value.dtype.kind in _NPY_KINDS

    def encode(self, value, writer, where):
        if value.dtype.kind in "biuf":
            return {"dtype": value.dtype.str, "value": value.item()}
        return {"npy": writer.add(np.asarray(value))}

    def decode(self, data, reader):
        if "npy" in data:
            return reader.get(data["npy"])[()]
        dtype = np.dtype(str(data["dtype"]))
        if dtype.kind not in "biuf":
            raise _corrupt(reader.path, f"a number of dtype {dtype}")
        return dtype.type(data["value"])


class _NumpyDtype(_Codec):
    tag = "numpy_dtype"
    shareable = False

    def takes(self, value):
        return isinstance(value, np.dtype) and (value.kind in _NPY_KINDS or value == object)

    def encode(self, value, writer, where):
        return {"str": value.str}

    def decode(self, data, reader):
        return np.dtype(str(data["str"]))


class _TorchDtype(_Codec):
    tag = "torch_dtype"
    shareable = False

    def takes(self, value):
        return isinstance(value, torch.dtype)

    def encode(self, value, writer, where):
        return {"name": str(value).removeprefix("torch.")}

    def decode(self, data, reader):
        dtype = getattr(torch, str(data["name"]), None)
        if not isinstance(dtype, torch.dtype):
            raise _corrupt(reader.path, f"unknown torch dtype {data['name']!r}")
        return dtype


class _Tensor(_Codec):
    """Dense CPU-movable tensors of a dtype NumPy has."""

    tag = "tensor"

    def takes(self, value):
        return isinstance(value, torch.Tensor) and not value.is_sparse

    def encode(self, value, writer, where):
        try:
            array = value.detach().cpu().numpy()
        except TypeError as error:
            raise TypeError(f"{where} is a tensor of dtype {value.dtype}, not stored.") from error
        return {"npy": writer.add(array)}

    def decode(self, data, reader):
        return torch.from_numpy(reader.get(data["npy"]))


class _PandasIndex(_Codec):
    """A pandas Index (e.g. a vocabulary's categories), by values and dtype."""

    tag = "pandas_index"

    def takes(self, value):
        return type(value) is pd.Index

    def encode(self, value, writer, where):
        values = value.to_numpy()
        return {
            "values": _encode(values, writer, f"{where} values"),
            "dtype": str(value.dtype),
            "name": _encode(value.name, writer, f"{where} name"),
        }

    def decode(self, data, reader):
        values = _decode(data["values"], reader)
        return pd.Index(values, dtype=str(data["dtype"]), name=_decode(data["name"], reader))


class _OptimizerClass(_Codec):
    """An optimizer given as a class of :mod:`torch.optim`, by name."""

    tag = "torch_optimizer"
    shareable = False

    def takes(self, value):
        return (
            isinstance(value, type)
            and issubclass(value, torch.optim.Optimizer)
            and getattr(torch.optim, value.__name__, None) is value
        )

    def encode(self, value, writer, where):
        return {"name": value.__name__}

    def decode(self, data, reader):
        optimizer = getattr(torch.optim, str(data["name"]), None)
        if not self.takes(optimizer):
            raise _corrupt(reader.path, f"unknown torch.optim class {data['name']!r}")
        return optimizer


class _LossWeightingConfig(_Codec):
    """A loss-weighting strategy given as a parameter (not yet set up), by
    its class and constructor arguments."""

    tag = "loss_weighting"

    def takes(self, value):
        return isinstance(value, LossWeighting) and _is_ours(type(value).__module__)

    def encode(self, value, writer, where):
        if any(True for _ in value.parameters()) or any(True for _ in value.buffers()):
            raise TypeError(f"{where} is a loss weighting that was set up; pass a new one.")
        names = [
            name
            for name, parameter in inspect.signature(type(value)).parameters.items()
            if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
        ]
        return {
            "class": _class_path(type(value)),
            "arguments": {n: _encode(getattr(value, n), writer, f"{where}.{n}") for n in names},
        }

    def decode(self, data, reader):
        cls = _resolve_class(data["class"], reader.path)
        if not issubclass(cls, LossWeighting):
            raise _corrupt(reader.path, f"{data['class']} is not a loss weighting")
        return cls(**{n: _decode(v, reader) for n, v in data["arguments"].items()})


class _SklearnMtlObject(_Codec):
    """An instance of a plain class of sklearn_mtl (an encoder, a task
    target): its class path and the attributes it pickles."""

    tag = "object"

    def takes(self, value):
        cls = type(value)
        return _is_ours(cls.__module__) and hasattr(value, "__dict__") and self.takes_class(cls)

    def encode(self, value, writer, where):
        state = value.__getstate__()
        if not isinstance(state, dict):
            raise TypeError(f"{where} is {_describe(value)} that does not pickle as a dict.")
        return {
            "class": _class_path(type(value)),
            "state": {k: _encode(v, writer, f"{where}.{k}") for k, v in state.items()},
        }

    def decode(self, data, reader):
        cls = _resolve_class(data["class"], reader.path)
        if not self.takes_class(cls):
            raise _corrupt(reader.path, f"{data['class']} is not restored from data")
        obj = cls.__new__(cls)
        vars(obj).update({k: _decode(v, reader) for k, v in data["state"].items()})
        return obj

    @staticmethod
    def takes_class(cls):
        # Modules and estimators carry more than data (hooks, a network): they
        # have their own codecs or are refused.
        return not issubclass(cls, (torch.nn.Module, BaseEstimator, BaseException, type))


class _Slice(_Codec):
    """A slice (a ColumnTransformer's output columns)."""

    tag = "slice"
    shareable = False

    def takes(self, value):
        return type(value) is slice

    def encode(self, value, writer, where):
        return {"bounds": [_encode(v, writer, where) for v in (value.start, value.stop, value.step)]}

    def decode(self, data, reader):
        bounds = [_decode(v, reader) for v in data["bounds"]]
        if not all(v is None or type(v) is int for v in bounds):
            raise _corrupt(reader.path, f"a slice of {bounds!r}")
        return slice(*bounds)


class _NumpyType(_Codec):
    """A NumPy scalar type given as a parameter (e.g. OneHotEncoder's ``dtype``)."""

    tag = "numpy_type"
    shareable = False

    def takes(self, value):
        return isinstance(value, type) and issubclass(value, np.generic) and (
            np.dtype(value).kind in _NPY_KINDS
        )

    def encode(self, value, writer, where):
        return {"str": np.dtype(value).str}

    def decode(self, data, reader):
        return np.dtype(str(data["str"])).type


class _ScikitLearnEstimator(_Codec):
    """A step of a Pipeline: an estimator of scikit-learn (or a transformer of
    sklearn_mtl), by its class path and the state it pickles, restored
    through ``__new__`` and ``__setstate__``."""

    tag = "estimator"

    def takes(self, value):
        return isinstance(value, BaseEstimator) and self.takes_class(type(value))

    def encode(self, value, writer, where):
        return {
            "class": _class_path(type(value)),
            "state": _encode(value.__getstate__(), writer, f"{where} ({type(value).__name__})"),
        }

    def decode(self, data, reader):
        cls = _resolve_class(data["class"], reader.path, allowed=self.allowed)
        if not self.takes_class(cls):
            raise _corrupt(reader.path, f"{data['class']} is not restored from data")
        obj = cls.__new__(cls)
        obj.__setstate__(_decode(data["state"], reader))
        return obj

    @staticmethod
    def allowed(module_name):
        return _is_scikit_learn(module_name) or _is_ours(module_name)

    @classmethod
    def takes_class(cls, estimator_class):
        from ._base import BaseMultiTaskClassifier

        # A multi-task estimator holds a network: it is the archive's estimator, not a step.
        return (
            isinstance(estimator_class, type)
            and issubclass(estimator_class, BaseEstimator)
            and not issubclass(estimator_class, BaseMultiTaskClassifier)
            and cls.allowed(estimator_class.__module__)
        )


_CODECS = {
    codec.tag: codec
    for codec in (
        _Dict(dict),
        _Dict(OrderedDict),
        _Items(tuple),
        _Items(set),
        _Items(frozenset),
        _Array(),
        _NumpyScalar(),
        _NumpyDtype(),
        _TorchDtype(),
        _Tensor(),
        _PandasIndex(),
        _OptimizerClass(),
        _LossWeightingConfig(),
        _SklearnMtlObject(),
        _Slice(),
        _NumpyType(),
        _ScikitLearnEstimator(),
    )
}
