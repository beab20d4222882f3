"""Datasets for multi-task learning."""

from ._census import load_census_income
from ._funnel import make_funnel

__all__ = [
    "load_census_income",
    "make_funnel",
]
