"""Datasets for multi-task learning."""

from ._ali import load_ali_ccp, load_aliexpress
from ._census import load_census_income
from ._click_log import make_click_log, write_click_log
from ._funnel import make_funnel

__all__ = [
    "load_ali_ccp",
    "load_aliexpress",
    "load_census_income",
    "make_click_log",
    "make_funnel",
    "write_click_log",
]
