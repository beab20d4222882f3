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
import shutil
import tempfile
import uuid
import warnings
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.utils import check_array
from sklearn.utils.validation import _check_sample_weight, validate_data

from .._targets import TASK_TYPES, align_task_columns, check_task_types, task_columns
from ._cache import ChunkCache, fingerprint, read_ahead
from ._columns import check_category_codes, resolve_categorical_mask
from ._encoding import FeatureEncoder, multi_valued_mask
from ._parquet import deal_units
from ._tensors import TensorData, concatenate, module_inputs, split_validation
from ._validation import check_container, check_sample_weight_range

#: Data sets larger than this get early stopping when ``early_stopping="auto"``.
AUTO_EARLY_STOPPING_MIN_SAMPLES = 10_000

_NO_CHUNK = "ChunkedData gave no chunk: there is nothing to train on."


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


def _uses_early_stopping(model, n_samples):
    if model.early_stopping == "auto":
        return n_samples > AUTO_EARLY_STOPPING_MIN_SAMPLES
    return model.early_stopping


def holds_out_validation(model, data):
    """Whether a fit of ``model`` (not ``partial_fit``) on ``data``, a
    :class:`SourceData`, validates: on the given rows, or on rows it holds out
    for early stopping."""
    return data.validation_given or _uses_early_stopping(model, data.n_samples)


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


def _set_tasks(model, columns, task_names, classes, task_weights):
    """Fit the tasks on their label ``columns``, each weighted by its entry of
    ``task_weights`` (None: unweighted)."""
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
        TASK_TYPES[kind].fit(c, n, w, k, model.regression_loss)
        for kind, c, n, k, w in zip(task_types, columns, task_names, classes, task_weights)
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
    sharded : bool
        Whether this process of a data-parallel fit read only its own share
        of the rows (``n_samples`` and ``summary`` still describe all of
        them): it trains and validates on its share as it is.
    """

    def __init__(
        self,
        encoder,
        n_samples,
        summary,
        split,
        validation_given=False,
        close=None,
        sharded=False,
    ):
        self.encoder = encoder
        self.n_samples = n_samples
        self.summary = summary
        self.validation_given = validation_given
        self.sharded = sharded
        self._split = split
        self._close = close

    def close(self):
        """Release what reading left on disk (an out-of-core fit's temporary
        cache) once training is over."""
        if self._close is not None:
            self._close()

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

    def read(self, model, *, continuing, incremental, group=None):
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
            _set_tasks(model, columns, names, self.classes, [sample_weight] * len(columns))
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


class _TaskLabels:
    """The distinct observed labels of each task over the chunks, with their
    summed weights: all that fitting a task reads (its classes, or a
    regression task's weighted mean and scale), in memory that grows with
    the distinct labels, not with the rows."""

    def __init__(self):
        self.counts = None

    def add(self, columns, sample_weight):
        weight = pd.Series(
            np.ones(len(columns[0])) if sample_weight is None else sample_weight
        )
        counts = [weight.groupby(column, sort=False, dropna=True).sum() for column in columns]
        if self.counts is not None:
            counts = [
                pd.concat([old, new]).groupby(level=0, sort=False).sum()
                for old, new in zip(self.counts, counts)
            ]
        self.counts = counts

    def merge(self, other):
        """Add the labels that ``other`` counted (over other chunks)."""
        if other.counts is None:
            return self
        if self.counts is None:
            self.counts = other.counts
            return self
        self.counts = [
            pd.concat([mine, theirs]).groupby(level=0, sort=False).sum()
            for mine, theirs in zip(self.counts, other.counts)
        ]
        return self

    def columns_and_weights(self):
        return [c.index.to_numpy() for c in self.counts], [c.to_numpy() for c in self.counts]


class ChunkSource:
    """A :class:`~sklearn_mtl.ChunkedData`, encoded once into a cache on disk.

    A first fit reads every chunk once to set the tasks and fit the encoder
    (as if the chunks were one table); a second pass encodes the chunks into
    a :class:`ChunkCache` (reused from ``cache_dir`` when its fingerprint
    matches), which every epoch reads. With early stopping a fixed share of
    each chunk's rows, the same every epoch, is held out.

    In a data-parallel fit over Parquet files, each process reads only its
    share of the files' row groups (:func:`deal_units`) in both passes and
    caches only those; the processes merge what the first pass learnt, so
    that all of them set the same tasks and encoder as one process reading
    every chunk would.
    """

    def __init__(self, chunked_data):
        self.chunked_data = chunked_data

    def read(self, model, *, continuing, incremental, group=None):
        """The :class:`SourceData` of the chunks. ``group`` is the process
        group of a data-parallel fit (``rank``, ``world_size``, and
        ``gather``, ``sum``, ``check_same_data`` collectives), or None."""
        chunked = self.chunked_data
        units = None if group is None else self._share(group)
        if units is None:
            group = None  # every process reads every chunk, as a single process does
        if continuing:
            encoder = model._feature_encoder
        else:
            encoder = self._fit_tasks_and_encoder(model, chunked._read(units), group)

        def encoded_chunks():
            for X, Y, sample_weight in chunked._read(units):
                X, columns, _, sample_weight = _checked(model, X, Y, sample_weight, first=False)
                yield _tensor_data(model, X, columns, sample_weight, encoder)

        source = chunked._fingerprint(units)
        folder, keep = _cache_folder(chunked, source)

        def close():
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)

        def write():
            # A callable's cache is this fit's own: its random folder name stands
            # for the source. A share's is named by its row groups.
            key = fingerprint(
                source or folder.name, encoder, model._task_targets, str(model._dtype)
            )
            cache = ChunkCache.open_or_write(folder, key, encoded_chunks())
            if not cache.n_chunks:
                raise ValueError(_NO_CHUNK)
            return cache

        try:
            if group is None:
                cache = write()
                n_samples = sum(cache.n_rows)
            else:
                cache, rows = _in_every_process(group, write, lambda c: sum(c.n_rows))
                n_samples = sum(rows)
        except BaseException:
            close()
            raise

        def split(fraction, rng):
            split_seed = int(rng.randint(np.iinfo(np.int32).max))
            train, valid = (
                ChunkTensors(cache, fraction, part, split_seed, chunked.shuffle_buffer, group)
                for part in ("train", "valid")
            )
            if fraction is None:
                return train, None, n_samples
            return train, valid, int(n_samples * (1 - fraction))

        return SourceData(
            encoder,
            n_samples,
            (n_samples, *encoder.cardinalities),
            split,
            close=close,
            sharded=group is not None,
        )

    def _share(self, group):
        """This process's ``(file index, row group)`` pairs of the Parquet
        files, or None when every process reads every chunk: chunks of a
        callable, or fewer row groups than processes (with a warning)."""
        chunked = self.chunked_data
        if chunked._paths is None:
            return None
        # Different files in different processes would deal different shares.
        group.check_same_data(chunked._description(), "ChunkedData files and settings")
        # Read from every file's footer in every process: an error is everyone's.
        units, _ = _in_every_process(group, chunked._units, lambda units: None)
        if len(units) < group.world_size:
            warnings.warn(
                f"ChunkedData: the Parquet files hold {len(units)} row group(s) with rows, "
                f"fewer than the {group.world_size} processes of the data-parallel fit, so "
                "every process reads every chunk and trains on its share of each. Write "
                "more files, or files with smaller row groups (pyarrow's "
                "write_table(..., row_group_size=...)), so that each process reads only "
                "its own rows.",
                UserWarning,
                stacklevel=5,
            )
            return None
        return deal_units(units, group.world_size)[group.rank]

    def _fit_tasks_and_encoder(self, model, chunks, group):
        """Set the tasks and fit a new encoder over ``chunks``, one at a time;
        in a data-parallel fit, over every process's chunks."""
        if group is None:
            encoder, (names, labels, fit) = self._read_tasks_and_encoding(model, chunks)
        else:
            (encoder, _), parts = _in_every_process(
                group,
                lambda: self._read_tasks_and_encoding(model, chunks),
                lambda read: (_layout(model, read[1]), read[1]),
            )
            _check_same_layout([layout for layout, _ in parts])
            # Merged in rank order, the same in every process.
            names, labels, fit = parts[0][1]
            for _, (_, other_labels, other_fit) in parts[1:]:
                labels.merge(other_labels)
                fit.merge(other_fit)
        encoder.finish_fit(fit)
        columns, weights = labels.columns_and_weights()
        _set_tasks(model, columns, names, None, weights)
        return encoder

    def _read_tasks_and_encoding(self, model, chunks):
        """A new encoder and what ``chunks`` teach it and the tasks:
        ``(encoder, (task names, _TaskLabels, EncoderFit))``."""
        labels = _TaskLabels()
        names = None

        def checked_chunks():
            nonlocal names
            for X, Y, sample_weight in chunks:
                if names is None:
                    X, columns, names, sample_weight = _checked(
                        model, X, Y, sample_weight, first=True
                    )
                    # Later chunks' columns are matched to these names.
                    model.task_names_, model.n_tasks_ = np.asarray(names, dtype=object), len(names)
                else:
                    X, columns, _, sample_weight = _checked(
                        model, X, Y, sample_weight, first=False
                    )
                labels.add(columns, sample_weight)
                yield X, sample_weight

        checked = checked_chunks()
        first = next(checked, None)  # sets which columns are categorical
        if first is None:
            raise ValueError(_NO_CHUNK)
        encoder = _new_encoder(model)
        return encoder, (names, labels, encoder.read_chunks(chain([first], checked)))


def _layout(model, part):
    """What a process's first chunk set up: the columns (by name) and tasks,
    which every process must have found alike."""
    names, _, fit = part
    features = getattr(model, "feature_names_in_", None)
    features = list(range(model.n_features_in_)) if features is None else list(features)
    return {
        "features": features,
        "categorical": [f for f, kind in zip(features, model.is_categorical_) if kind],
        "tasks": list(names),
        **{kind: [features[j] for j in columns] for kind, columns in fit.columns.items()},
    }


def _check_same_layout(layouts):
    """Raise the same ValueError in every process unless every share of the
    data set up the same columns and tasks (``layouts`` in rank order)."""
    first = layouts[0]
    for rank, layout in enumerate(layouts[1:], start=1):
        differ = [
            f"{key}: {first[key]} in process 0, {value} in process {rank}"
            for key, value in layout.items()
            if value != first[key]
        ]
        if differ:
            raise ValueError(
                "ChunkedData: the processes of the data-parallel fit read shares of the "
                f"Parquet files that do not set up the same columns ({'; '.join(differ)}). "
                "Each process reads which columns are multi-valued from the first values "
                "of its share: a list column whose values are all missing in one share is "
                "not multi-valued there. Give every file values of each such column, or "
                "train in one process."
            )


def _in_every_process(group, step, result):
    """``step()`` run in every process of ``group``: its value here and
    ``result(value)`` of every process, in rank order. An error in any
    process is raised in every one (its own where it happened, elsewhere a
    ValueError naming the process), so that none waits on a collective."""
    try:
        value, error = step(), None
    except Exception as exc:
        value, error = None, exc
    failures = group.gather(None if error is None else f"{type(error).__name__}: {error}")
    if error is not None:
        raise error
    failed = [(rank, failure) for rank, failure in enumerate(failures) if failure is not None]
    if failed:
        rank, failure = failed[0]
        raise ValueError(
            f"Process {rank} of the data-parallel fit failed to read its share of the "
            f"ChunkedData: {failure}"
        )
    return value, group.gather(result(value))


def _cache_folder(chunked, source):
    """Where a fit keeps its encoded chunks, and whether they outlive the fit:
    only in the user's ``cache_dir`` and fingerprinted by their source."""
    if chunked.cache_dir is None:
        return Path(tempfile.mkdtemp(prefix="sklearn_mtl-chunks-")), False
    if source is None:
        return Path(chunked.cache_dir) / f".fit-{uuid.uuid4().hex}", False
    return Path(chunked.cache_dir), True


class ChunkTensors(torch.utils.data.Dataset):
    """The training or validation rows of a :class:`ChunkCache`, read one
    group of chunks at a time, ahead of training, in a background thread.

    Parameters
    ----------
    cache : ChunkCache
        The encoded chunks.
    validation_fraction : float or None
        Share of each chunk's rows held out for validation; None keeps all.
    part : {"train", "valid"}
        Which rows this data set holds.
    seed : int
        Seeds the choice of validation rows, the same every epoch, and each
        shuffled pass's order of the chunks.
    shuffle_buffer : int
        Chunks whose rows a shuffled pass mixes.
    processes : object, default=None
        The process group of a data-parallel fit when the cache holds this
        process's share of the rows only (with a ``sum`` collective); None
        when it holds all of them.
    """

    def __init__(
        self, cache, validation_fraction, part, seed, shuffle_buffer=1, processes=None
    ):
        self.cache = cache
        self.validation_fraction = validation_fraction
        self.part = part
        self.seed = seed
        self.shuffle_buffer = shuffle_buffer
        self.processes = processes
        self._shuffled_passes = 0

    def chunks(self, shuffle=False):
        """The parts that batches are cut from: one per chunk in order, or,
        with ``shuffle``, the chunks in a new order, ``shuffle_buffer``
        chunks to a part (a pass's order depends on the seed and on how
        many shuffled passes came before, not on any global generator)."""
        order = np.arange(self.cache.n_chunks)
        size = 1
        if shuffle:
            rng = np.random.default_rng((self.seed, self._shuffled_passes))
            self._shuffled_passes += 1
            order, size = rng.permutation(order), self.shuffle_buffer
        groups = [order[start : start + size] for start in range(0, len(order), size)]
        for part in read_ahead(self._read, groups):
            if len(part):
                yield part

    def full_batches(self, batch_size):
        """Full batches of ``batch_size`` rows that any pass gives at least,
        whatever the order of the chunks (a batch never spans two parts)."""
        total = 0
        for k, n in enumerate(self.cache.n_rows):
            rows = self._rows(k)
            total += (n if rows is None else len(rows)) // batch_size
        return total

    def summed_over_shares(self, values):
        """``values`` (numbers) computed on these rows, summed over the shares
        of every process that holds its own; as they are otherwise."""
        return values if self.processes is None else self.processes.sum(values)

    def _read(self, group):
        return concatenate([self.cache.read(k, self._rows(k)) for k in group])

    def _rows(self, k):
        if self.validation_fraction is None:
            return None
        rng = np.random.RandomState((self.seed + k) % (2**32))
        valid = rng.random_sample(self.cache.n_rows[k]) < self.validation_fraction
        return torch.from_numpy(np.flatnonzero(valid if self.part == "valid" else ~valid))


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
