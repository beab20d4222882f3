"""AdaTT: Adaptive Task-to-Task Fusion Network (Li et al., KDD 2023)."""

from .._base import BaseMultiTaskClassifier
from ..nn import AdaTT
from ._gated import GatedExpertsMixin, count_constraints, gated_constraints, gated_defaults
from ._levels import LevelGateWeightsMixin, references_section

# AdaTT's gates are one linear map with a bias, as in the authors' code.
_FIXED_GATES = ("gate_hidden_units", "gate_bias")


class AdaTTClassifier(LevelGateWeightsMixin, GatedExpertsMixin, BaseMultiTaskClassifier):
    """Adaptive Task-to-Task Fusion Network classifier (Li et al., KDD 2023).

    Every task has experts of its own. At each fusion level, task ``k``'s
    fusion unit weighs **all** the experts of the level by a softmax gate
    on its input and adds a learned linear combination of its own
    ("native") experts, a residual that keeps what is task-specific while
    the gate learns from the other tasks what helps. Optional shared
    experts are seen by every unit (the authors' general form; without
    them it is the paper's AdaTT-sp).

    Parameters
    ----------
    num_task_experts : int, default=1
        Experts of each task, per level.
    num_shared_experts : int, default=0
        Shared experts, per level (0: AdaTT-sp).
    num_levels : int, default=1
        Number of fusion levels.
    native_residual : bool, default=True
        Whether each fusion unit adds the linear combination of its task's
        own experts (the authors call it crucial).
    {gated_layers}
    {gate_balance_weight_levels}
    {gate_dropout}
    {shared}

    See Also
    --------
    MMoEClassifier : Experts all shared, one gate per task.
    STEMClassifier : Task embeddings, task and shared experts.

    Notes
    -----
    The gate weights (``gate_weights``, ``gate_shares_<task>``) are the
    softmax weights before the native residual is added; ``gate_dropout``
    drops experts from the gate's mixture, never from the residual.

    {references}

    Examples
    --------
    >>> from sklearn_mtl import AdaTTClassifier
    {census_example_data}
    >>> model = AdaTTClassifier(num_task_experts=2, num_levels=2, max_epochs=2, random_state=0)
    >>> model.fit(X, Y).predict(X[:3]).shape
    (3, 2)
    >>> [w.shape for w in model.gate_weights(X[:3])]
    [(3, 2, 4), (3, 2, 4)]
    """

    _parameter_constraints: dict = {
        **BaseMultiTaskClassifier._parameter_constraints,
        **count_constraints(num_task_experts=1, num_shared_experts=0, num_levels=1),
        "native_residual": ["boolean"],
        **gated_constraints(*_FIXED_GATES),
    }

    _own_params = {
        "num_task_experts": 1,
        "num_shared_experts": 0,
        "num_levels": 1,
        "native_residual": True,
        **gated_defaults(*_FIXED_GATES),
    }
    _network = AdaTT
    _doc_fragments = {"references": references_section(AdaTT)}
