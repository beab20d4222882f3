"""The base estimator: turns a multi-task PyTorch module into a scikit-learn classifier."""

import copy
import warnings
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

from ._callbacks import (
    BatchProgress,
    CheckedEarlyStopping,
    DivergenceGuard,
    EpochLog,
    TaskScoring,
    check_callback,
    nanmean,
)
from ._data import (
    BatchIterator,
    ChunkedData,
    ChunkTensors,
    FeatureEncoder,
    TensorData,
    check_category_codes,
    check_container,
    check_sample_weight_range,
    module_inputs,
    multi_valued_mask,
    prediction_batches,
    resolve_categorical_mask,
    split_validation,
)
from ._discovery import public_module
from ._distributed import data_parallel
from ._net import MultiTaskNet
from ._params import (
    DTYPES,
    OPTIMIZERS,
    PRECISIONS,
    check_device,
    check_optimizer,
    check_precision,
    check_task_weights,
)
from ._targets import TASK_TYPES, align_task_columns, check_task_types, task_columns
from .loss_weighting import LOSS_WEIGHTINGS, LossWeighting, make_loss_weighting
from .losses import ELEMENT_LOSSES, MultiTaskLoss
from .metrics import TASK_METRICS, score_task
from .nn import MixedInputEmbedding

#: Rows encoded at a time at prediction, so that its memory does not grow with X.
_PREDICT_BLOCK_ROWS = 1 << 16

#: Smallest batch of the validation and prediction passes. Without gradients a
#: larger batch costs less per row (fewer calls, and 4,096 rows still stay in
#: cache): predict_proba on 49,881 census rows took 35-40% less time than in
#: batches of 1,024 (PLE, ESMM, AITM), and less than one pass over all rows.
_INFERENCE_BATCH_SIZE = 4096

#: Data sets larger than this get early stopping when ``early_stopping="auto"``.
_AUTO_EARLY_STOPPING_MIN_SAMPLES = 10_000

# embedding_init_std="auto": a fit planned for at least this many optimizer
# steps starts the table at N(0, _AUTO_EMBEDDING_INIT_STD), a shorter one at
# torch's N(0, 1). Small embeddings won on held-out AUC at every data size
# given enough steps to grow (2,000 rows x 20 epochs as well as 199,523 x 5),
# and lost on fits of 100 steps or fewer (benchmarks/README.md).
_AUTO_EMBEDDING_INIT_MIN_STEPS = 200
_AUTO_EMBEDDING_INIT_STD = 1e-4

# batch_size="auto": at least this many optimizer steps per epoch, in batches
# of at most _AUTO_BATCH_SIZE rows (and at least _AUTO_MIN_BATCH_SIZE).
_AUTO_BATCH_SIZE = 512
_AUTO_MIN_BATCH_SIZE = 16
_AUTO_MIN_STEPS_PER_EPOCH = 16

#: Parameters that only steer training: a continued fit (``warm_start``,
#: ``partial_fit``) uses their current values. Every other parameter defines
#: the fitted network or its data encoding and cannot change in between.
_TRAINING_PARAMS = frozenset(
    {
        "max_epochs",
        "batch_size",
        "lr",
        "optimizer",
        "optimizer_params",
        "weight_decay",
        "early_stopping",
        "early_stopping_monitor",
        "validation_fraction",
        "n_iter_no_change",
        "callbacks",
        "device",
        "precision",
        "random_state",
        "verbose",
        "warm_start",
    }
)


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
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "optimizer_params": [dict, None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "embedding_init_std": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
            None,
        ],
        "categorical_features": ["array-like", StrOptions({"from_dtype"}), callable, None],
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
        "dtype": [StrOptions(set(DTYPES))],
        "precision": [StrOptions(set(PRECISIONS)), None],
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
        embedding_init_std="auto",
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
        precision=None,
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
        self.embedding_init_std = embedding_init_std
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
        self.precision = precision
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start

    # The HTML repr (in notebooks) links the estimator to its API reference page.
    _doc_link_module = "sklearn_mtl"
    _doc_link_template = (
        "https://sklearn-mtl.readthedocs.io/en/stable/generated/{module}.{name}.html"
    )

    def _doc_link_url_param_generator(self):
        cls = type(self)
        return {"module": public_module(cls) or cls.__module__, "name": cls.__qualname__}

    #: False for models whose ``Y`` has a structure, e.g. funnel steps in
    #: order: they take neither a single task nor arbitrary independent
    #: labels, so scikit-learn's generic single-output, multi-output and
    #: multi-label checks (which fit exactly those) do not describe them.
    _accepts_any_label_matrix = True

    # Models that can mix regression and binary tasks take these two as
    # parameters; for the others (funnel steps are binary) they stay fixed.
    task_types = None
    regression_loss = "mse"
    # Set by each model's __init__; the default keeps a model written
    # before the parameter existed working.
    optimizer_params = None

    # ------------------------------------------------------------------ hooks

    @abstractmethod
    def _build_module(self, embedding, n_tasks):
        """Return the torch module: ``forward(categorical, numeric)`` gives
        the ``(n, n_tasks)`` logits. ``embedding`` is the shared
        :class:`~sklearn_mtl.nn.MixedInputEmbedding` of the inputs."""

    def _build_criterion(self, n_tasks):
        """Return the loss, a :class:`~sklearn_mtl.losses.MultiTaskLoss`."""
        return MultiTaskLoss(
            losses=[target.loss for target in self._task_targets], widths=self._output_widths()
        )

    def _model_callbacks(self):
        """Extra ``(name, callback)`` pairs of the model, e.g. recording its gates."""
        return []

    def _check_task_labels(self, Y):
        """Model-specific checks of the encoded ``(n, n_tasks)`` labels
        (0/1 for binary tasks, standardized values for regression, NaN
        where unobserved)."""

    def _proba_from_logits(self, logits):
        """Each task's output on the model scale, in the network's output
        columns: the positive-class probability of a binary task, the class
        probabilities of a multiclass task, the standardized value of a
        regression task."""
        return np.column_stack(
            [
                target.link(logits[:, column])
                for column, target in zip(self._output_columns(), self._task_targets)
            ]
        )

    def _validation_scores(self, Y, logits, sample_weight):
        """History entries recorded from the validation set each epoch: each
        task type's metrics per task (regression ones in the target's units),
        and ``valid_<metric>``, their mean over the tasks that have it."""
        outputs = self._task_outputs(self._proba_from_logits(logits))
        per_metric = {}
        scores = {}
        for t, (name, target) in enumerate(zip(self.task_names_, self._task_targets)):
            y_true, y_score = target.decode(Y[:, t]), target.decode(outputs[t])
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
            column per task, of binary labels (any two labels), or for a task
            declared in ``task_types``, of any number of classes
            (``"multiclass"``) or of numbers (``"regression"``). A DataFrame's column names become
            ``task_names_``. NaN marks a label that is not observed: that row
            does not count towards that task's loss or gradient (e.g. a
            conversion task observed on clicked rows only).
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        self : object
            The fitted estimator.

        Raises
        ------
        ValueError
            If training diverges: a non-finite training loss, or a task's mean
            training loss above 100 in an epoch (the error is also a
            ``FloatingPointError``). The estimator is left as it was before the
            call: unfitted after a first fit.

        Notes
        -----
        A ``KeyboardInterrupt`` (Ctrl-C) discards the epoch in progress: the
        model keeps the weights of the last complete epoch (with early
        stopping, of the best one), ``history_`` and ``n_iter_`` end there,
        and a ``UserWarning`` says so. Interrupted before any epoch completed,
        ``fit`` re-raises the ``KeyboardInterrupt`` and changes nothing.

        Called in every process of an initialized :mod:`torch.distributed`
        process group of several processes (e.g. started by ``torchrun``),
        each with the same data, ``fit`` trains data-parallel: each process
        trains on its share of the rows and gradients are averaged;
        ``batch_size`` counts the rows of a step over all processes. Every
        process ends with the same fitted model.
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
            The classes of each classification task (two for a binary task;
            None for a regression task).
            Only used on the first call; needed there when a task's first
            batch holds one class only.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        self : object
            The fitted estimator.

        Notes
        -----
        ``Y``'s columns are matched to ``task_names_`` by name when both have
        names (a DataFrame on a model fitted on a DataFrame), by position
        otherwise. Changing a parameter other than a training one (see
        ``warm_start``) between calls is a ValueError; faults behave as in
        :meth:`fit`. There is no early stopping (no validation split) in
        ``partial_fit``, as in scikit-learn's ``MLPClassifier``.
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
        proba : list of (ndarray of shape (n_samples, n_classes) or None)
            One array per task, columns ordered as in ``classes_[task]``
            (two for a binary task, ``K`` for a multiclass task); None in
            the slot of a regression task (it has no classes; use
            :meth:`predict`). With a single task, the array itself
            (scikit-learn's single-output convention).

        Raises
        ------
        ValueError
            If every task is a regression task.
        """
        check_is_fitted(self)
        if all(target.classes is None for target in self._task_targets):
            raise ValueError(
                f"predict_proba needs a classification task but every task of "
                f"{type(self).__name__} is a regression task; use predict."
            )
        outputs = self._task_outputs(self._proba_from_logits(self._forward(X, _task_logits)))
        per_task = [
            target.predict_proba(output) for output, target in zip(outputs, self._task_targets)
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
            The most probable class of each classification task and the predicted
            target (in its original units) of each regression task;
            ``(n_samples,)`` with a single task. The dtype is the tasks'
            common NumPy type (e.g. float64 for integer classes and
            regression values), object when they have none.
        """
        outputs = self._task_outputs(self._proba_from_logits(self._forward(X, _task_logits)))
        columns = [target.predict(output) for output, target in zip(outputs, self._task_targets)]
        dtypes = [c.dtype for c in columns]
        numeric = all(d.kind in "iuf" for d in dtypes)
        dtype = np.result_type(*dtypes) if numeric or len(set(dtypes)) == 1 else object
        Y_pred = np.empty((len(columns[0]), self.n_tasks_), dtype=dtype)
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
            One column per binary task (regression and multiclass tasks are
            left out: see :meth:`predict_proba`), named by ``task_names_``;
            the probability of ``classes_[task][1]``. Keeps the index of a
            DataFrame ``X``.
        """
        outputs = self._task_outputs(self._proba_from_logits(self._forward(X, _task_logits)))
        binary = [
            t
            for t, target in enumerate(self._task_targets)
            if target.classes is not None and target.n_outputs == 1
        ]
        index = X.index if isinstance(X, pd.DataFrame) else None
        return pd.DataFrame(
            {self.task_names_[t]: outputs[t] for t in binary},
            index=index,
            columns=self.task_names_[binary],
        )

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
        columns = self._aligned_task_columns(y)
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

    def _start_fit(self, continuing):
        """Check the parameters a fit trains with; the device, the optimizer
        (class and keyword arguments) and the extra callbacks."""
        if continuing:
            self._check_structure_unchanged()
        device = check_device(self.device)
        optimizer = check_optimizer(
            self.optimizer, self.optimizer_params, self.lr, self.weight_decay
        )
        callbacks = [check_callback(item) for item in self.callbacks or []]
        if not continuing and hasattr(self, "net_"):
            # A refit that fails must not leave the old network behind new tasks.
            del self.net_
        return device, optimizer, callbacks

    def _fit(self, X, Y, sample_weight, *, incremental, classes):
        if Y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None."
            )
        continuing = self.__sklearn_is_fitted__() and (incremental or self.warm_start)
        device, optimizer, callbacks = self._start_fit(continuing)
        X = self._check_X(X, reset=not continuing)
        if continuing:
            columns = self._aligned_task_columns(Y)
        else:
            columns, task_names = task_columns(Y)
        self._check_rows(columns, X)
        sample_weight = self._check_sample_weight(sample_weight, X)
        if not continuing:
            self._set_tasks(columns, task_names, classes, sample_weight)
            self._dtype = DTYPES[self.dtype]
            self._feature_encoder = self._new_feature_encoder()
            self._feature_encoder.fit(X, sample_weight)
        encoder = self._feature_encoder
        if continuing and incremental:
            # Updated on a copy: a call that fails leaves the fitted encoding as it was.
            encoder = copy.deepcopy(encoder)
            encoder.partial_fit(X, sample_weight)
        data = self._tensor_data(X, columns, sample_weight, encoder)
        parallel = data_parallel(device)
        if parallel is not None:
            device = parallel.device
            parallel.check_same_data(_data_summary(data, encoder))

        rng = check_random_state(self.random_state)
        if parallel is not None:
            rng = parallel.shared_rng(rng)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        valid_data = None
        if not incremental and self._uses_early_stopping(len(data)):
            strata = self._validation_strata(data.targets.numpy())
            data, valid_data = split_validation(data, self.validation_fraction, rng, strata)
        epochs = 1 if incremental else self.max_epochs
        if continuing:
            # A continued fit must not replay the first call's shuffles and dropout masks.
            seed = (seed + self.n_iter_) % np.iinfo(np.int32).max
            init_std = self.embedding_init_std_
        else:
            init_std = self._embedding_init_std(len(data), epochs)
        with _seeded_torch(seed if parallel is None else parallel.process_seed(seed), device):
            parts = self._continued_parts() if continuing else self._new_parts(init_std)
            net = self._build_net(
                *parts,
                optimizer,
                callbacks,
                len(data),
                valid_data is not None,
                device,
                parallel=parallel,
                seed=seed,
            )
            if continuing:
                _continue_optimizer(net, self.net_)
            self._train(net, data, valid_data, epochs=epochs)
        # Only a fit that succeeded changes the fitted state: a failed one keeps the
        # network it did not replace, and the std that network started from.
        self.embedding_init_std_ = init_std
        self._feature_encoder = encoder
        if not continuing:
            self._structure = self._structure_params()
        return self

    def _fit_chunks(self, source, y, sample_weight):
        if y is not None or sample_weight is not None:
            raise ValueError(
                "With ChunkedData, labels and weights come with each chunk: call "
                "fit(chunked_data) with y=None and sample_weight=None."
            )
        continuing = self.__sklearn_is_fitted__() and self.warm_start
        device, optimizer, callbacks = self._start_fit(continuing)
        n_samples = 0

        def checked_chunks():
            nonlocal n_samples
            for X, Y, sample_weight in source:
                tasks_known = continuing or n_samples
                X = self._check_X(X, reset=not tasks_known)
                if tasks_known:
                    columns = self._aligned_task_columns(Y)
                else:
                    columns, task_names = task_columns(Y)
                self._check_rows(columns, X)
                sample_weight = self._check_sample_weight(sample_weight, X)
                if not tasks_known:
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
            self._dtype = DTYPES[self.dtype]
            self._feature_encoder = self._new_feature_encoder()
            self._feature_encoder.fit_chunks(chain([first], chunks))

        parallel = data_parallel(device)
        if parallel is not None:
            device = parallel.device
            parallel.check_same_data((n_samples, *self._feature_encoder.cardinalities))
        rng = check_random_state(self.random_state)
        if parallel is not None:
            rng = parallel.shared_rng(rng)
        seed = int(rng.randint(np.iinfo(np.int32).max))
        split_seed = int(rng.randint(np.iinfo(np.int32).max))
        fraction = self.validation_fraction if self._uses_early_stopping(n_samples) else None
        data, valid_data = (
            ChunkTensors(source, self._chunk_tensor_data, fraction, part, split_seed)
            for part in ("train", "valid")
        )
        if fraction is None:
            valid_data = None
        n_train = n_samples if fraction is None else int(n_samples * (1 - fraction))
        if continuing:
            seed = (seed + self.n_iter_) % np.iinfo(np.int32).max
            init_std = self.embedding_init_std_
        else:
            init_std = self._embedding_init_std(n_train, self.max_epochs)
        with _seeded_torch(seed if parallel is None else parallel.process_seed(seed), device):
            parts = self._continued_parts() if continuing else self._new_parts(init_std)
            net = self._build_net(
                *parts,
                optimizer,
                callbacks,
                n_train,
                valid_data is not None,
                device,
                parallel=parallel,
                seed=seed,
            )
            if continuing:
                _continue_optimizer(net, self.net_)
            self._train(net, data, valid_data, epochs=self.max_epochs)
        self.embedding_init_std_ = init_std
        if not continuing:
            self._structure = self._structure_params()
        return self

    def _chunk_tensor_data(self, X, Y, sample_weight):
        X = self._check_X(X, reset=False)
        columns = self._aligned_task_columns(Y)
        self._check_rows(columns, X)
        sample_weight = self._check_sample_weight(sample_weight, X)
        return self._tensor_data(X, columns, sample_weight, self._feature_encoder)

    @staticmethod
    def _check_rows(columns, X):
        if len(columns[0]) != X.shape[0]:
            raise ValueError(
                f"Y has {len(columns[0])} rows but X has {X.shape[0]}: they must "
                "describe the same samples."
            )

    def _new_feature_encoder(self):
        return FeatureEncoder(
            self.is_categorical_,
            getattr(self, "feature_names_in_", None),
            min_frequency=self.min_frequency,
            max_categories=self.max_categories,
            hash_buckets=self.hash_buckets,
        )

    def _tensor_data(self, X, columns, sample_weight, encoder):
        """Encoded labels, features and weights of checked ``X`` as host tensors."""
        targets = np.column_stack(
            [t.encode(c, n) for c, t, n in zip(columns, self._task_targets, self.task_names_)]
        )
        self._check_task_labels(targets)
        return TensorData(
            module_inputs(encoder.transform(X), self._dtype),
            torch.from_numpy(targets).to(self._dtype),
            None if sample_weight is None else torch.from_numpy(sample_weight).to(self._dtype),
        )

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def _structure_params(self):
        return {k: v for k, v in self.get_params(deep=False).items() if k not in _TRAINING_PARAMS}

    def _check_structure_unchanged(self):
        changed = {
            name: (old, self._structure_params().get(name))
            for name, old in self._structure.items()
            if not _same_param(old, self._structure_params().get(name))
        }
        if changed:
            details = ", ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changed.items())
            raise ValueError(
                f"{type(self).__name__}: {sorted(changed)} changed since the network was "
                f"built ({details}). warm_start=True and partial_fit continue training that "
                "network, whose structure and data encoding these parameters define; only "
                f"training parameters ({', '.join(sorted(_TRAINING_PARAMS))}) may change. "
                "Set them back, or train a new network: warm_start=False or "
                "sklearn.base.clone(estimator)."
            )

    def _aligned_task_columns(self, Y):
        columns = align_task_columns(Y, list(self.task_names_))
        if len(columns) != self.n_tasks_:
            raise ValueError(
                f"Y has {len(columns)} task(s) but {type(self).__name__} was "
                f"fitted with {self.n_tasks_} ({list(self.task_names_)}); the "
                "number of tasks cannot change between calls."
            )
        return columns

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
            check_category_codes(X, self.is_categorical_, getattr(self, "feature_names_in_", None))
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
        check_sample_weight_range(sample_weight)
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

    def _output_widths(self):
        """Each task's number of network outputs (``K`` for a multiclass task)."""
        return [target.n_outputs for target in self._task_targets]

    def _output_columns(self):
        """Each task's output column (an index) or columns (a slice)."""
        starts = np.cumsum([0, *self._output_widths()])
        return [
            int(start) if stop - start == 1 else slice(int(start), int(stop))
            for start, stop in zip(starts[:-1], starts[1:])
        ]

    def _task_outputs(self, outputs):
        """Split an array of per-output columns into each task's: ``(n,)``
        or ``(n, K)``."""
        return [outputs[:, column] for column in self._output_columns()]

    def _uses_early_stopping(self, n_samples):
        if self.early_stopping == "auto":
            return n_samples > _AUTO_EARLY_STOPPING_MIN_SAMPLES
        return self.early_stopping

    def _embedding_init_std(self, n_train, epochs):
        """The std a new embedding table starts from (None: torch's N(0, 1)),
        given the training rows and epochs the fit plans."""
        if self.embedding_init_std != "auto":
            return self.embedding_init_std
        steps = -(-n_train // self._batch_size(n_train)) * epochs
        return _AUTO_EMBEDDING_INIT_STD if steps >= _AUTO_EMBEDDING_INIT_MIN_STEPS else None

    def _validation_strata(self, targets):
        """The labels of the binary task with the fewest minority-class rows
        (unobserved = a third stratum), so that the validation split holds
        both classes of every task whenever the rarest one allows it, as
        scikit-learn's classifiers stratify theirs; zeros without a binary task."""
        strata = np.zeros(len(targets), dtype=np.intp)
        minority = np.inf
        for t, target in enumerate(self._task_targets):
            if target.classes is None:
                continue
            column = targets[:, t]
            count = min((column == 0).sum(), (column == 1).sum())
            if count < minority:
                minority = count
                strata = np.where(np.isnan(column), 2, column).astype(np.intp)
        return strata

    def _monitor(self):
        # A bare task name is shorthand for that task's first validation metric
        # (ROC AUC for a binary task, R2 for a regression task).
        monitor = self.early_stopping_monitor
        names = list(self.task_names_)
        if monitor not in names:
            return monitor
        return f"valid_{self._task_targets[names.index(monitor)].metrics[0]}_{monitor}"

    def _new_parts(self, init_std):
        """A new module (its embedding table at N(0, ``init_std``), torch's
        N(0, 1) for None), criterion and loss-weighting strategy."""
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
            init_std=init_std,
        )
        module = self._build_module(embedding, self.n_tasks_).to(self._dtype)
        loss_weighting = make_loss_weighting(self.loss_weighting).setup(
            self.n_tasks_, module, check_task_weights(self.task_weights, self.n_tasks_)
        )
        criterion = self._checked_criterion().bind(module).to(self._dtype)
        return module, criterion, loss_weighting.to(self._dtype)

    def _continued_parts(self):
        """Copies of the fitted module, criterion and strategy (copied
        together: a strategy may hold the module's parameters), so that a
        continued fit that fails leaves the fitted network as it was."""
        net = self.net_
        return copy.deepcopy((net.module_, net.criterion_, net.loss_weighting_))

    def _build_net(
        self,
        module,
        criterion,
        loss_weighting,
        optimizer,
        callbacks,
        n_train,
        has_validation,
        device,
        *,
        parallel=None,
        seed=0,
    ):
        task_names = list(self.task_names_)
        batch_size = self._batch_size(n_train)
        shard = None
        if parallel is not None:
            parallel.check_loss_weighting(loss_weighting)
            if n_train < parallel.world_size:
                raise ValueError(
                    f"{n_train} training rows cannot be shared among {parallel.world_size} "
                    "processes; train on more rows or in fewer processes."
                )
            batch_size = parallel.rows_per_step(batch_size)
            shard = parallel.shard(seed)
        internal = [
            ("task_scoring", TaskScoring(task_names, self._validation_scores)),
            ("divergence_guard", DivergenceGuard(task_names)),
            *self._model_callbacks(),
        ]
        if has_validation:
            monitor = self._monitor()
            internal.append(
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
        if self.verbose >= 2:
            internal.append(("batch_progress", BatchProgress()))
        optimizer_class, optimizer_params = optimizer
        net = MultiTaskNet(
            module=module,
            criterion=criterion,
            loss_weighting=loss_weighting,
            optimizer=optimizer_class,
            lr=self.lr,
            **{f"optimizer__{k}": v for k, v in optimizer_params.items()},
            max_epochs=self.max_epochs,
            batch_size=batch_size,
            iterator_train=BatchIterator,
            iterator_train__shuffle=True,
            iterator_train__device=device,
            iterator_train__shard=shard,
            iterator_train__fold_single_row=_has_batch_norm(module),
            data_parallel=parallel,
            autocast_dtype=check_precision(self.precision, self.dtype),
            iterator_valid=BatchIterator,
            # Validation and prediction batches change no result (eval mode): a
            # training batch of 16 rows must not make predict crawl.
            iterator_valid__batch_size=max(batch_size, _INFERENCE_BATCH_SIZE),
            iterator_valid__device=device,
            train_split=None,
            callbacks=internal + callbacks,
            callbacks__print_log=EpochLog(keys_shown=self._epoch_log_keys()),
            verbose=self.verbose,
            device=device,
        )
        net.initialize()
        if self.__sklearn_is_fitted__():
            # A new list of the same rows: epochs of a failed call never reach net_.
            net.history_ = type(self.net_.history_)(self.net_.history_)
        return net

    def _batch_size(self, n_samples):
        if self.batch_size != "auto":
            return self.batch_size
        steps = n_samples // _AUTO_MIN_STEPS_PER_EPOCH
        return int(np.clip(steps, _AUTO_MIN_BATCH_SIZE, _AUTO_BATCH_SIZE))

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

    def _train(self, net, data, valid_data, *, epochs):
        """Train ``net``; it becomes ``net_`` only when at least one epoch
        completed, so that an error (e.g. divergence) or an interrupt before
        the end of the first epoch leaves the estimator as it was."""
        net.train_split = None if valid_data is None else predefined_split(valid_data)
        n_before = len(net.history)
        try:
            net.partial_fit(data, epochs=epochs)
        finally:
            # Neither the validation tensors nor the process group may live on
            # in the fitted (pickled) model.
            net.train_split = None
            net.data_parallel = None
            net.iterator_train__shard = None
        if net.interrupted_ is not None:
            if len(net.history) == n_before:
                raise KeyboardInterrupt
            warnings.warn(_interrupt_message(net), UserWarning, stacklevel=5)
        self.net_ = net
        self.history_ = net.history
        self.n_iter_ = len(net.history)
        _warn_unsettled_batch_norm(net.module_)

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
            # The fitted net's batch size and dtype: the parameters may have changed since.
            self.net_.iterator_valid__batch_size,
            self._dtype,
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


def _has_batch_norm(module):
    return any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in module.modules())


#: Fewest training steps after which BatchNorm's running statistics (momentum 0.1)
#: keep under 5% of their starting values (0.9 ** 30 = 0.04).
_BATCH_NORM_MIN_STEPS = 30


def _warn_unsettled_batch_norm(module):
    """Warn when predictions would normalise with running statistics that are
    still mostly their starting values (mean 0, variance 1)."""
    steps = [
        int(m.num_batches_tracked)
        for m in module.modules()
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats
    ]
    if steps and min(steps) < _BATCH_NORM_MIN_STEPS:
        warnings.warn(
            f"batch_norm=True, but the network has trained for only {min(steps)} "
            f"optimizer step(s): predictions normalise with BatchNorm's running "
            f"statistics, which after fewer than {_BATCH_NORM_MIN_STEPS} steps are still "
            "largely their starting values, so they can be far off. Train for more steps "
            "(more epochs or a smaller batch_size), or set batch_norm=False.",
            UserWarning,
            stacklevel=6,
        )


def _lower_is_better(monitor):
    for name, metric in TASK_METRICS.items():
        if monitor.startswith(f"valid_{name}"):
            return not metric.greater_is_better
    return True


def _task_logits(module, inputs):
    return module(**inputs)


def _same_param(old, new):
    """Whether a parameter value is unchanged (sequences compared by items)."""
    if old is new:
        return True
    sequence = (list, tuple, np.ndarray)
    if isinstance(old, sequence) and isinstance(new, sequence):
        return len(old) == len(new) and all(_same_param(a, b) for a, b in zip(old, new))
    try:
        return bool(old == new)
    except (TypeError, ValueError):
        return False


def _continue_optimizer(net, fitted):
    """Carry the fitted optimizer's state (e.g. Adam's moments) over to the
    new net's, if it is of the same class, keeping the new settings."""
    optimizer, previous = net.optimizer_, fitted.optimizer_
    if type(optimizer) is not type(previous):
        return
    settings = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    optimizer.load_state_dict(copy.deepcopy(previous.state_dict()))
    for group, setting in zip(optimizer.param_groups, settings):
        group.update(setting)


def _interrupt_message(net):
    last = len(net.history)
    stopper = dict(net.callbacks_).get("early_stopping")
    if stopper is not None and stopper.best_model_weights_ is not None and stopper.best_epoch_ != last:
        kept = f"of its best epoch so far, {stopper.best_epoch_}"
    else:
        kept = f"of epoch {last}"
    return (
        f"Training was interrupted (KeyboardInterrupt) during epoch {net.interrupted_}, "
        f"which is discarded: the model keeps the weights {kept}, and history_ and "
        f"n_iter_ end at epoch {last}. Call fit again to train from scratch, or set "
        "warm_start=True to continue."
    )
