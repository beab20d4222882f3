"""Inspect fitted multi-task models, on their own or at the end of a Pipeline."""

from ._outputs import attention_weights, gate_weights, predict_cvr, predict_proba_frame

__all__ = [
    "attention_weights",
    "gate_weights",
    "predict_cvr",
    "predict_proba_frame",
]
