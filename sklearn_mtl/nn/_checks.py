"""Checks of the sizes the blocks are built with, as clear ValueErrors."""

from numbers import Integral


def check_counts(counts):
    """Raise a ValueError naming the first ``name: (value, minimum)`` of ``counts``
    whose value is not an integer of at least ``minimum``."""
    for name, (value, minimum) in counts.items():
        if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def check_expert_hidden_units(expert_hidden_units):
    """Raise a ValueError when experts would have no layer."""
    if not expert_hidden_units:
        raise ValueError(
            "expert_hidden_units must not be empty: every expert would be the identity of "
            "its input, so the gates would mix copies of the same vector."
        )
