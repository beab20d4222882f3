"""Loaders for the public click -> conversion logs Ali-CCP and AliExpress, from local files."""

from importlib import resources

import pandas as pd
from sklearn.utils import Bunch

from .._shared import fill_doc
from ._paths import check_option, path_inside

__all__ = ["load_ali_ccp", "load_aliexpress"]

#: Funnel order: a conversion is observed after a click.
_TARGETS = ["click", "conversion"]

#: The AITM paper's ``ctr_cvr.*`` columns (``process_public_dataset.py``).
_AITM_COLUMNS = [
    "click", "purchase", "101", "121", "122", "124", "125", "126", "127", "128", "129",
    "205", "206", "207", "216", "508", "509", "702", "853", "301",
]  # fmt: skip

_SUBSETS = ("train", "val", "test")

#: The AliExpress release's countries, one folder each.
_COUNTRIES = ("NL", "ES", "FR", "US")


def _descr(name):
    return resources.files("sklearn_mtl.datasets").joinpath("descr", name).read_text()


def _find(data_home, folder, candidates, what):
    for name in candidates:
        path = path_inside(data_home, *folder, name)
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"No {what} file in {str(path_inside(data_home, *folder))!r}: looked for "
        f"{', '.join(candidates)}. Nothing is downloaded; get the files from the data "
        "set's publisher first."
    )


def _frame_bunch(frame, categorical, numeric, descr, return_X_y, **extra):
    data = frame[categorical + numeric].astype({c: "category" for c in categorical})
    data = data.astype({c: "float64" for c in numeric})
    target = frame[_TARGETS].astype("int64")
    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        feature_names=list(data.columns),
        target_names=list(_TARGETS),
        categorical_features=list(categorical),
        DESCR=descr,
        **extra,
    )


@fill_doc
def load_ali_ccp(data_home, *, subset="train", return_X_y=False):
    r"""Load Ali-CCP (the ESMM paper's click and conversion log) from local files.

    Two published preprocessed formats are read, whichever ``data_home``
    holds:

    - torch-rechub's ``ali_ccp_{train,val,test}.csv`` (or the
      ``*_sample.csv`` files): ``click, purchase``, 23 label-encoded sparse
      fields (``101`` ... ``150_14``) and 8 dense fields (``D109_14`` ...).
    - the AITM paper's ``ctr_cvr.{train,dev,test}`` (or PaddleRec's
      ``train.csv``/``test.csv``): ``click, purchase`` and 18 hashed ID
      fields, with or without a header row.

    ===================  ====================================================
    Samples (full data)  about 42M train and 43M test impressions
    Tasks                click, conversion (``purchase``), in funnel order
    ===================  ====================================================

    Parameters
    ----------
    data_home : str or path-like
        The folder holding the files. Nothing is downloaded.
    subset : {"train", "val", "test"}, default="train"
        Which file to load (``"val"`` is the AITM format's ``dev`` file).
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (DataFrame: the ID fields as ``category`` columns, the
        dense fields float64), ``target`` (DataFrame of int64 ``click`` and
        ``conversion``, in funnel order), ``feature_names``,
        ``target_names``, ``categorical_features`` and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True

    Examples
    --------
    {temp_folder_example}
    >>> rows = "click,purchase,101,205,D508\n1,1,7,3,0.5\n0,0,8,3,0.1\n"
    >>> _ = (folder / "ali_ccp_train.csv").write_text(rows)
    >>> from sklearn_mtl.datasets import load_ali_ccp
    >>> ali = load_ali_ccp(folder)
    >>> ali.target_names, ali.categorical_features, ali.data["101"].cat.categories.tolist()
    (['click', 'conversion'], ['101', '205'], [7, 8])
    """
    check_option(subset, "subset", _SUBSETS)
    aitm = {"train": "train", "val": "dev", "test": "test"}[subset]
    path = _find(
        data_home,
        [],
        [
            f"ali_ccp_{subset}.csv",
            f"ali_ccp_{subset}_sample.csv",
            f"ctr_cvr.{aitm}",
            f"{subset}.csv",
            f"{aitm}.csv",
        ],
        "Ali-CCP",
    )
    with open(path) as f:
        has_header = f.readline().split(",")[0].strip() == "click"
    frame = pd.read_csv(path, header=0 if has_header else None)
    if not has_header:
        if frame.shape[1] != len(_AITM_COLUMNS):
            raise ValueError(
                f"{path.name} has no header and {frame.shape[1]} columns; the AITM "
                f"format has {len(_AITM_COLUMNS)} ({', '.join(_AITM_COLUMNS)})."
            )
        frame.columns = _AITM_COLUMNS
    frame = frame.rename(columns={"purchase": "conversion"})
    features = [c for c in frame.columns if c not in _TARGETS]
    numeric = [c for c in features if c.startswith("D")]
    categorical = [c for c in features if c not in numeric]
    return _frame_bunch(frame, categorical, numeric, _descr("ali_ccp.rst"), return_X_y)


@fill_doc
def load_aliexpress(data_home, *, subset="train", country=None, return_X_y=False):
    r"""Load AliExpress (a click and conversion log of search results) from local files.

    Reads the Tianchi release's layout, one folder per country
    (``AliExpress_NL``, ``_ES``, ``_FR``, ``_US``) with ``train.csv`` and
    ``test.csv``: ``search_id``, ``categorical_1..16`` (label-encoded),
    ``numerical_1..63``, then ``click`` and ``conversion``; also
    torch-rechub's ``aliexpress_{train,test}_sample.csv`` files.

    ===================  ====================================================
    Samples (NL)         12.16M train, 5.56M test
    Features             16 categorical, 63 numerical
    Tasks                click, conversion, in funnel order
    ===================  ====================================================

    Parameters
    ----------
    data_home : str or path-like
        The folder holding the files, or the country folders. Nothing is
        downloaded.
    subset : {"train", "test"}, default="train"
        Which file to load.
    country : {"NL", "ES", "FR", "US"}, default=None
        Read ``data_home / f"AliExpress_{country}"``; None reads
        ``data_home`` itself.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (DataFrame: categorical columns ``category``, numerical
        float64), ``target`` (DataFrame of int64 ``click`` and
        ``conversion``), ``feature_names``, ``target_names``,
        ``categorical_features``, ``groups`` (the ``search_id`` of each row,
        e.g. for :class:`~sklearn.model_selection.GroupKFold`) and ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True

    Examples
    --------
    {temp_folder_example}
    >>> (folder / "AliExpress_NL").mkdir()
    >>> rows = "search_id,categorical_1,numerical_1,click,conversion\n4,2,0.5,1,0\n4,3,0.1,0,0\n"
    >>> _ = (folder / "AliExpress_NL" / "test.csv").write_text(rows)
    >>> from sklearn_mtl.datasets import load_aliexpress
    >>> ali = load_aliexpress(folder, subset="test", country="NL")
    >>> ali.data.shape, ali.target_names, ali.groups.tolist()
    ((2, 2), ['click', 'conversion'], [4, 4])
    """
    check_option(subset, "subset", ("train", "test"))
    if country is not None:
        check_option(country, "country", _COUNTRIES)
    path = _find(
        data_home,
        [] if country is None else [f"AliExpress_{country}"],
        [f"{subset}.csv", f"aliexpress_{subset}.csv", f"aliexpress_{subset}_sample.csv"],
        "AliExpress",
    )
    frame = pd.read_csv(path)
    categorical = [c for c in frame.columns if c.startswith("categorical_")]
    numeric = [c for c in frame.columns if c.startswith("numerical_")]
    missing = [c for c in ["search_id", *_TARGETS] if c not in frame.columns]
    if missing or not categorical or not numeric:
        raise ValueError(
            f"{path.name} is not in the AliExpress layout (search_id, categorical_*, "
            f"numerical_*, click, conversion): missing {missing or 'feature columns'}."
        )
    groups = frame["search_id"].to_numpy()
    if return_X_y:
        return _frame_bunch(frame, categorical, numeric, "", True)
    return _frame_bunch(
        frame, categorical, numeric, _descr("aliexpress.rst"), False, groups=groups
    )
