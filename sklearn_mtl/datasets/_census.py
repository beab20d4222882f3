"""Loader for the UCI Census-Income (KDD) dataset, the MMoE benchmark."""

from importlib import resources

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

from ._paths import check_option, path_inside

__all__ = ["load_census_income"]

# The 42 columns of the UCI files, in order (names as in keras-mmoe and
# torch-rechub).
_COLUMNS = (
    "age", "class_worker", "det_ind_code", "det_occ_code", "education",
    "wage_per_hour", "hs_college", "marital_stat", "major_ind_code",
    "major_occ_code", "race", "hisp_origin", "sex", "union_member",
    "unemp_reason", "full_or_part_emp", "capital_gains", "capital_losses",
    "stock_dividends", "tax_filer_stat", "region_prev_res", "state_prev_res",
    "det_hh_fam_stat", "det_hh_summ", "instance_weight", "mig_chg_msa",
    "mig_chg_reg", "mig_move_reg", "mig_same", "mig_prev_sunbelt", "num_emp",
    "fam_under_18", "country_father", "country_mother", "country_self",
    "citizenship", "own_or_self", "vet_question", "vet_benefits",
    "weeks_worked", "year", "income_50k",
)  # fmt: skip

_CONTINUOUS = (
    "age", "wage_per_hour", "capital_gains", "capital_losses",
    "stock_dividends", "num_emp", "weeks_worked",
)  # fmt: skip

# CPS sampling weight: returned as ``sample_weight``, never as a feature.
_WEIGHT = "instance_weight"

_COUNTRIES = (
    "Cambodia", "Canada", "China", "Columbia", "Cuba", "Dominican-Republic",
    "Ecuador", "El-Salvador", "England", "France", "Germany", "Greece",
    "Guatemala", "Haiti", "Holand-Netherlands", "Honduras", "Hong Kong",
    "Hungary", "India", "Iran", "Ireland", "Italy", "Jamaica", "Japan", "Laos",
    "Mexico", "Nicaragua", "Outlying-U S (Guam USVI etc)", "Panama", "Peru",
    "Philippines", "Poland", "Portugal", "Puerto-Rico", "Scotland",
    "South Korea", "Taiwan", "Thailand", "Trinadad&Tobago", "United-States",
    "Vietnam", "Yugoslavia",
)  # fmt: skip


def _codes(n):
    return tuple(str(i) for i in range(n))


# Fixed vocabulary of every nominal column: all the values that occur in the
# full UCI train and test files (trailing blanks stripped), sorted (numerically
# for the integer-coded columns). Fixing it makes the category codes identical
# for every ``subset`` and for the embedded and the full data.
_CATEGORIES = {
    "class_worker": (
        "Federal government", "Local government", "Never worked",
        "Not in universe", "Private", "Self-employed-incorporated",
        "Self-employed-not incorporated", "State government", "Without pay",
    ),
    "det_ind_code": _codes(52),
    "det_occ_code": _codes(47),
    "education": (
        "10th grade", "11th grade", "12th grade no diploma",
        "1st 2nd 3rd or 4th grade", "5th or 6th grade", "7th and 8th grade",
        "9th grade", "Associates degree-academic program",
        "Associates degree-occup /vocational", "Bachelors degree(BA AB BS)",
        "Children", "Doctorate degree(PhD EdD)", "High school graduate",
        "Less than 1st grade", "Masters degree(MA MS MEng MEd MSW MBA)",
        "Prof school degree (MD DDS DVM LLB JD)", "Some college but no degree",
    ),
    "hs_college": ("College or university", "High school", "Not in universe"),
    "marital_stat": (
        "Divorced", "Married-A F spouse present",
        "Married-civilian spouse present", "Married-spouse absent",
        "Never married", "Separated", "Widowed",
    ),
    "major_ind_code": (
        "Agriculture", "Armed Forces", "Business and repair services",
        "Communications", "Construction", "Education", "Entertainment",
        "Finance insurance and real estate", "Forestry and fisheries",
        "Hospital services", "Manufacturing-durable goods",
        "Manufacturing-nondurable goods", "Medical except hospital", "Mining",
        "Not in universe or children", "Other professional services",
        "Personal services except private HH", "Private household services",
        "Public administration", "Retail trade", "Social services",
        "Transportation", "Utilities and sanitary services", "Wholesale trade",
    ),
    "major_occ_code": (
        "Adm support including clerical", "Armed Forces",
        "Executive admin and managerial", "Farming forestry and fishing",
        "Handlers equip cleaners etc", "Machine operators assmblrs & inspctrs",
        "Not in universe", "Other service",
        "Precision production craft & repair", "Private household services",
        "Professional specialty", "Protective services", "Sales",
        "Technicians and related support", "Transportation and material moving",
    ),
    "race": (
        "Amer Indian Aleut or Eskimo", "Asian or Pacific Islander", "Black",
        "Other", "White",
    ),
    "hisp_origin": (
        "All other", "Central or South American", "Chicano", "Cuban",
        "Do not know", "Mexican (Mexicano)", "Mexican-American", "NA",
        "Other Spanish", "Puerto Rican",
    ),
    "sex": ("Female", "Male"),
    "union_member": ("No", "Not in universe", "Yes"),
    "unemp_reason": (
        "Job leaver", "Job loser - on layoff", "New entrant", "Not in universe",
        "Other job loser", "Re-entrant",
    ),
    "full_or_part_emp": (
        "Children or Armed Forces", "Full-time schedules", "Not in labor force",
        "PT for econ reasons usually FT", "PT for econ reasons usually PT",
        "PT for non-econ reasons usually FT", "Unemployed full-time",
        "Unemployed part- time",
    ),
    "tax_filer_stat": (
        "Head of household", "Joint both 65+", "Joint both under 65",
        "Joint one under 65 & one 65+", "Nonfiler", "Single",
    ),
    "region_prev_res": (
        "Abroad", "Midwest", "Northeast", "Not in universe", "South", "West",
    ),
    "state_prev_res": (
        "Abroad", "Alabama", "Alaska", "Arizona", "Arkansas", "California",
        "Colorado", "Connecticut", "Delaware", "District of Columbia",
        "Florida", "Georgia", "Idaho", "Illinois", "Indiana", "Iowa", "Kansas",
        "Kentucky", "Louisiana", "Maine", "Maryland", "Massachusetts",
        "Michigan", "Minnesota", "Mississippi", "Missouri", "Montana",
        "Nebraska", "Nevada", "New Hampshire", "New Jersey", "New Mexico",
        "New York", "North Carolina", "North Dakota", "Not in universe", "Ohio",
        "Oklahoma", "Oregon", "Pennsylvania", "South Carolina", "South Dakota",
        "Tennessee", "Texas", "Utah", "Vermont", "Virginia", "West Virginia",
        "Wisconsin", "Wyoming",
    ),
    "det_hh_fam_stat": (
        "Child 18+ ever marr Not in a subfamily",
        "Child 18+ ever marr RP of subfamily",
        "Child 18+ never marr Not in a subfamily",
        "Child 18+ never marr RP of subfamily",
        "Child 18+ spouse of subfamily RP",
        "Child <18 ever marr RP of subfamily",
        "Child <18 ever marr not in subfamily",
        "Child <18 never marr RP of subfamily",
        "Child <18 never marr not in subfamily",
        "Child <18 spouse of subfamily RP",
        "Child under 18 of RP of unrel subfamily",
        "Grandchild 18+ ever marr RP of subfamily",
        "Grandchild 18+ ever marr not in subfamily",
        "Grandchild 18+ never marr RP of subfamily",
        "Grandchild 18+ never marr not in subfamily",
        "Grandchild 18+ spouse of subfamily RP",
        "Grandchild <18 ever marr not in subfamily",
        "Grandchild <18 never marr RP of subfamily",
        "Grandchild <18 never marr child of subfamily RP",
        "Grandchild <18 never marr not in subfamily",
        "Householder",
        "In group quarters",
        "Nonfamily householder",
        "Other Rel 18+ ever marr RP of subfamily",
        "Other Rel 18+ ever marr not in subfamily",
        "Other Rel 18+ never marr RP of subfamily",
        "Other Rel 18+ never marr not in subfamily",
        "Other Rel 18+ spouse of subfamily RP",
        "Other Rel <18 ever marr RP of subfamily",
        "Other Rel <18 ever marr not in subfamily",
        "Other Rel <18 never marr child of subfamily RP",
        "Other Rel <18 never marr not in subfamily",
        "Other Rel <18 never married RP of subfamily",
        "Other Rel <18 spouse of subfamily RP",
        "RP of unrelated subfamily",
        "Secondary individual",
        "Spouse of RP of unrelated subfamily",
        "Spouse of householder",
    ),
    "det_hh_summ": (
        "Child 18 or older", "Child under 18 ever married",
        "Child under 18 never married", "Group Quarters- Secondary individual",
        "Householder", "Nonrelative of householder",
        "Other relative of householder", "Spouse of householder",
    ),
    "mig_chg_msa": (
        "Abroad to MSA", "Abroad to nonMSA", "MSA to MSA", "MSA to nonMSA",
        "NonMSA to MSA", "NonMSA to nonMSA", "Nonmover", "Not identifiable",
        "Not in universe",
    ),
    "mig_chg_reg": (
        "Abroad", "Different county same state",
        "Different division same region", "Different region",
        "Different state same division", "Nonmover", "Not in universe",
        "Same county",
    ),
    "mig_move_reg": (
        "Abroad", "Different county same state", "Different state in Midwest",
        "Different state in Northeast", "Different state in South",
        "Different state in West", "Nonmover", "Not in universe", "Same county",
    ),
    "mig_same": ("No", "Not in universe under 1 year old", "Yes"),
    "mig_prev_sunbelt": ("No", "Not in universe", "Yes"),
    "fam_under_18": (
        "Both parents present", "Father only present", "Mother only present",
        "Neither parent present", "Not in universe",
    ),
    "country_father": _COUNTRIES,
    "country_mother": _COUNTRIES,
    "country_self": _COUNTRIES,
    "citizenship": (
        "Foreign born- Not a citizen of U S",
        "Foreign born- U S citizen by naturalization",
        "Native- Born abroad of American Parent(s)",
        "Native- Born in Puerto Rico or U S Outlying",
        "Native- Born in the United States",
    ),
    "own_or_self": _codes(3),
    "vet_question": ("No", "Not in universe", "Yes"),
    "vet_benefits": _codes(3),
    "year": ("94", "95"),
    "income_50k": ("- 50000.", "50000+."),
}

_COLLEGE_DEGREES = frozenset(
    {
        "Associates degree-academic program",
        "Associates degree-occup /vocational",
        "Bachelors degree(BA AB BS)",
        "Masters degree(MA MS MEng MEd MSW MBA)",
        "Prof school degree (MD DDS DVM LLB JD)",
        "Doctorate degree(PhD EdD)",
    }
)

# Task groups of the MMoE paper: target name -> (source column, positive
# values). The source columns are removed from the features.
_TASK_GROUPS = {
    "income_marital": {
        "income": ("income_50k", frozenset({"50000+."})),
        "never_married": ("marital_stat", frozenset({"Never married"})),
    },
    "education_marital": {
        "college": ("education", _COLLEGE_DEGREES),
        "never_married": ("marital_stat", frozenset({"Never married"})),
    },
}

# subset -> file stems of the UCI files it is made of
_SUBSETS = {
    "train": ("census-income.data",),
    "test": ("census-income.test",),
    "all": ("census-income.data", "census-income.test"),
}

# UCI file stem -> embedded random subsample shipped in ``data/``
_EMBEDDED = {
    "census-income.data": "census_income_train_sample.csv.gz",
    "census-income.test": "census_income_test_sample.csv.gz",
}

_DTYPES = {
    name: ("float64" if name in _CONTINUOUS or name == _WEIGHT else "object")
    for name in _COLUMNS
}


def _read_uci(file, compression):
    """Parse one file in the UCI text format into a raw DataFrame."""
    frame = pd.read_csv(
        file,
        header=None,
        names=list(_COLUMNS),
        sep=",",
        skipinitialspace=True,
        dtype=_DTYPES,
        # Only '?' marks a missing value: 'NA' is a genuine hisp_origin value.
        na_values=["?"],
        keep_default_na=False,
        compression=compression,
    )
    for name, categories in _CATEGORIES.items():
        frame[name] = _to_categorical(frame[name], name, categories)
    return frame


def _to_categorical(values, name, categories):
    """Map raw strings onto the fixed ``categories`` (trailing blanks stripped)."""
    raw = pd.Categorical(values)
    index = {category: i for i, category in enumerate(categories)}
    stripped = [str(value).rstrip() for value in raw.categories]
    unknown = sorted(set(stripped) - set(index))
    if unknown:
        raise ValueError(
            f"Unexpected value(s) {unknown} in column {name!r} of the "
            "Census-Income (KDD) data; is this the original UCI file?"
        )
    # The appended -1 maps the missing code -1 onto itself.
    lookup = np.array([index[s] for s in stripped] + [-1], dtype=np.int64)
    codes = lookup[np.asarray(raw.codes, dtype=np.int64)]
    dtype = pd.CategoricalDtype(list(categories), ordered=False)
    return pd.Series(
        pd.Categorical.from_codes(codes, dtype=dtype), index=values.index, name=name
    )


def _read_embedded(stem):
    path = resources.files(__package__).joinpath("data", _EMBEDDED[stem])
    with path.open("rb") as file:
        return _read_uci(file, compression="gzip")


def _read_full(data_home, stem):
    folder = path_inside(data_home)
    for name, compression in ((f"{stem}.gz", "gzip"), (stem, None)):
        path = path_inside(data_home, name)
        if path.is_file():
            return _read_uci(path, compression=compression)
    raise FileNotFoundError(
        f"Could not find the UCI Census-Income (KDD) file '{stem}.gz' or "
        f"'{stem}' in data_home={str(folder)!r}. Download census-income.data.gz "
        "and census-income.test.gz from the UCI Machine Learning Repository "
        "(https://doi.org/10.24432/C5N30T) into that folder, or pass "
        "data_home=None to use the subsample shipped with sklearn_mtl."
    )


def load_census_income(
    *,
    subset="train",
    tasks="income_marital",
    data_home=None,
    return_X_y=False,
    as_frame=True,
):
    """Load the UCI Census-Income (KDD) dataset as a two-task problem.

    This is the benchmark of the MMoE paper [1]_: 1994-1995 Current
    Population Survey records with two binary tasks per task group.

    ===================  ====================================================
    Samples (UCI files)  199,523 (train) + 99,762 (test)
    Samples (embedded)   20,000 (train) + 10,000 (test), uniform random rows
    Features             39 (7 continuous float64, 32 categorical)
    Tasks                2 binary targets (0/1) per task group
    ===================  ====================================================

    Task groups (``tasks``):

    - ``"income_marital"`` (the paper's group 1): ``income`` is 1 where
      ``income_50k == '50000+.'`` (total person income above $50K) and
      ``never_married`` is 1 where ``marital_stat == 'Never married'``.
      ``income_50k`` and ``marital_stat`` are dropped from the features.
    - ``"education_marital"`` (the paper's group 2): ``college`` is 1 where
      ``education`` is one of 'Associates degree-academic program',
      'Associates degree-occup /vocational', 'Bachelors degree(BA AB BS)',
      'Masters degree(MA MS MEng MEd MSW MBA)', 'Prof school degree (MD DDS
      DVM LLB JD)' or 'Doctorate degree(PhD EdD)' (every other level,
      including 'Some college but no degree' and 'Children', is 0), and
      ``never_married`` as above. ``education`` and ``marital_stat`` are
      dropped; ``income_50k`` stays as a categorical feature.

    The CPS sampling weight ``instance_weight`` is never a feature; it is
    returned as ``sample_weight``. In the features, '?' is a missing value
    (NaN); the migration columns ``mig_chg_msa``, ``mig_chg_reg``,
    ``mig_move_reg`` and ``mig_prev_sunbelt`` are missing in every 1995 record.
    Every nominal column, integer-coded ones (``det_ind_code``,
    ``det_occ_code``, ``own_or_self``, ``vet_benefits``, ``year``) included,
    has a fixed list of string categories (all the values of the full UCI
    files, sorted), so codes agree across subsets and data sources.

    Parameters
    ----------
    subset : {"train", "test", "all"}, default="train"
        Which part to load: the UCI training file (``census-income.data``),
        the UCI test file (``census-income.test``), or both concatenated
        (train rows first). The MMoE paper splits the test file 1:1 at
        random into validation and test sets.

    tasks : {"income_marital", "education_marital"}, default="income_marital"
        Which pair of binary targets to derive, see above.

    data_home : str or path-like, default=None
        If None, load the random subsample embedded in the package
        (20,000 training and 10,000 test rows, drawn uniformly without
        replacement with seed 0; enough for examples and tests). Otherwise
        the folder holding the full UCI files ``census-income.data.gz`` and
        ``census-income.test.gz`` (or their uncompressed versions
        ``census-income.data`` and ``census-income.test``). Nothing is ever
        downloaded.

    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch object.

    as_frame : bool, default=True
        If True, ``data`` is a pandas DataFrame (continuous columns float64,
        nominal columns ``category``) and ``target`` a DataFrame of int64
        columns. If False, ``data`` is a float64 ndarray in which every
        categorical column holds the integer code of its category (position
        in ``categories[name]``) and NaN where the value is missing, and
        ``target`` is an int64 ndarray; the codes are labels, not
        quantities, so encode them (e.g. one-hot or embeddings) or pass
        ``categorical_features`` to a model that understands them.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the following attributes.

        data : {DataFrame, ndarray} of shape (n_samples, 39)
            The features, in the column order of the UCI files.
        target : {DataFrame, ndarray} of shape (n_samples, 2)
            The 0/1 targets, int64.
        frame : DataFrame of shape (n_samples, 41) or None
            ``data`` and ``target`` side by side; None if ``as_frame=False``.
        feature_names : list of str
            The names of the 39 feature columns.
        target_names : list of str
            The names of the 2 targets, e.g. ``['income', 'never_married']``.
        categorical_features : list of str or ndarray of int
            The categorical feature columns: their names if ``as_frame=True``,
            their column indices in ``data`` if ``as_frame=False``.
        categories : dict of str to list of str
            For each categorical feature, its categories; the code of a
            category is its position in this list.
        sample_weight : ndarray of shape (n_samples,)
            The CPS ``instance_weight`` column, float64.
        DESCR : str
            The full description of the dataset.

    (data, target) : tuple if ``return_X_y`` is True
        The ``data`` and ``target`` described above.

    References
    ----------
    .. [1] J. Ma, Z. Zhao, X. Yi, J. Chen, L. Hong and E. H. Chi, "Modeling
       Task Relationships in Multi-task Learning with Multi-gate
       Mixture-of-Experts", KDD 2018. https://doi.org/10.1145/3219819.3220007
    .. [2] D. Dua and C. Graff, UCI Machine Learning Repository, University of
       California, Irvine, 2019. Census-Income (KDD), donated by T. Lane and
       R. Kohavi (2000), https://doi.org/10.24432/C5N30T. License CC BY 4.0.

    Examples
    --------
    >>> from sklearn_mtl.datasets import load_census_income
    >>> census = load_census_income()
    >>> census.data.shape, census.target.shape
    ((20000, 39), (20000, 2))
    >>> census.target_names
    ['income', 'never_married']
    >>> census.target.mean().round(3)  # positive rates
    income           0.062
    never_married    0.434
    dtype: float64
    >>> census.data["age"].dtype, census.data["class_worker"].dtype.name
    (dtype('float64'), 'category')
    >>> X, Y = load_census_income(
    ...     subset="test", tasks="education_marital", return_X_y=True,
    ...     as_frame=False)
    >>> X.shape, X.dtype, Y.dtype
    ((10000, 39), dtype('float64'), dtype('int64'))
    >>> Y.mean(axis=0).round(3).tolist()  # college, never_married
    [0.198, 0.428]
    """
    check_option(subset, "subset", _SUBSETS)
    check_option(tasks, "tasks", _TASK_GROUPS)
    task_spec = _TASK_GROUPS[tasks]

    if data_home is None:
        parts = [_read_embedded(stem) for stem in _SUBSETS[subset]]
    else:
        parts = [_read_full(data_home, stem) for stem in _SUBSETS[subset]]
    raw = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)

    target = pd.DataFrame(
        {
            target_name: raw[column].isin(positives).to_numpy(dtype=np.int64)
            for target_name, (column, positives) in task_spec.items()
        },
        index=raw.index,
    )
    dropped = {column for column, _ in task_spec.values()} | {_WEIGHT}
    feature_names = [name for name in _COLUMNS if name not in dropped]
    data = raw[feature_names]
    sample_weight = raw[_WEIGHT].to_numpy(dtype=np.float64)
    categorical_names = [name for name in feature_names if name in _CATEGORIES]
    categories = {name: list(_CATEGORIES[name]) for name in categorical_names}

    if as_frame:
        frame = pd.concat([data, target], axis=1)
        categorical_features = categorical_names
    else:
        columns = []
        for name in feature_names:
            if name in _CATEGORIES:
                codes = data[name].cat.codes.to_numpy(dtype=np.float64)
                codes[codes < 0] = np.nan
                columns.append(codes)
            else:
                columns.append(data[name].to_numpy(dtype=np.float64))
        data = np.column_stack(columns)
        target = target.to_numpy(dtype=np.int64)
        frame = None
        categorical_features = np.array(
            [i for i, name in enumerate(feature_names) if name in _CATEGORIES],
            dtype=np.int64,
        )

    if return_X_y:
        return data, target

    descr = (
        resources.files(__package__)
        .joinpath("descr", "census_income.rst")
        .read_text(encoding="utf-8")
    )
    return Bunch(
        data=data,
        target=target,
        frame=frame,
        feature_names=feature_names,
        target_names=list(task_spec),
        categorical_features=categorical_features,
        categories=categories,
        sample_weight=sample_weight,
        DESCR=descr,
    )
