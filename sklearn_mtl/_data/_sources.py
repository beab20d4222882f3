"""Where the rows of a fit come from: a table in memory, or chunks read out of core.

A source owns every step between the user's data and the host tensors that
a training session trains on: the input checks, the set-up of the tasks on a
first fit, the fitting (or, for ``partial_fit``, the updating) of the
feature encoder, the validation split and the tensors. ``fit``,
``partial_fit`` and ``warm_start`` differ only in what they ask of a source;
:meth:`read` gives a :class:`SourceData` that the training session splits
and trains on.

The functions here that take ``model`` read its parameters and set its
input-side fitted attributes (``n_features_in_``, ``is_categorical_``, the
tasks); the estimator calls them for prediction too.
"""

import copy

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.utils import check_array
from sklearn.utils.validation import _check_sample_weight, validate_data

from .._targets import TASK_TYPES, align_task_columns, check_task_types, task_columns
from ._columns import check_category_codes, resolve_categorical_mask
from ._encoding import FeatureEncoder, multi_valued_mask
from ._tensors import TensorData, module_inputs, split_validation
from ._validation import check_container, check_sample_weight_range

#: Data sets larger than this get early stopping when ``early_stopping="auto"``.
AUTO_EARLY_STOPPING_MIN_SAMPLES = 10_000


def check_features(model, X, *, reset):
    """``X`` checked as ``model`` takes it; on ``reset`` (a first fit) it
    also sets which columns are categorical."""
    X = check_container(X)
    if sp.issparse(X):
        raise TypeError(
            "Sparse input is not supported: densify it first (.toarray()), or use "
            "dense encoder output, e.g. OneHotEncoder(sparse_output=False)."
        )
    if isinstance(X, pd.DataFrame):
        if X.shape[0] == 0 or X.shape[1] == 0:
            raise ValueError(
                f"Found array with {X.shape[0]} sample(s) and {X.shape[1]} feature(s) "
                f"(shape={X.shape}) while a minimum of 1 of each is required."
            )
    else:
        X = check_array(X, dtype=None, ensure_all_finite=False, input_name="X", estimator=model)
    validate_data(model, X, reset=reset, skip_check_array=True)
    if reset:
        names = getattr(model, "feature_names_in_", None)
        model.is_categorical_ = resolve_categorical_mask(X, model.categorical_features, names)
        if isinstance(model.categorical_features, str):  # "from_dtype": lists too
            model.is_categorical_ |= multi_valued_mask(X)
        check_category_codes(X, model.is_categorical_, names)
    return X


def aligned_task_columns(model, Y):
    """``Y``'s columns in the order of the fitted tasks."""
    columns = align_task_columns(Y, list(model.task_names_))
    if len(columns) != model.n_tasks_:
        raise ValueError(
            f"Y has {len(columns)} task(s) but {type(model).__name__} was "
            f"fitted with {model.n_tasks_} ({list(model.task_names_)}); the "
            "number of tasks cannot change between calls."
        )
    return columns


def uses_early_stopping(model, n_samples):
    if model.early_stopping == "auto":
        return n_samples > AUTO_EARLY_STOPPING_MIN_SAMPLES
    return model.early_stopping


def _check_sample_weight_of(sample_weight, X):
    if sample_weight is None:
        return None
    sample_weight = _check_sample_weight(
        sample_weight, X, dtype=np.float64, ensure_non_negative=True, copy=True
    )
    if not sample_weight.any():
        raise ValueError("Sample weights must contain at least one non-zero number.")
    check_sample_weight_range(sample_weight)
    return sample_weight


def _check_rows(columns, X):
    if len(columns[0]) != X.shape[0]:
        raise ValueError(
            f"Y has {len(columns[0])} rows but X has {X.shape[0]}: they must "
            "describe the same samples."
        )


def _checked(model, X, Y, sample_weight, *, first):
    """Checked features, label columns and weights of one table; on the
    ``first`` table of a new fit, the task names read from ``Y`` too."""
    X = check_features(model, X, reset=first)
    columns, names = task_columns(Y) if first else (aligned_task_columns(model, Y), None)
    _check_rows(columns, X)
    return X, columns, names, _check_sample_weight_of(sample_weight, X)


def _set_tasks(model, columns, task_names, classes, sample_weight):
    task_types = check_task_types(model.task_types, task_names)
    if classes is None:
        classes = [None] * len(columns)
    else:
        classes = [classes] if len(columns) == 1 and np.ndim(classes[0]) == 0 else classes
        if len(classes) != len(columns):
            raise ValueError(
                f"classes has {len(classes)} entries for {len(columns)} task(s); give "
                "one entry per task (None for a regression task)."
            )
    model._task_targets = [
        TASK_TYPES[kind].fit(c, n, sample_weight, k, model.regression_loss)
        for kind, c, n, k in zip(task_types, columns, task_names, classes)
    ]
    model.n_tasks_ = len(columns)
    model.task_names_ = np.asarray(task_names, dtype=object)
    model.task_types_ = task_types
    task_classes = [target.classes for target in model._task_targets]
    model.classes_ = task_classes[0] if model.n_tasks_ == 1 else task_classes


def _new_encoder(model):
    return FeatureEncoder(
        model.is_categorical_,
        getattr(model, "feature_names_in_", None),
        min_frequency=model.min_frequency,
        max_categories=model.max_categories,
        hash_buckets=model.hash_buckets,
    )


def _tensor_data(model, X, columns, sample_weight, encoder):
    """Encoded labels, features and weights of checked ``X`` as host tensors."""
    targets = np.column_stack(
        [t.encode(c, n) for c, t, n in zip(columns, model._task_targets, model.task_names_)]
    )
    model._check_task_labels(targets)
    dtype = model._dtype
    return TensorData(
        module_inputs(encoder.transform(X), dtype),
        torch.from_numpy(targets).to(dtype),
        None if sample_weight is None else torch.from_numpy(sample_weight).to(dtype),
    )


def _validation_strata(model, targets):
    """The labels of the binary task with the fewest minority-class rows
    (unobserved = a third stratum), so that the validation split holds
    both classes of every task whenever the rarest one allows it, as
    scikit-learn's classifiers stratify theirs; zeros without a binary task."""
    strata = np.zeros(len(targets), dtype=np.intp)
    minority = np.inf
    for t, target in enumerate(model._task_targets):
        if target.classes is None:
            continue
        column = targets[:, t]
        count = min((column == 0).sum(), (column == 1).sum())
        if count < minority:
            minority = count
            strata = np.where(np.isnan(column), 2, column).astype(np.intp)
    return strata


class SourceData:
    """What a source read for one fit, before the validation split.

    Attributes
    ----------
    encoder : FeatureEncoder
        The encoder the fit trains with; the estimator keeps it once the fit
        succeeds (``partial_fit`` updates a copy).
    n_samples : int
        Rows of the data, validation rows included.
    summary : tuple
        Sizes (and, in memory, checksums) that every process of a
        data-parallel fit must agree on.
    validation_given : bool
        Whether the user gave the validation rows (``X_val``), which early
        stopping then always uses.
    """

    def __init__(self, encoder, n_samples, summary, split, validation_given=False):
        self.encoder = encoder
        self.n_samples = n_samples
        self.summary = summary
        self.validation_given = validation_given
        self._split = split

    def split(self, fraction, rng):
        """``(train, valid, n_train)``: the training rows, the validation rows
        (None when ``fraction`` is None) and the number of training rows.
        Draws from ``rng``."""
        return self._split(fraction, rng)


class InMemorySource:
    """One table in memory: ``fit(X, Y)``, ``partial_fit`` and ``warm_start``."""

    def __init__(self, X, Y, sample_weight=None, classes=None, validation=None):
        self.X, self.Y, self.sample_weight, self.classes = X, Y, sample_weight, classes
        self.validation = validation

    def read(self, model, *, continuing, incremental):
        if self.Y is None:
            raise ValueError(
                f"{type(model).__name__} requires y to be passed, but the target y is None."
            )
        X, columns, names, sample_weight = _checked(
            model, self.X, self.Y, self.sample_weight, first=not continuing
        )
        if continuing:
            encoder = model._feature_encoder
            if incremental:
                # Updated on a copy: a call that fails leaves the fitted encoding as it was.
                encoder = copy.deepcopy(encoder)
                encoder.partial_fit(X, sample_weight)
        else:
            _set_tasks(model, columns, names, self.classes, sample_weight)
            encoder = _new_encoder(model)
            encoder.fit(X, sample_weight)
        data = _tensor_data(model, X, columns, sample_weight, encoder)
        given = None
        if self.validation is not None:
            X_val, columns_val, _, weight_val = _checked(model, *self.validation, first=False)
            given = _tensor_data(model, X_val, columns_val, weight_val, encoder)

        def split(fraction, rng):
            if given is not None:
                return data, given, len(data)
            if fraction is None:
                return data, None, len(data)
            strata = _validation_strata(model, data.targets.numpy())
            train, valid = split_validation(data, fraction, rng, strata)
            return train, valid, len(train)

        summary = _data_summary(data, encoder)
        return SourceData(encoder, len(data), summary, split, validation_given=given is not None)


class ChunkSource:
    """A :class:`~sklearn_mtl.ChunkedData`, read chunk by chunk each epoch.

    A first fit reads every chunk once to set the tasks and fit the encoder
    (as if the chunks were one table); training then encodes each chunk as
    it is read. With early stopping a fixed share of each chunk's rows, the
    same every epoch, is held out.
    """

    def __init__(self, chunked_data):
        self.chunked_data = chunked_data

    def read(self, model, *, continuing, incremental):
        n_samples = 0

        def checked_chunks():
            nonlocal n_samples
            for X, Y, sample_weight in self.chunked_data:
                first = not (continuing or n_samples)
                X, columns, names, sample_weight = _checked(model, X, Y, sample_weight, first=first)
                if first:
                    _set_tasks(model, columns, names, None, sample_weight)
                n_samples += X.shape[0]
                yield X, sample_weight

        chunks = checked_chunks()
        first = next(chunks, None)
        if first is None:
            raise ValueError("ChunkedData gave no chunk: there is nothing to train on.")
        if continuing:
            encoder = model._feature_encoder
            for _ in chunks:  # only counts the rows, for early_stopping="auto"
                pass
        else:
            encoder = _new_encoder(model)
            encoder.fit_chunks(_prepend(first, chunks))

        def to_tensors(X, Y, sample_weight):
            X, columns, _, sample_weight = _checked(model, X, Y, sample_weight, first=False)
            return _tensor_data(model, X, columns, sample_weight, encoder)

        def split(fraction, rng):
            split_seed = int(rng.randint(np.iinfo(np.int32).max))
            train, valid = (
                ChunkTensors(self.chunked_data, to_tensors, fraction, part, split_seed)
                for part in ("train", "valid")
            )
            if fraction is None:
                return train, None, n_samples
            return train, valid, int(n_samples * (1 - fraction))

        return SourceData(encoder, n_samples, (n_samples, *encoder.cardinalities), split)


class ChunkTensors(torch.utils.data.Dataset):
    """The training or validation rows of a :class:`ChunkedData`, as one
    :class:`TensorData` per chunk, encoded when read.

    Parameters
    ----------
    source : ChunkedData
        The chunks.
    to_tensors : callable
        ``to_tensors(X, Y, sample_weight) -> TensorData``.
    validation_fraction : float or None
        Share of each chunk's rows held out for validation; None keeps all.
    part : {"train", "valid"}
        Which rows this data set holds.
    seed : int
        Seeds the choice of validation rows, the same every epoch.
    """

    def __init__(self, source, to_tensors, validation_fraction, part, seed):
        self.source = source
        self.to_tensors = to_tensors
        self.validation_fraction = validation_fraction
        self.part = part
        self.seed = seed

    def chunks(self):
        for k, (X, Y, sample_weight) in enumerate(self.source):
            data = self.to_tensors(X, Y, sample_weight)
            if self.validation_fraction is None:
                yield data
                continue
            rng = np.random.RandomState((self.seed + k) % (2**32))
            valid = rng.random_sample(len(data)) < self.validation_fraction
            keep = valid if self.part == "valid" else ~valid
            if keep.any():
                yield data.subset(torch.from_numpy(np.flatnonzero(keep)))


def _prepend(first, rest):
    yield first
    yield from rest


def _data_summary(data, encoder):
    """Sizes and checksums of the encoded data, equal in every process of a
    data-parallel fit only if all of them passed the same data."""
    inputs = data.inputs
    codes = inputs["categorical"]
    codes = getattr(codes, "codes", codes)
    targets = torch.nan_to_num(data.targets.double(), nan=-1.0)
    return (
        len(data),
        *encoder.cardinalities,
        float(codes.double().sum()),
        float(inputs["numeric"].double().sum()),
        float(targets.sum()),
    )
