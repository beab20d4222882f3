"""What every conversion-funnel model (ESMM, AITM) outputs the same way."""

import numpy as np

from .._base import _task_logits
from .._shared import fill_doc


def _log_sigmoid(logits):
    return -np.logaddexp(0.0, -logits)


@fill_doc
class FunnelMixin:
    """Funnel outputs: end-to-end step probabilities, named as such, and step rates.

    A funnel model's task ``t`` is the event "step ``t`` reached", so its
    probability is end to end, ``P(step_0 & ... & step_t)`` (pCTCVR for a
    conversion after a click). :meth:`predict_cvr` gives the conditional
    rates ``P(step_t | step_{t-1})``. A model computes those from its
    end-to-end logits unless it overrides :meth:`_step_log_rates` (ESMM
    reads its CVR tower).

    Labels: a later step that is NaN where the previous step is 0 is known
    to be 0 (no conversion without a click) and trains as 0; NaN after a 1,
    or in the first step, is unobserved and left out of that step's loss
    (see :func:`sklearn_mtl._targets.check_funnel`).
    """

    def _positives(self):
        """Each step's label taken as positive, for the funnel checks' messages."""
        return [target.classes[1] for target in self._task_targets]

    def predict_cvr(self, X):
        """Conditional rate of each later funnel step given the previous one, for every row.

        Defined for rows where the previous step did not happen too (the
        rate had it happened): rank candidates by it, or multiply by the
        previous step's probability for the end-to-end one.

        {X_returns}
        ndarray of shape (n_samples,) or (n_samples, n_tasks - 1)
            ``P(step_t | step_{t-1})`` for ``t = 1 .. n_tasks - 1`` in
            column ``t - 1``, e.g. pCVR = P(conversion | click); one
            dimension for a two-step funnel (scikit-learn's single-output
            convention). A model whose step ``t`` comes out more probable
            than step ``t - 1`` gets rate 1 there.
        """
        rates = np.exp(np.minimum(self._step_log_rates(X), 0.0))
        return rates[:, 0] if rates.shape[1] == 1 else rates

    def predict_proba_frame(self, X):
        """End-to-end probability of each funnel step as a DataFrame.

        {X_returns}
        DataFrame of shape (n_samples, n_tasks)
            Column ``t`` is ``P(step_0 & ... & step_t)`` and is named so,
            e.g. ``"P(click)"`` and ``"P(click & conversion)"`` (pCTR and
            pCTCVR); the conditional rates are :meth:`predict_cvr`. Keeps
            the index of a DataFrame ``X``.
        """
        frame = super().predict_proba_frame(X)
        names = [str(name) for name in self.task_names_]
        frame.columns = [f"P({' & '.join(names[: t + 1])})" for t in range(len(names))]
        return frame

    def _step_log_rates(self, X):
        """``(n, n_tasks - 1)`` log ``P(step_t | step_{t-1})``, float64.

        From the end-to-end logits: log P(step_t) - log P(step_{t-1}),
        exact in float64 however small both probabilities are.
        """
        log_proba = _log_sigmoid(self._forward(X, _task_logits))
        return log_proba[:, 1:] - log_proba[:, :-1]
