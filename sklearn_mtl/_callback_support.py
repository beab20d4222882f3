"""scikit-learn's callbacks (``set_callbacks``, experimental in scikit-learn 1.9).

A fit is the root task of the estimator's callback context and each epoch
one of its subtasks, as an iteration of scikit-learn's own iterative
estimators is: a callback's ``on_fit_task_begin`` and ``on_fit_task_end``
run at the start and end of the fit and of every epoch. At an epoch's end,
``fitted_estimator`` is a copy of the estimator that predicts with the
network as that epoch left it, and a hook that returns True stops training
after that epoch (as early stopping does). Under scikit-learn < 1.9 the
estimators have no ``set_callbacks``.
"""

try:
    from sklearn.callback import CallbackSupportMixin
except ImportError:  # scikit-learn < 1.9 has no callbacks API.

    class CallbackSupportMixin:
        """Without scikit-learn's callbacks API, estimators take no callbacks."""


class FitTasks:
    """The callback tasks of one ``fit`` or ``partial_fit``: the fit and its epochs.

    Build it with :meth:`of`, which sets up the estimator's callbacks.

    Parameters
    ----------
    estimator : BaseMultiTaskClassifier
        The estimator being fitted; its callbacks are set.
    epochs : int
        The most epochs the fit runs (fewer when it stops early): the root
        task's number of subtasks.
    hook_data : dict
        The ``X``, ``y`` and ``metadata`` (sample weights) passed to the
        hooks, as the fit got them.
    """

    def __init__(self, estimator, epochs, hook_data):
        self.estimator = estimator
        self.hook_data = hook_data
        self.context = estimator._init_callback_context(max_subtasks=epochs)
        self._epoch = None

    @classmethod
    def of(cls, estimator, epochs, X, y, sample_weight):
        """The fit's tasks, or None when the estimator has no callbacks."""
        if not getattr(estimator, "_skl_callbacks", None):
            return None
        metadata = None if sample_weight is None else {"sample_weight": sample_weight}
        return cls(estimator, epochs, {"X": X, "y": y, "metadata": metadata})

    def begin(self):
        """Call the callbacks at the start of the fit."""
        self.context.call_on_fit_task_begin(estimator=self.estimator, **self.hook_data)

    def end(self):
        """Call the callbacks at the end of the fit; the estimator is fitted."""
        self.context.call_on_fit_task_end(
            estimator=self.estimator, reconstruction_attributes={}, **self.hook_data
        )

    def epoch_begin(self):
        """Call the callbacks at the start of an epoch."""
        self._epoch = self.context.subcontext(task_name="epoch")
        self._epoch.call_on_fit_task_begin(estimator=self.estimator, **self.hook_data)

    def epoch_end(self, fitted_state):
        """Call the callbacks at the end of an epoch; whether one asks to stop.

        ``fitted_state()`` gives the fitted attributes of the estimator as
        the epoch leaves it; it is called only for a callback that takes a
        ``fitted_estimator``.
        """
        return self._epoch.call_on_fit_task_end(
            estimator=self.estimator, reconstruction_attributes=fitted_state, **self.hook_data
        )
