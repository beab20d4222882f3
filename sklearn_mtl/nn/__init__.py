"""Pure-PyTorch building blocks of the multi-task models.

Nothing here imports scikit-learn or skorch: the blocks are usable in any
PyTorch code, and every model of :mod:`sklearn_mtl` is assembled from them.
"""

from ._cgc import CGCLevel
from ._embedding import MixedInputEmbedding
from ._experts import SoftmaxGate, mix_experts
from ._layers import MLP, ParallelLinear, ParallelMLP, TaskTowers

__all__ = [
    "CGCLevel",
    "MLP",
    "MixedInputEmbedding",
    "ParallelLinear",
    "ParallelMLP",
    "SoftmaxGate",
    "TaskTowers",
    "mix_experts",
]
