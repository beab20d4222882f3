"""STEM: Shared and Task-specific EMbeddings (Su et al., AAAI 2024)."""

from .._base import BaseMultiTaskClassifier
from ..nn import STEM
from ._gated import GatedExpertsMixin, count_constraints, gated_constraints, gated_defaults
from ._levels import LevelGateWeightsMixin, references_section


class STEMClassifier(LevelGateWeightsMixin, GatedExpertsMixin, BaseMultiTaskClassifier):
    """Shared and Task-specific EMbeddings classifier (Su et al., AAAI 2024).

    Each task has an embedding table of its own and all tasks share one
    more. At each level, each task's experts read its own embedding, the
    shared experts the shared one; task ``k``'s gate weighs all the
    experts, but the other tasks' experts enter its mixture with their
    gradient stopped, so a task's loss never updates another task's
    embedding or experts while every task reads them all. This keeps the
    tasks' embeddings apart where MMoE and PLE share one table.

    Parameters
    ----------
    num_specific_experts : int, default=1
        Experts of each task, per level.
    num_shared_experts : int, default=1
        Shared experts, per level.
    num_levels : int, default=1
        Number of levels (the paper's STEM has one).
    {gated_layers}
    gate_hidden_units : tuple of int, default=()
        Optional hidden layers in each gate before its linear map (the
        authors' code uses ``(128, 64)``).
    {gate_balance_weight_levels}
    {gate_dropout}
    {shared}

    See Also
    --------
    PLEClassifier : Task and shared experts over one shared embedding.
    AdaTTClassifier : Task experts fused by every task's gate.

    Notes
    -----
    ``n_tasks + 1`` embedding tables make the model's embeddings that many
    times larger than MMoE's. The task gates' weights (``gate_weights``,
    ``gate_shares_<task>``) cover every expert of the level: task 0's,
    ..., the last task's, then the shared ones.

    {references}

    Examples
    --------
    {census_example_data}
    >>> from sklearn_mtl import STEMClassifier
    >>> model = STEMClassifier(num_specific_experts=2, max_epochs=2, random_state=0)
    >>> model.fit(X, Y).predict(X[:3]).shape
    (3, 2)
    >>> [w.shape for w in model.gate_weights(X[:3])]
    [(3, 2, 5)]
    """

    _parameter_constraints: dict = {
        **BaseMultiTaskClassifier._parameter_constraints,
        **count_constraints(num_specific_experts=1, num_shared_experts=1, num_levels=1),
        **gated_constraints("gate_bias"),
    }

    _own_params = {
        "num_specific_experts": 1,
        "num_shared_experts": 1,
        "num_levels": 1,
        **gated_defaults("gate_bias"),
    }
    _network = STEM
    _doc_fragments = {"references": references_section(STEM)}
