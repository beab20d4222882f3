"""The base estimator: turns a multi-task PyTorch module into a scikit-learn classifier."""

import copy
import warnings
from abc import ABCMeta, abstractmethod
from numbers import Integral, Real

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import UndefinedMetricWarning
from sklearn.utils._param_validation import Interval, RealNotInt, StrOptions
from sklearn.utils.validation import check_is_fitted

from ._callback_support import CallbackSupportMixin, FitTasks
from ._data import (
    ChunkedData,
    ChunkSource,
    InMemorySource,
    aligned_task_columns,
    check_features,
    holds_out_validation,
    prediction_batches,
)
from ._interactions import INTERACTIONS, interaction_embedding
from ._params import (
    DTYPES,
    OPTIMIZERS,
    PRECISIONS,
    check_pos_weight,
    check_task_weights,
    torch_threads,
)
from ._shared import TRAINING_PARAMS, compose_docstring, fill_doc, make_init
from ._training import TABLE_OPTIMIZERS, TrainingSession
from ._versions import unversioned_state, versioned_state
from .loss_weighting import LOSS_WEIGHTINGS, LossWeighting, make_loss_weighting
from .losses import ELEMENT_LOSSES, MultiTaskLoss
from .metrics import score_task
from .nn import MixedInputEmbedding

#: Rows encoded at a time at prediction, so that its memory does not grow with X.
_PREDICT_BLOCK_ROWS = 1 << 16

# embedding_init_std="auto": a fit planned for at least this many optimizer
# steps starts the table at N(0, _AUTO_EMBEDDING_INIT_STD), a shorter one at
# torch's N(0, 1). Small embeddings won on held-out AUC at every data size
# given enough steps to grow (2,000 rows x 20 epochs as well as 199,523 x 5),
# and lost on fits of 100 steps or fewer (benchmarks/README.md).
_AUTO_EMBEDDING_INIT_MIN_STEPS = 200
_AUTO_EMBEDDING_INIT_STD = 1e-4
# ... unless an epoch looks up each row of the table fewer than this many times
# on average (training rows x embedded columns / table rows): a sparse table,
# such as hashed user and item IDs, then starts at N(0, _AUTO_SPARSE_INIT_STD).
# Rows updated a few times a fit barely grow out of 1e-4, and the towers can
# hardly tell the IDs apart. On click logs whose rows an epoch looks up about 2
# and 20 times, 0.05 raised the funnel models' CVR ranking at a click AUC within
# 0.005 of 1e-4's; on a funnel of 500 categories per column (72 lookups) it was
# level or slightly behind, and census income (over 2,000) keeps 1e-4
# (benchmarks/results_accuracy.txt). The threshold lies between 20 and 72.
_AUTO_SPARSE_MAX_LOOKUPS = 40
_AUTO_SPARSE_INIT_STD = 0.05

# max_epochs="auto": a fit that holds out rows for early stopping may run up to
# _AUTO_MAX_EPOCHS_EARLY_STOPPING epochs, so that early stopping, not the cap,
# ends it; a fit without runs _AUTO_MAX_EPOCHS, the cap being its only brake.
# In the accuracy suite a cap of 20 ended 124 of 396 early-stopped fits; 100
# raised 8 of 264 held-out AUCs beyond seed noise (by up to 0.0022) and lowered
# none, for 14% more epochs. Without early stopping, 100 epochs cost a
# clicked-only CVR model 0.008 to 0.052 of pCVR AUC (benchmarks/README.md).
_AUTO_MAX_EPOCHS = 20
_AUTO_MAX_EPOCHS_EARLY_STOPPING = 100

# batch_size="auto": at least this many optimizer steps per epoch, in batches
# of at most _AUTO_BATCH_SIZE rows (and at least _AUTO_MIN_BATCH_SIZE).
_AUTO_BATCH_SIZE = 512
_AUTO_MIN_BATCH_SIZE = 16
_AUTO_MIN_STEPS_PER_EPOCH = 16

@fill_doc
class BaseMultiTaskClassifier(
    CallbackSupportMixin, ClassifierMixin, BaseEstimator, metaclass=ABCMeta
):
    """Base class of the multi-task classifiers; it owns ``fit``.

    A model fills in :meth:`_build_module` (and optionally
    :meth:`_build_criterion`, :meth:`_check_task_labels`,
    :meth:`_validation_scores`). Training runs through a private skorch
    net built in ``fit`` (``net_``) over tensors built once per call.
    """

    _parameter_constraints: dict = {
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "batch_size": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        # Above 1e6 no network trains, and Adam's step overflows float32 before it diverges.
        "lr": [Interval(Real, 0, 1e6, closed="right")],
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "optimizer_params": [dict, None],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
        "embedding_dim": [Interval(Integral, 1, None, closed="left")],
        "embedding_optimizer": [StrOptions({"auto", "dense", *TABLE_OPTIMIZERS})],
        "embedding_init_std": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
            None,
        ],
        "interaction": [StrOptions(set(INTERACTIONS)), None],
        "interaction_params": [dict, None],
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
        "n_threads": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"}), None],
        "dtype": [StrOptions(set(DTYPES))],
        "precision": [StrOptions(set(PRECISIONS)), None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "warm_start": ["boolean"],
        "pos_weight": [
            Interval(Real, 0, None, closed="neither"),
            StrOptions({"balanced"}),
            dict,
            None,
        ],
    }

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # A model declares only its own parameters; the signature and the
        # docstring get the shared ones (see sklearn_mtl._shared).
        if "_own_params" in vars(cls):
            cls.__init__ = make_init(cls)
            compose_docstring(cls)

    # The HTML repr (in notebooks) links the estimator to its API reference page.
    # Every estimator is exported from the package root, where the reference
    # documents it; the page name comes from the module path alone, as in
    # scikit-learn, without importing the package it is part of.
    _doc_link_module = "sklearn_mtl"
    _doc_link_template = (
        "https://sklearn-mtl.readthedocs.io/en/stable/generated/{module}.{name}.html"
    )

    def _doc_link_url_param_generator(self):
        cls = type(self)
        return {"module": cls.__module__.partition(".")[0], "name": cls.__qualname__}

    #: False for models whose ``Y`` has a structure, e.g. funnel steps in
    #: order: they take neither a single task nor arbitrary independent
    #: labels, so scikit-learn's generic single-output, multi-output and
    #: multi-label checks (which fit exactly those) do not describe them.
    _accepts_any_label_matrix = True

    #: Whether the model takes ``task_types`` and ``regression_loss``, i.e. can
    #: mix binary, multiclass and regression tasks; for the others (funnel
    #: steps are binary) they stay fixed at these class values.
    _mixes_task_types = False
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
        scores.update({f"valid_{m}": _nanmean(values) for m, values in per_metric.items()})
        return scores

    def _divergence_hints(self, net):
        """Likely causes of a divergence besides the learning rate, as sentences:
        here, task loss weights that the loss weighting drove far from one."""
        rows = [row for row in net.history if f"loss_weight_{self.task_names_[0]}" in row]
        if not rows:
            return []
        weights = {name: rows[-1][f"loss_weight_{name}"] for name in self.task_names_}
        extreme = {name: w for name, w in weights.items() if not 1e-3 <= abs(w) <= 1e3}
        if not extreme:
            return []
        shown = ", ".join(f"{name!r}: {w:.3g}" for name, w in extreme.items())
        return [
            f"loss_weighting={self.loss_weighting!r} had driven task loss weights to "
            f"{shown}: check its parameters, or use loss_weighting='fixed'."
        ]

    def _epoch_log_keys(self):
        """History keys shown in the ``verbose`` table, one row per epoch."""
        shown = {"epoch", "train_loss", "valid_loss", "valid_roc_auc", "valid_r2", "dur"}
        return shown | {
            f"valid_{target.metrics[0]}_{name}"
            for name, target in zip(self.task_names_, self._task_targets)
        }

    # ----------------------------------------------------------- public API

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_weight=None, *, X_val=None, y_val=None, sample_weight_val=None):
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
        X_val : {array-like, DataFrame} of shape (n_val, n_features), default=None
            Validation features for early stopping, in place of the
            ``validation_fraction`` held out of ``X`` (as scikit-learn's
            ``HistGradientBoostingClassifier`` takes them): e.g. later rows of
            a time-ordered log. Given, early stopping is on with
            ``early_stopping="auto"``; ``early_stopping=False`` refuses them.
            In a Pipeline, route them with ``set_fit_request(X_val=True,
            y_val=True)`` and the Pipeline's ``transform_input=["X_val"]``, so
            that the steps before the model transform them too.
        y_val : array-like of shape (n_val, n_tasks) or (n_val,), default=None
            Validation labels, with ``X_val``.
        sample_weight_val : array-like of shape (n_val,), default=None
            Validation row weights.

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
        process ends with the same fitted model. A ChunkedData of Parquet
        files is read in shares: each process reads only its share of the
        row groups (see :class:`~sklearn_mtl.ChunkedData`).
        """
        if isinstance(X, ChunkedData):
            if y is not None or sample_weight is not None:
                raise ValueError(
                    "With ChunkedData, labels and weights come with each chunk: call "
                    "fit(chunked_data) with y=None and sample_weight=None."
                )
            if X_val is not None or y_val is not None:
                raise ValueError(
                    "ChunkedData holds out its validation rows from each chunk "
                    "(validation_fraction); X_val and y_val are for data in memory."
                )
            return self._fit_source(ChunkSource(X), incremental=False, X=X)
        if (X_val is None) != (y_val is None):
            raise ValueError("X_val and y_val go together: give both, or neither.")
        if X_val is not None and self.early_stopping is False:
            raise ValueError(
                "X_val and y_val are validation rows for early stopping, which "
                "early_stopping=False turns off; set early_stopping='auto' or True."
            )
        validation = None if X_val is None else (X_val, y_val, sample_weight_val)
        source = InMemorySource(X, y, sample_weight, validation=validation)
        return self._fit_source(
            source, incremental=False, X=X, y=y, sample_weight=sample_weight
        )

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
        {X}
        y : array-like of shape (n_samples, n_tasks) or (n_samples,)
            Labels, as in :meth:`fit`.
        classes : list of array-like, default=None
            The classes of each classification task (two for a binary task;
            None for a regression task).
            Only used on the first call; needed there when a task's first
            batch holds one class only.
        {sample_weight_returns_self}

        Notes
        -----
        ``Y``'s columns are matched to ``task_names_`` by name when both have
        names (a DataFrame on a model fitted on a DataFrame), by position
        otherwise. Changing a parameter other than a training one (see
        ``warm_start``) between calls is a ValueError; faults behave as in
        :meth:`fit`. There is no early stopping (no validation split) in
        ``partial_fit``, as in scikit-learn's ``MLPClassifier``.
        """
        return self._fit_source(
            InMemorySource(X, y, sample_weight, classes),
            incremental=True,
            X=X,
            y=y,
            sample_weight=sample_weight,
        )

    def predict_proba(self, X):
        """Class probabilities of each task.

        {X_returns}
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

        {X_returns}
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

        {X_returns}
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
        """Mean over tasks of each task's ranking score on its observed labels.

        A binary task scores its ROC AUC, a multiclass task its macro
        one-vs-rest ROC AUC, a regression task its R2: each task's first
        validation metric, so that ``score``, ``early_stopping_monitor``'s
        default and the history agree. This departs from scikit-learn's
        classifiers, whose ``score`` is the accuracy: on click data a model
        that predicts no positive scores the all-negative accuracy, so a
        search without ``scoring=`` (``GridSearchCV``,
        ``permutation_importance``) would rank every candidate the same. For
        other metrics per task use the scorers of :mod:`sklearn_mtl.metrics`.

        Parameters
        ----------
        {X}
        y : array-like of shape (n_samples, n_tasks) or (n_samples,)
            True labels; NaN marks an unobserved label.
        sample_weight : array-like of shape (n_samples,), default=None
            Row weights.

        Returns
        -------
        score : float
            The mean over the tasks whose score is defined (a task whose
            observed labels hold one class has no AUC); NaN, with an
            ``UndefinedMetricWarning``, when none is.
        """
        outputs = self._task_outputs(self._proba_from_logits(self._forward(X, _task_logits)))
        columns = aligned_task_columns(self, y)
        weight = None if sample_weight is None else np.asarray(sample_weight, dtype=float)
        truths = np.column_stack(
            [t.truth(c, name) for c, name, t in zip(columns, self.task_names_, self._task_targets)]
        )
        # The model's own label rules, e.g. a funnel step NaN after a 0 is a known 0.
        self._check_task_labels(truths)
        scores = [
            score_task(target.metrics[0], truths[:, t], target.decode(output), weight)
            for t, (target, output) in enumerate(zip(self._task_targets, outputs))
        ]
        if np.isnan(scores).all():
            warnings.warn(
                f"score is undefined: no task of {list(self.task_names_)} has a defined "
                f"{[target.metrics[0] for target in self._task_targets]} on these labels "
                "(e.g. one class only); returning NaN.",
                UndefinedMetricWarning,
                stacklevel=2,
            )
        return _nanmean(scores)

    # A pickle records the sklearn_mtl version; loading it under another warns.
    def __getstate__(self):
        return versioned_state(super().__getstate__())

    def __setstate__(self, state):
        super().__setstate__(unversioned_state(state, type(self).__name__))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = self._accepts_any_label_matrix
        tags.target_tags.single_output = self._accepts_any_label_matrix
        tags.classifier_tags.multi_class = False
        tags.classifier_tags.multi_label = self._accepts_any_label_matrix
        return tags

    # ------------------------------------------------------------ internals

    def _fit_source(self, source, *, incremental, X, y=None, sample_weight=None):
        """Read ``source``, then train: the one procedure behind ``fit``,
        ``partial_fit`` and ``warm_start``, in memory or out of core.
        ``X``, ``y`` and ``sample_weight``, as the caller got them, go to
        scikit-learn's callbacks."""
        continuing = self.__sklearn_is_fitted__() and (incremental or self.warm_start)
        if continuing:
            self._check_structure_unchanged()
        session = TrainingSession(self, continuing=continuing)
        if not continuing:
            if hasattr(self, "net_"):
                # A refit that fails must not leave the old network behind new tasks.
                del self.net_
            self._dtype = DTYPES[self.dtype]
        with torch_threads(self.n_threads):
            data = source.read(
                self, continuing=continuing, incremental=incremental, group=session.parallel
            )
            epochs = 1 if incremental else self._max_epochs(holds_out_validation(self, data))
            try:
                # The callbacks start once the input has passed its checks.
                tasks = FitTasks.of(self, epochs, X, y, sample_weight)
                if tasks is not None:
                    tasks.begin()
                net, init_std = session.run(
                    data, epochs=epochs, validate=not incremental, tasks=tasks
                )
            finally:
                data.close()
        # Only a fit that succeeded changes the fitted state: a failed one keeps the
        # network it did not replace, and the std that network started from.
        vars(self).update(self._fitted_state(net, init_std, data.encoder))
        if not continuing:
            self._structure = self._structure_params()
        if tasks is not None:
            tasks.end()
        return self

    @staticmethod
    def _fitted_state(net, init_std, encoder):
        """The fitted attributes of an estimator whose network is ``net``."""
        return {
            "net_": net,
            "history_": net.history,
            "n_iter_": len(net.history),
            "embedding_init_std_": init_std,
            "_feature_encoder": encoder,
        }

    def __sklearn_is_fitted__(self):
        return hasattr(self, "net_")

    def _structure_params(self):
        return {k: v for k, v in self.get_params(deep=False).items() if k not in TRAINING_PARAMS}

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
                f"training parameters ({', '.join(sorted(TRAINING_PARAMS))}) may change. "
                "Set them back, or train a new network: warm_start=False or "
                "sklearn.base.clone(estimator)."
            )

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

    def _max_epochs(self, validating):
        """The most epochs a fit runs, given whether it holds out validation rows."""
        if self.max_epochs != "auto":
            return self.max_epochs
        return _AUTO_MAX_EPOCHS_EARLY_STOPPING if validating else _AUTO_MAX_EPOCHS

    def _embedding_init_std(self, n_train, epochs, encoder):
        """The std a new embedding table starts from (None: torch's N(0, 1)),
        given the training rows and epochs the fit plans and the ``encoder``
        whose codes the table embeds."""
        if self.embedding_init_std != "auto":
            return self.embedding_init_std
        steps = -(-n_train // self._batch_size(n_train)) * epochs
        if steps < _AUTO_EMBEDDING_INIT_MIN_STEPS:
            return None
        sizes = [*encoder.cardinalities, *encoder.bag_cardinalities]
        if sizes and n_train * len(sizes) < _AUTO_SPARSE_MAX_LOOKUPS * sum(sizes):
            return _AUTO_SPARSE_INIT_STD
        return _AUTO_EMBEDDING_INIT_STD

    def _monitor(self):
        # A bare task name is shorthand for that task's first validation metric
        # (ROC AUC for a binary task, R2 for a regression task).
        monitor = self.early_stopping_monitor
        names = list(self.task_names_)
        if monitor not in names:
            return monitor
        return f"valid_{self._task_targets[names.index(monitor)].metrics[0]}_{monitor}"

    def _new_parts(self, init_std, encoder, train=None):
        """A new module over ``encoder``'s inputs (its embedding table at
        N(0, ``init_std``), torch's N(0, 1) for None), criterion and
        loss-weighting strategy. ``train``, the training rows, gives the
        label counts of ``pos_weight="balanced"``; None when a saved state
        will fill the parts."""
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
        # The one place an interaction block joins: every model reads it as its embedding.
        embedding = interaction_embedding(embedding, self.interaction, self.interaction_params)
        module = self._build_module(embedding, self.n_tasks_).to(self._dtype)
        loss_weighting = make_loss_weighting(self.loss_weighting).setup(
            self.n_tasks_, module, check_task_weights(self.task_weights, self.n_tasks_)
        )
        criterion = self._checked_criterion(train).bind(module).to(self._dtype)
        return module, criterion, loss_weighting.to(self._dtype)

    def _continued_parts(self):
        """Copies of the fitted module, criterion and strategy (copied
        together: a strategy may hold the module's parameters), so that a
        continued fit that fails leaves the fitted network as it was."""
        net = self.net_
        return copy.deepcopy((net.module_, net.criterion_, net.loss_weighting_))

    def _batch_size(self, n_samples):
        if self.batch_size != "auto":
            return self.batch_size
        steps = n_samples // _AUTO_MIN_STEPS_PER_EPOCH
        return int(np.clip(steps, _AUTO_MIN_BATCH_SIZE, _AUTO_BATCH_SIZE))

    def _checked_criterion(self, train):
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
        binary = [loss == "bce" for loss in expected]
        if train is None and self.pos_weight is not None:
            # The saved state's weights replace these placeholders.
            return criterion.weigh_positives(np.ones(self.n_tasks_, dtype=np.float32))
        return criterion.weigh_positives(
            check_pos_weight(self.pos_weight, self.task_names_, binary, train)
        )

    def _forward(self, X, method):
        """Apply ``method(module, inputs)`` to X in batches; a float64 array."""
        check_is_fitted(self)
        X = check_features(self, X, reset=False)
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
        with torch_threads(self.n_threads), torch.inference_mode():
            for inputs in batches:
                batch = method(module, inputs).to("cpu", torch.float64).numpy()
                if outputs is None:
                    outputs = np.empty((X.shape[0], *batch.shape[1:]))
                outputs[start : start + len(batch)] = batch
                start += len(batch)
        return outputs


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



def _nanmean(values):
    values = np.asarray(values, dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else np.nan
