"""Pure-PyTorch building blocks of the multi-task models.

Nothing here imports scikit-learn or skorch: the blocks are usable in any
PyTorch code, and every model of :mod:`sklearn_mtl` is assembled from them.
"""

from ._adatt import AdaTT, AdaTTLevel
from ._cgc import CGCLevel
from ._attention import TransferAttention
from ._embedding import CategoricalInputs, MixedInputEmbedding
from ._experts import SoftmaxGate, importance_cv2, mix_experts
from ._interaction import (
    CrossNetwork,
    CrossNetworkMix,
    FactorizationMachine,
    InteractionEmbedding,
)
from ._layers import MLP, ParallelBatchNorm, ParallelLinear, ParallelMLP, TaskTowers
from ._optim import LazyAdam, RowWiseAdagrad
from ._probability import log1mexp, product_logit
from ._stem import STEM, STEMLevel

__all__ = [
    "AdaTT",
    "AdaTTLevel",
    "CGCLevel",
    "CategoricalInputs",
    "CrossNetwork",
    "CrossNetworkMix",
    "FactorizationMachine",
    "InteractionEmbedding",
    "LazyAdam",
    "MLP",
    "MixedInputEmbedding",
    "ParallelBatchNorm",
    "ParallelLinear",
    "ParallelMLP",
    "RowWiseAdagrad",
    "STEM",
    "STEMLevel",
    "SoftmaxGate",
    "TaskTowers",
    "TransferAttention",
    "importance_cv2",
    "log1mexp",
    "mix_experts",
    "product_logit",
]
