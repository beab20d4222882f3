"""Shared-bottom multi-task network (Caruana, 1997): the classic baseline."""

from torch import nn

from .._base import BaseMultiTaskClassifier
from .._params import layer_params
from .._shared import fill_doc
from ..nn import MLP, TaskTowers


@fill_doc
class SharedBottom(nn.Module):
    """One shared MLP under one tower per task.

    Parameters
    ----------
    embedding : MixedInputEmbedding
        Input embedding.
    n_tasks : int
        Number of towers.
    bottom_hidden_units, tower_hidden_units : tuple of int
        Layer widths of the shared bottom and of each tower.
    dropout : float
        Dropout after every hidden layer.
    {output_widths}
    batch_norm : bool, default=False
        BatchNorm in the hidden layers of the bottom and the towers.

    Examples
    --------
    {module_example_inputs}
    >>> from sklearn_mtl.models import SharedBottom
    >>> module = SharedBottom(MixedInputEmbedding([5], 3, 4), 2,
    ...                       bottom_hidden_units=(8,), tower_hidden_units=(4,))
    >>> module(categorical, numeric).shape
    torch.Size([6, 2])
    """

    def __init__(
        self,
        embedding,
        n_tasks,
        *,
        bottom_hidden_units,
        tower_hidden_units,
        dropout=0.0,
        output_widths=None,
        batch_norm=False,
    ):
        super().__init__()
        self.embedding = embedding
        self.bottom = MLP(
            embedding.out_features, bottom_hidden_units, dropout=dropout, batch_norm=batch_norm
        )
        self.towers = TaskTowers(
            n_tasks, self.bottom.out_features, tower_hidden_units, dropout=dropout,
            output_widths=output_widths, batch_norm=batch_norm,
        )

    def shared_parameters(self):
        """Parameters every task's loss depends on: the embedding, then the bottom."""
        return [*self.embedding.parameters(), *self.bottom.parameters()]

    def forward(self, categorical, numeric):
        return self.towers(self.bottom(self.embedding(categorical, numeric)))


#: Parameters of the models of bottoms under task towers (shared or per task).
BOTTOM_TOWER_PARAMS = {"bottom_hidden_units": (64, 32), "tower_hidden_units": (16,)}
BOTTOM_TOWER_CONSTRAINTS = {
    "bottom_hidden_units": ["array-like"],
    "tower_hidden_units": ["array-like"],
}


def bottom_tower_network_params(estimator):
    """The network's keyword arguments of a bottoms-under-towers estimator, checked."""
    return dict(
        layer_params(estimator, "bottom_hidden_units", "tower_hidden_units"),
        output_widths=estimator._output_widths(),
    )


class SharedBottomClassifier(BaseMultiTaskClassifier):
    """Shared-bottom multi-task classifier: hard parameter sharing.

    All tasks share one MLP on the embedded input; each task has its own
    tower on top. The baseline every multi-task model is measured against.

    Parameters
    ----------
    bottom_hidden_units : tuple of int, default=(64, 32)
        Hidden layer widths of the shared bottom.
    tower_hidden_units : tuple of int, default=(16,)
        Hidden layer widths of each task tower (before its output logit).
    {shared}

    See Also
    --------
    MMoEClassifier : Experts shared through per-task gates.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_mtl import SharedBottomClassifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.normal(size=(200, 5))
    >>> Y = np.column_stack([X[:, 0] > 0, X[:, 0] + X[:, 1] > 0]).astype(int)
    >>> model = SharedBottomClassifier(max_epochs=5, random_state=0).fit(X, Y)
    >>> [p.shape for p in model.predict_proba(X[:4])]
    [(4, 2), (4, 2)]
    >>> model.predict(X[:4]).shape
    (4, 2)
    """

    _parameter_constraints: dict = {
        **BaseMultiTaskClassifier._parameter_constraints,
        **BOTTOM_TOWER_CONSTRAINTS,
    }
    _own_params = BOTTOM_TOWER_PARAMS
    _doc_layers = "shared bottom and the task towers"
    _mixes_task_types = True

    def _build_module(self, embedding, n_tasks):
        return SharedBottom(embedding, n_tasks, **bottom_tower_network_params(self))

