"""Inspect fitted multi-task models, on their own or at the end of a Pipeline.

The functions give a model's own outputs (per-task probabilities, gate
weights, funnel step rates, attention); the displays draw its training,
gates, attention and calibration (reliability diagrams) with matplotlib
(the ``plots`` extra), imported only when a display draws.
"""

from ._display import (
    AttentionDisplay,
    ExpertHealthDisplay,
    GateWeightsDisplay,
    TrainingHistoryDisplay,
)
from ._outputs import attention_weights, gate_weights, predict_cvr, predict_proba_frame
from ._reliability import ReliabilityDisplay

__all__ = [
    "AttentionDisplay",
    "ExpertHealthDisplay",
    "GateWeightsDisplay",
    "ReliabilityDisplay",
    "TrainingHistoryDisplay",
    "attention_weights",
    "gate_weights",
    "predict_cvr",
    "predict_proba_frame",
]
