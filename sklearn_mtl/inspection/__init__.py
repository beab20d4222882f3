"""Inspect fitted multi-task estimators: figures of their training and gates.

The displays draw with matplotlib (the ``plots`` extra); it is imported only
when a display draws.
"""

from ._display import AttentionDisplay, GateWeightsDisplay, TrainingHistoryDisplay

__all__ = [
    "AttentionDisplay",
    "GateWeightsDisplay",
    "TrainingHistoryDisplay",
]
