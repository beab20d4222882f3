"""What the estimators of gated-level networks share (PLE, STEM, AdaTT)."""

from sklearn.utils.validation import check_is_fitted

from .._shared import doc_section, fill_doc


def references_section(network):
    """The References section of ``network``'s docstring, heading included: its
    estimator's ``{references}`` (the papers are the network's)."""
    return "References\n----------\n" + doc_section(network, "References")


@fill_doc
class LevelGateWeightsMixin:
    """``gate_weights(X)`` of an estimator whose network stacks gated levels."""

    def gate_weights(self, X):
        """Every gate's softmax weights over the experts of its level, per sample.

        {X_returns}
        list of ndarray, one per level
            Level ``j``'s array has shape ``(n_samples, n_gates, n_experts)``:
            rows ``0 .. n_tasks - 1`` are the task gates and, below the last
            level where the model has one, a last row is the shared gate;
            columns are task 0's experts, ..., the last task's, then the
            shared experts. Each row sums to one and is exactly zero on
            the experts its gate does not see (in PLE, another task's
            experts). Average over samples
            (``.mean(axis=0)``) for each gate's expert utilisation.
        """
        check_is_fitted(self)
        # The fitted network's levels: num_levels may have been changed since.
        levels = len(self.net_.module_.levels)
        return [self._forward(X, _level_gate_weights(j)) for j in range(levels)]


def _level_gate_weights(level):
    def gate_weights(module, inputs):
        return module.gate_weights(**inputs)[level]

    return gate_weights
