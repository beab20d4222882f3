"""Datasets for multi-task learning."""

from ._census import load_census_income

__all__ = [
    "load_census_income",
]
