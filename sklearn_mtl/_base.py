"""The base estimator: turns a multi-task PyTorch module into a scikit-learn classifier."""

from abc import ABCMeta, abstractmethod
from contextlib import contextmanager
from itertools import chain
from numbers import Integral, Real

import numpy as np
import pandas as pd
import scipy.sparse as sp
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data
from skorch.helper import predefined_split

from ._callbacks import CheckedEarlyStopping, EpochLog, TaskScoring, nanmean
from ._data import (
    BatchIterator,
    ChunkedData,
    ChunkTensors,
    FeatureEncoder,
    TensorData,
    check_container,
    module_inputs,
    multi_valued_mask,
    prediction_batches,
    resolve_categorical_mask,
    split_validation,
)
from ._net import MultiTaskNet
from ._targets import TASK_TYPES, check_task_types, task_columns
from .loss_weighting import LOSS_WEIGHTINGS, LossWeighting, make_loss_weighting
from .losses import ELEMENT_LOSSES, MultiTaskLoss
from .metrics import TASK_METRICS, score_task
from .nn import MixedInputEmbedding

_DTYPES = {"float32": torch.float32, "float64": torch.float64}

_OPTIMIZERS = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": torch.optim.SGD,
}

#: Rows encoded at a time at prediction, so that its memory does not grow with X.
_PREDICT_BLOCK_ROWS = 1 << 16

#: Data sets larger than this get early stopping when ``early_stopping="auto"``.
_AUTO_EARLY_STOPPING_MIN_SAMPLES = 10_000


def check_hidden_units(name, units):
    """Validate a tuple of layer widths, naming the parameter on error."""
    units = tuple(units)
    if not all(isinstance(u, Integral) and not isinstance(u, bool) and u > 0 for u in units):
        raise ValueError(f"{name} must be a sequence of positive integers, got {units!r}.")
    return units


@contextmanager
def _seeded_torch(seed, device):
    """Seed torch for initialisation, shuffling and dropout without touching
    the caller's global RNG state, which is restored on exit."""
    device = torch.device(device)
    forked = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=forked):
        torch.random.default_generator.manual_seed(seed)
        if forked:
            with torch.cuda.device(forked[0]):
                torch.cuda.manual_seed(seed)
        yield


class BaseMultiTaskClassifier(ClassifierMixin, BaseEstimator, metaclass=ABCMeta):
    """Base class of the multi-task classifiers; it owns ``fit``.

    A model fills in :meth:`_build_module` (and optionally
    :meth:`_build_criterion`, :meth:`_check_task_labels`,
    :meth:`_validation_scores`). Training runs through a private skorch
    net built in ``fit`` (``net_``) over tensors built once per call.
    """

    _parameter_constraints: dict = {
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), type],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "categorical_features": ["array-like", StrOptions({"from_dtype"}), None],
        "multi_valued_pooling": [StrOptions({"mean", "sum", "max"})],
        "min_frequency": [
            Interval(Integral, 1, None, closed="left"),
            Interval(RealNotInt, 0, 1, closed="neither"),
            None,
        ],
        "max_categories": [Interval(Integral, 1, None, closed="left"), None],
        "hash_buckets": [Interval(Integral, 1, None, closed="left"), dict, None],
        "task_weights": ["array-like", None],
        "loss_weighting": [StrOptions(set(LOSS_WEIGHTINGS)), LossWeighting],
        "task_types": ["array-like", None],
        "regression_loss": [StrOptions(set(ELEMENT_LOSSES) - {"bce"})],
        "early_stopping": [StrOptions({"auto"}), "boolean"],
        "early_stopping_monitor": [str],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "callbacks": [list, None],
        "device": [str, torch.device],
        "dtype": [StrOptions(set(_DTYPES))],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
    }

    @abstractmethod
    def __init__(
        self,
        *,
        max_epochs,
        batch_size,
        lr,
        optimizer,
        weight_decay,
        dropout,
        embedding_dim,
        categorical_features,
        multi_valued_pooling,
        min_frequency,
        max_categories,
        hash_buckets,
        task_weights,
        loss_weighting,
        early_stopping,
        early_stopping_monitor,
        validation_fraction,
        n_iter_no_change,
        callbacks,
        device,
        dtype,
        random_state,
        verbose,
        warm_start,
    ):
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.weight_decay = weight_decay
        self.dropout = dropout
        self.embedding_dim = embedding_dim
        self.categorical_features = categorical_features
        self.multi_valued_pooling = multi_valued_pooling
        self.min_frequency = min_frequency
        self.max_categories = max_categories
        self.hash_buckets = hash_buckets
        self.task_weights = task_weights
        self.loss_weighting = loss_weighting
        self.early_stopping = early_stopping
        self.early_stopping_monitor = early_stopping_monitor
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.callbacks = callbacks
        self.device = device
        self.dtype = dtype
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    #: False for models whose ``Y`` has a structure, e.g. funnel steps in
    #: order: they take neither a single task nor arbitrary independent
    #: labels, so scikit-learn's generic single-output, multi-output and
    #: multi-label checks (which fit exactly those) do not describe them.
    _accepts_any_label_matrix = True

    # Models that can mix regression and binary tasks take these two as
    # parameters; for the others (funnel steps are binary) they stay fixed.
    task_types = None
    regression_loss = "mse"

    # ------------------------------------------------------------------ hooks

    @abstractmethod
    def _build_module(self, embedding, n_tasks):
        """Return the torch module: ``forward(categorical, numeric)`` gives
        the ``(n, n_tasks)`` logits. ``embedding`` is the shared
        :class:`~sklearn_mtl.nn.MixedInputEmbedding` of the inputs."""

    def _build_criterion(self, n_tasks):
        """Return the loss, a :class:`~sklearn_mtl.losses.MultiTaskLoss`."""
        return MultiTaskLoss(losses=[target.loss for target in self._task_targets])

    def _check_task_labels(self, Y):
        """Model-specific checks of the encoded ``(n, n_tasks)`` labels
        (0/1 for binary tasks, standardized values for regression, NaN
        where unobserved)."""

    def _proba_from_logits(self, logits):
        """Each task's output on the model scale: the positive-class
        probability of a binary task, the standardized value of a regression task."""
        return np.column_stack(
            [target.link(logits[:, t]) for t, target in enumerate(self._task_targets)]
        )

    def _validation_scores(self, Y, logits, sample_weight):
        """History entries recorded from the validation set each epoch: each
        task type's metrics per task (regression ones in the target's units),
        and ``valid_<metric>``, their mean over the tasks that have it."""
        outputs = self._proba_from_logits(logits)
        per_metric = {}
        scores = {}
        for t, (name, target) in enumerate(zip(self.task_names_, self._task_targets)):
            y_true, y_score = target.decode(Y[:, t]), target.decode(outputs[:, t])
            for metric in target.metrics:
                value = score_task(metric, y_true, y_score, sample_weight)
                scores[f"valid_{metric}_{name}"] = value
                per_metric.setdefault(metric, []).append(value)
        scores.update({f"valid_{m}": nanmean(values) for m, values in per_metric.items()})
        return scores

    def _epoch_log_keys(self):
        """History keys shown in the ``verbose`` table, one row per epoch."""
        shown = {"epoch", "train_loss", "valid_loss", "valid_roc_auc", "valid_r2", "dur"}
        return shown | {
            f"valid_{target.metrics[0]}_{name}"
            for name, target in zip(self.task_names_, self._task_targets)
        }

    # ----------------------------------------------------------- public API

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None):
        """Train the model on ``X`` and the label matrix ``Y``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features) or ChunkedData
            Features. Categorical columns are chosen by
            ``categorical_features``; every other column must be numeric and
            finite. A :class:`~sklearn_mtl.ChunkedData` trains out of core
            over chunks that each bring their own labels (then ``y=None``).
        y : array-like of shape (n_samples, n_tasks) or (n_samples,), default=None
            The label matrix ``Y`` (required unless ``X`` is ChunkedData): one
            column per task, of binary labels
            (any two labels) or, for a ``"regression"`` task of
            ``task_types``, of numbers. A DataFrame's column names become
            ``task_names_``. NaN marks a label that is not observed: that row
            does not count towards that task's loss or gradient (e.g. a
            conversion task observed on clicked rows only).
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        if isinstance(X, ChunkedData):
            return self._fit_chunks(X, y, sample_weight)
        return self._fit(X, y, sample_weight, incremental=False, classes=None)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch over ``X``, ``Y``, continuing from the current state.

        Each call updates the running mean and variance that standardize the
        numeric columns (as ``StandardScaler.partial_fit``). Vocabularies are
        set by the first call: declare categories up front with a pandas
        ``CategoricalDtype``, or hash the column (``hash_buckets``); a later
        chunk with categories the vocabulary lacks gets a warning.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features.
        y : array-like of shape (n_samples, n_tasks) or (n_samples,)
            Labels, as in :meth:`fit`.
        classes : list of array-like, default=None
            The two classes of each binary task (None for a regression task).
            Only used on the first call; needed there when a task's first
            batch holds one class only.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities of each task.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features.

        Returns
        -------
        proba : list of (ndarray of shape (n_samples, 2) or None)
            One array per task, columns ordered as in ``classes_[task]``;
            None in the slot of a regression task (it has no classes; use
            :meth:`predict`). With a single task, the array itself
            (scikit-learn's single-output convention).

        Raises
        ------
        ValueError
            If no task is binary.
        """
        check_is_fitted(self)
        if "binary" not in self.task_types_:
            raise ValueError(
                f"predict_proba needs a binary task but every task of {type(self).__name__} "
                "is a regression task; use predict."
            )
        outputs = self._proba_from_logits(self._forward(X, _task_logits))
        per_task = [
            None if target.classes is None else np.column_stack([1.0 - p, p])
            for p, target in zip(outputs.T, self._task_targets)
        ]
        return per_task[0] if self.n_tasks_ == 1 else per_task

    def predict(self, X):
        """Predicted label of each binary task, predicted value of each regression task.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features.

        Returns
        -------
        Y_pred : ndarray of shape (n_samples, n_tasks)
            The more probable class of each binary task and the predicted
            target (in its original units) of each regression task;
            ``(n_samples,)`` with a single task. The dtype is the tasks'
            common NumPy type (e.g. float64 for integer classes and
            regression values), object when they have none.
        """
        outputs = self._proba_from_logits(self._forward(X, _task_logits))
        columns = [target.predict(outputs[:, t]) for t, target in enumerate(self._task_targets)]
        dtypes = [c.dtype for c in columns]
        numeric = all(d.kind in "iuf" for d in dtypes)
        dtype = np.result_type(*dtypes) if numeric or len(set(dtypes)) == 1 else object
        Y_pred = np.empty(outputs.shape, dtype=dtype)
        for t, column in enumerate(columns):
            Y_pred[:, t] = column
        return Y_pred[:, 0] if self.n_tasks_ == 1 else Y_pred

    def predict_proba_frame(self, X):
        """Positive-class probability of each task as a DataFrame.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features.

        Returns
        -------
        DataFrame of shape (n_samples, n_binary_tasks)
            One column per binary task (regression tasks are left out),
            named by ``task_names_``; the probability of
            ``classes_[task][1]``. Keeps the index of a DataFrame ``X``.
        """
        proba = self._proba_from_logits(self._forward(X, _task_logits))
        binary = [t for t, target in enumerate(self._task_targets) if target.classes is not None]
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(proba[:, binary], columns=list(self.task_names_[binary]), index=index)

    def score(self, X, y, sample_weight=None):
        """Mean over tasks of each task's score on its observed labels.

        A binary task scores its accuracy, a regression task its R2
        (scikit-learn's classifier and regressor ``score``). For model
        selection prefer the per-task scorers of :mod:`sklearn_mtl.metrics`
        (accuracy says little about rare positives).

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features.
        y : array-like of shape (n_samples, n_tasks) or (n_samples,)
            True labels; NaN marks an unobserved label.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        score : float
        """
        Y_pred = self.predict(X)
        Y_pred = Y_pred.reshape(len(Y_pred), -1)
        columns, _ = task_columns(y)
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        scores = []
        for t, (column, target) in enumerate(zip(columns, self._task_targets)):
            observed = ~pd.isna(column)
            w = None if weight is None else weight[observed]
            scores.append(target.score(column[observed], Y_pred[observed, t], w))
        return float(np.mean(scores))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = self._accepts_any_label_matrix
        tags.target_tags.single_output = self._accepts_any_label_matrix
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = self._accepts_any_label_matrix
        return tags

    # ------------------------------------------------------------ internals

    def _fit(self, X, Y, sample_weight, *, incremental, classes):
        continuing = hasattr(self, "net_") and (incremental or self.warm_start)
        device = self._checked_device()
        if Y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        X = self._check_X(X, reset=not continuing)
        columns, task_names = task_columns(Y)
        self._check_rows_and_tasks(columns, X, continuing)
        sample_weight = self._check_sample_weight(sample_weight, X)
        if not continuing:
            self._set_tasks(columns, task_names, classes, sample_weight)
            self._feature_encoder = self._new_feature_encoder()
            self._feature_encoder.fit(X, sample_weight)
        elif incremental:
            self._feature_encoder.partial_fit(X, sample_weight)
        data = self._tensor_data(X, columns, sample_weight)

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        valid_data = None
        if not incremental and self._uses_early_stopping(len(data)):
            data, valid_data = split_validation(data, self.validation_fraction, rng)
        if continuing:
            # A continued fit must not replay the first call's shuffles and dropout masks.
            seed = (seed + self.n_iter_) % np.iinfo(np.int32).max
        with _seeded_torch(seed, device):
            if not continuing:
                self.net_ = self._build_net(valid_data is not None, device)
            self._train(data, valid_data, epochs=1 if incremental else self.max_epochs)
        return self

    def _fit_chunks(self, source, y, sample_weight):
        if y is not None or sample_weight is not None:
            raise ValueError(
                "With ChunkedData, labels and weights come with each chunk: call "
                "fit(chunked_data) with y=None and sample_weight=None."
            )
        continuing = hasattr(self, "net_") and self.warm_start
        device = self._checked_device()
        n_samples = 0

        def checked_chunks():
            nonlocal n_samples
            for X, Y, sample_weight in source:
                X = self._check_X(X, reset=not (continuing or n_samples))
                columns, task_names = task_columns(Y)
                self._check_rows_and_tasks(columns, X, continuing or n_samples)
                sample_weight = self._check_sample_weight(sample_weight, X)
                if not (continuing or n_samples):
                    self._set_tasks(columns, task_names, None, sample_weight)
                n_samples += X.shape[0]
                yield X, sample_weight

        chunks = checked_chunks()
        first = next(chunks, None)
        if first is None:
            raise ValueError("ChunkedData gave no chunk: there is nothing to train on.")
        if continuing:
            for _ in chunks:  # only counts the rows, for early_stopping="auto"
                pass
        else:
            self._feature_encoder = self._new_feature_encoder()
            self._feature_encoder.fit_chunks(chain([first], chunks))

        rng = check_random_state(self.random_state)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        split_seed = int(rng.randint(np.iinfo(np.int32).max))
        fraction = self.validation_fraction if self._uses_early_stopping(n_samples) else None
        data, valid_data = (
            ChunkTensors(source, self._chunk_tensor_data, fraction, part, split_seed)
            for part in ("train", "valid")
        )
        if fraction is None:
            valid_data = None
        if continuing:
            seed = (seed + self.n_iter_) % np.iinfo(np.int32).max
        with _seeded_torch(seed, device):
            if not continuing:
                self.net_ = self._build_net(valid_data is not None, device)
            self._train(data, valid_data, epochs=self.max_epochs)
        return self

    def _chunk_tensor_data(self, X, Y, sample_weight):
        X = self._check_X(X, reset=False)
        columns, _ = task_columns(Y)
        self._check_rows_and_tasks(columns, X, True)
        return self._tensor_data(X, columns, self._check_sample_weight(sample_weight, X))

    def _check_rows_and_tasks(self, columns, X, continuing):
        if len(columns[0]) != X.shape[0]:
            raise ValueError(
                f"Y has {len(columns[0])} rows but X has {X.shape[0]}: they must "
                "describe the same samples."
            )
        if continuing and len(columns) != self.n_tasks_:
            raise ValueError(
                f"Y has {len(columns)} task(s) but {type(self).__name__} was "
                f"fitted with {self.n_tasks_} ({list(self.task_names_)}); the "
                "number of tasks cannot change between calls."
            )

    def _new_feature_encoder(self):
        return FeatureEncoder(
            self.is_categorical_,
            getattr(self, "feature_names_in_", None),
            min_frequency=self.min_frequency,
            max_categories=self.max_categories,
            hash_buckets=self.hash_buckets,
        )

    def _tensor_data(self, X, columns, sample_weight):
        """Encoded labels, features and weights of checked ``X`` as host tensors."""
        targets = np.column_stack(
            [t.encode(c, n) for c, t, n in zip(columns, self._task_targets, self.task_names_)]
        )
        self._check_task_labels(targets)
        dtype = _DTYPES[self.dtype]
        return TensorData(
            module_inputs(self._feature_encoder.transform(X), dtype),
            torch.from_numpy(targets).to(dtype),
            None if sample_weight is None else torch.from_numpy(sample_weight).to(dtype),
        )

    def _check_X(self, X, *, reset):
        check_container(X)
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
            X = check_array(X, dtype=None, ensure_all_finite=False, input_name="X", estimator=self)
        validate_data(self, X, reset=reset, skip_check_array=True)
        if reset:
            self.is_categorical_ = resolve_categorical_mask(
                X, self.categorical_features, getattr(self, "feature_names_in_", None)
            )
            if isinstance(self.categorical_features, str):  # "from_dtype": lists too
                self.is_categorical_ |= multi_valued_mask(X)
        return X

    @staticmethod
    def _check_sample_weight(sample_weight, X):
        if sample_weight is None:
            return None
        sample_weight = _check_sample_weight(
            sample_weight, X, dtype=np.float64, ensure_non_negative=True, copy=True
        )
        if not sample_weight.any():
            raise ValueError("Sample weights must contain at least one non-zero number.")
        return sample_weight

    def _set_tasks(self, columns, task_names, classes, sample_weight):
        task_types = check_task_types(self.task_types, task_names)
        if classes is None:
            classes = [None] * len(columns)
        else:
            classes = [classes] if len(columns) == 1 and np.ndim(classes[0]) == 0 else classes
            if len(classes) != len(columns):
                raise ValueError(
                    f"classes has {len(classes)} entries for {len(columns)} task(s); give "
                    "one entry per task (None for a regression task)."
                )
        self._task_targets = [
            TASK_TYPES[kind].fit(c, n, sample_weight, k, self.regression_loss)
            for kind, c, n, k in zip(task_types, columns, task_names, classes)
        ]
        self.n_tasks_ = len(columns)
        self.task_names_ = np.asarray(task_names, dtype=object)
        self.task_types_ = task_types
        task_classes = [target.classes for target in self._task_targets]
        self.classes_ = task_classes[0] if self.n_tasks_ == 1 else task_classes

    def _checked_task_weights(self, n_tasks):
        if self.task_weights is None:
            return None
        weights = np.asarray(self.task_weights, dtype=np.float32)
        if weights.shape != (n_tasks,) or (weights < 0).any():
            raise ValueError(
                f"task_weights must hold {n_tasks} non-negative numbers (one per task), "
                f"got {self.task_weights!r}."
            )
        return weights

    def _uses_early_stopping(self, n_samples):
        if self.early_stopping == "auto":
            return n_samples > _AUTO_EARLY_STOPPING_MIN_SAMPLES
        return self.early_stopping

    def _monitor(self):
        # A bare task name is shorthand for that task's first validation metric
        # (ROC AUC for a binary task, R2 for a regression task).
        monitor = self.early_stopping_monitor
        names = list(self.task_names_)
        if monitor not in names:
            return monitor
        return f"valid_{self._task_targets[names.index(monitor)].metrics[0]}_{monitor}"

    def _build_net(self, has_validation, device):
        encoder = self._feature_encoder
        if self.multi_valued_pooling == "max" and encoder.weighted_columns:
            raise ValueError(
                f"multi_valued_pooling='max' cannot use item weights, but column(s) "
                f"{', '.join(encoder.weighted_columns)} hold {{item: weight}} dicts; use "
                "multi_valued_pooling='sum' or 'mean'."
            )
        embedding = MixedInputEmbedding(
            encoder.cardinalities,
            encoder.n_numeric,
            self.embedding_dim,
            bag_cardinalities=encoder.bag_cardinalities,
            pooling=self.multi_valued_pooling,
        )
        dtype = _DTYPES[self.dtype]
        module = self._build_module(embedding, self.n_tasks_).to(dtype)
        loss_weighting = make_loss_weighting(self.loss_weighting).setup(
            self.n_tasks_, module, self._checked_task_weights(self.n_tasks_)
        )
        callbacks = [("task_scoring", TaskScoring(list(self.task_names_), self._validation_scores))]
        if has_validation:
            monitor = self._monitor()
            callbacks.append(
                (
                    "early_stopping",
                    CheckedEarlyStopping(
                        monitor=monitor,
                        lower_is_better=_lower_is_better(monitor),
                        patience=self.n_iter_no_change,
                        load_best=True,
                    ),
                )
            )
        criterion = self._checked_criterion().to(dtype)
        optimizer = _OPTIMIZERS.get(self.optimizer, self.optimizer)
        net = MultiTaskNet(
            module=module,
            criterion=criterion,
            loss_weighting=loss_weighting.to(dtype),
            optimizer=optimizer,
            lr=self.lr,
            optimizer__weight_decay=self.weight_decay,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=BatchIterator,
            iterator_train__shuffle=True,
            iterator_train__device=device,
            iterator_valid=BatchIterator,
            iterator_valid__device=device,
            train_split=None,
            callbacks=callbacks + list(self.callbacks or []),
            callbacks__print_log=EpochLog(keys_shown=self._epoch_log_keys()),
            verbose=self.verbose,
            device=device,
        )
        return net.initialize()

    def _checked_criterion(self):
        criterion = self._build_criterion(self.n_tasks_)
        # A model whose own loss predates task types trains every task as binary.
        losses = getattr(criterion, "losses", None) or ["bce"] * self.n_tasks_
        expected = [target.loss for target in self._task_targets]
        if losses != expected:
            raise ValueError(
                f"{type(self).__name__}'s loss trains its tasks with {losses}, but "
                f"task_types {self.task_types_} need {expected}; this model supports "
                "binary tasks only, set task_types=None."
            )
        return criterion

    def _checked_device(self):
        device = torch.device(self.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device={self.device!r} was requested but torch finds no CUDA device "
                "(torch.cuda.is_available() is False); use device='cpu' or install a "
                "CUDA build of torch."
            )
        return str(device)

    def _train(self, data, valid_data, *, epochs):
        net = self.net_
        net.train_split = None if valid_data is None else predefined_split(valid_data)
        try:
            net.partial_fit(data, epochs=epochs)
        finally:
            # The validation tensors must not live on in the fitted (pickled) model.
            net.train_split = None
        self.history_ = net.history
        self.n_iter_ = len(net.history)

    def _forward(self, X, method):
        """Apply ``method(module, inputs)`` to X in batches; a float64 array."""
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        self._feature_encoder.warn_unknown_kinds(X)
        module = self.net_.module_
        module.eval()
        batches = prediction_batches(
            self._feature_encoder,
            X,
            self.batch_size,
            _DTYPES[self.dtype],
            self.net_.device,
            _PREDICT_BLOCK_ROWS,
        )
        # One output array filled batch by batch: no list of small arrays to
        # concatenate, which would fragment the heap and double the output.
        outputs, start = None, 0
        with torch.inference_mode():
            for inputs in batches:
                batch = method(module, inputs).to("cpu", torch.float64).numpy()
                if outputs is None:
                    outputs = np.empty((X.shape[0], *batch.shape[1:]))
                outputs[start : start + len(batch)] = batch
                start += len(batch)
        return outputs


def _lower_is_better(monitor):
    for name, metric in TASK_METRICS.items():
        if monitor.startswith(f"valid_{name}"):
            return not metric.greater_is_better
    return True


def _task_logits(module, inputs):
    return module(**inputs)
