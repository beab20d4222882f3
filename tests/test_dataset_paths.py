"""The loaders read only their published file names, inside ``data_home``:
names (subset, country, task group) are checked against their allowed values
before any path is built, and a resolved path outside ``data_home`` is refused."""

import inspect
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sklearn_mtl import datasets
from sklearn_mtl.datasets import load_ali_ccp, load_aliexpress, load_census_income

from .test_ali_datasets import write_aliexpress, write_rechub

#: Each loader's parameters that name a part of the data, and their allowed values.
NAMES = {
    "load_ali_ccp": {"subset": ["train", "val", "test"]},
    "load_aliexpress": {"subset": ["train", "test"], "country": ["NL", "ES", "FR", "US", None]},
    "load_census_income": {
        "subset": ["train", "test", "all"],
        "tasks": ["income_marital", "education_marital"],
    },
}

#: Parameters that name no file: the folder itself, and the output format.
NOT_NAMES = {"data_home", "return_X_y", "as_frame"}

TRAVERSALS = [
    "../outside",
    "NL/../../elsewhere",
    "train/../../../etc/passwd",
    "/etc/passwd",
    "..",
    ".",
    "",
    "NL\x00",
    "train.csv",
    "nl",
    " NL",
    "NL/",
]

CASES = [
    (loader, parameter) for loader, parameters in NAMES.items() for parameter in parameters
]


def test_every_loader_and_name_parameter_is_covered():
    loaders = {name for name in datasets.__all__ if name.startswith("load_")}
    assert loaders == set(NAMES)
    for name in loaders:
        parameters = set(inspect.signature(getattr(datasets, name)).parameters) - NOT_NAMES
        assert parameters == set(NAMES[name]), name


@pytest.mark.parametrize("loader, parameter", CASES)
@pytest.mark.parametrize("value", TRAVERSALS)
def test_path_traversal_names_are_refused(tmp_path, loader, parameter, value):
    # data_home exists and is empty: a name that got through would reach the
    # file system (FileNotFoundError or a read), not this ValueError.
    expected = rf"{parameter} must be one of .*got {re.escape(repr(value))}"
    with pytest.raises(ValueError, match=expected):
        getattr(datasets, loader)(data_home=tmp_path, **{parameter: value})


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(CASES), st.one_of(st.text(max_size=30), st.integers(), st.lists(st.text())))
def test_only_allowed_names_pass(tmp_path_factory, case, value):
    loader, parameter = case
    if value in NAMES[loader][parameter]:
        return
    with pytest.raises(ValueError, match=rf"{parameter} must be one of"):
        getattr(datasets, loader)(data_home=tmp_path_factory.mktemp("home"), **{parameter: value})


@pytest.fixture
def outside(tmp_path):
    """A folder beside data_home, holding files in every loader's layout."""
    folder = tmp_path / "outside"
    folder.mkdir()
    write_rechub(folder, "train", 10)
    write_aliexpress(folder / "AliExpress_NL", "train", 10)
    (folder / "census-income.data").write_text("not read\n")
    return folder


@pytest.mark.parametrize(
    "link, target, load",
    [
        ("ali_ccp_train.csv", "ali_ccp_train.csv", lambda home: load_ali_ccp(home)),
        ("AliExpress_NL", "AliExpress_NL", lambda home: load_aliexpress(home, country="NL")),
        ("census-income.data", "census-income.data", lambda h: load_census_income(data_home=h)),
    ],
    ids=["ali_ccp", "aliexpress", "census"],
)
def test_links_out_of_data_home_are_refused(tmp_path, outside, link, target, load):
    home = tmp_path / "home"
    home.mkdir()
    (home / link).symlink_to(outside / target)
    with pytest.raises(ValueError, match=r"outside data_home=.*home'"):
        load(home)


def test_a_data_home_that_is_a_link_reads_its_files(tmp_path, outside):
    home = tmp_path / "home"
    home.symlink_to(outside)
    assert load_ali_ccp(home).data.shape[0] == 10
    assert load_aliexpress(home, country="NL").data.shape[0] == 10
