"""The identity of a category, whatever the container it arrives in.

A categorical value is reduced to a canonical key of one of four kinds, and
both hashing and vocabulary look-ups work on these keys, value by value:

- INTEGER: a number equal to an integer of the int64 range (``7``, ``7.0``,
  ``np.int64(7)``, ``np.float32(7)``, ``True`` as ``1``) is that ``int64``;
- FLOAT: any other float (``7.5``, ``inf``) is its ``float64`` value;
- TEXT: a string is itself;
- OTHER: a whole number beyond int64 is the text ``"int:<digits>"`` (exact,
  so that ``2**70`` and ``2**70 + 1`` stay apart), any other object (bytes,
  a date...) the text ``"<type name>:<str(value)>"``; kept apart from the
  strings that read the same;
- None, NaN, ``pd.NA`` and ``NaT`` are missing.

Two values share a key exactly when Python's ``==`` calls them equal (the
rule of ``OrdinalEncoder``'s categories and of pandas' ``value_counts``): the
string ``"7"`` is not the number ``7``. A value's key depends on the value
alone, never on the other values of its column, its dtype (object, numeric,
nullable, categorical) or the rows it comes with, so that a row encodes the
same alone or in any batch.
"""

from numbers import Integral, Real

import numpy as np
import pandas as pd

MISSING, INTEGER, FLOAT, TEXT, OTHER = 0, 1, 2, 3, 4
_KEY_DTYPES = {INTEGER: np.int64, FLOAT: np.float64, TEXT: object, OTHER: object}
# Mixed into the hash of OTHER keys, so that the object 2**70 (key "int:<digits>")
# and the string "int:<digits>" do not share a bucket by construction.
_OTHER_SALT = np.uint64(0x9E3779B97F4A7C15)

# Floats from -2**63 to under 2**63 convert to int64 exactly.
_INT64_BOUND = 2.0**63
# Above this, float64 cannot hold every integer: such Python ints are read one by one.
_EXACT_FLOAT_INTS = 2.0**53
# infer_dtype's names of object columns that hold only numbers.
_NUMBER_COLUMNS = frozenset({"integer", "floating", "mixed-integer-float", "decimal"})


class CanonicalKeys:
    """The keys of ``n`` values: ``kind`` (n,) int8, and ``keys[k]``, the
    keys of kind ``k`` in row order (int64, float64, or object arrays of
    str for TEXT, strings, and OTHER, anything else)."""

    def __init__(self, kind, keys=None):
        self.kind = kind
        self.keys = keys or {}

    def parts(self):
        """``(kind, mask, keys)`` of each kind present."""
        for kind, keys in sorted(self.keys.items()):
            if len(keys):
                yield kind, self.kind == kind, keys


def canonical_keys(values):
    """The :class:`CanonicalKeys` of a column (array, Series, Index or list)."""
    dtype = getattr(values, "dtype", None)
    if isinstance(dtype, pd.CategoricalDtype):
        values = pd.Series(values, copy=False)
        categories = canonical_keys(values.cat.categories)
        return _gather(categories, values.cat.codes.to_numpy())
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return _from_numbers(np.asarray(values))
    if isinstance(dtype, np.dtype) and dtype.kind in "OUS":
        values = np.asarray(values, dtype=object)
    else:  # extension arrays (nullable, strings, Arrow), datetimes, lists
        values = pd.Series(values, copy=False).to_numpy(dtype=object)
    return _from_objects(values.reshape(-1))


def _empty(n):
    return CanonicalKeys(np.zeros(n, dtype=np.int8))


def _from_numbers(values):
    if values.dtype.kind in "bi" or (values.dtype.kind == "u" and values.dtype.itemsize < 8):
        return _integers(values.astype(np.int64, copy=False))
    if values.dtype.kind == "u":
        if not len(values) or values.max() < _INT64_BOUND:
            return _integers(values.astype(np.int64))
        # Beyond int64: exact, one by one (float64 would merge neighbours).
        return _one_by_one(values.astype(object), np.zeros(len(values), dtype=bool))
    return _from_floats(values.astype(np.float64, copy=False))


def _integers(ints):
    return CanonicalKeys(np.full(len(ints), INTEGER, dtype=np.int8), {INTEGER: ints})


def _from_floats(floats, present=None):
    """Keys of float64 values; ``present`` places them among ``n`` rows (the others missing)."""
    whole = np.isfinite(floats) & (floats == np.round(floats))
    integral = whole & (np.abs(floats) < _INT64_BOUND)
    if (whole & ~integral).any():  # whole numbers beyond int64: exact, one by one
        values = np.full(len(present) if present is not None else len(floats), None, object)
        values[present if present is not None else slice(None)] = floats
        return _one_by_one(values, pd.isna(values))
    kind = np.where(integral, INTEGER, FLOAT).astype(np.int8)
    kind[np.isnan(floats)] = MISSING
    if present is not None:
        full = np.zeros(len(present), dtype=np.int8)
        full[present] = kind
        kind = full
    ints = floats[integral].astype(np.int64)
    floats = floats[~integral & ~np.isnan(floats)]
    return CanonicalKeys(kind, {INTEGER: ints, FLOAT: floats})


def _from_objects(values):
    n = len(values)
    missing = pd.isna(values) if n else np.zeros(0, dtype=bool)
    present = ~missing
    values_present = values[present] if missing.any() else values
    if not len(values_present):
        return _empty(n)
    inferred = pd.api.types.infer_dtype(values_present, skipna=False)
    if inferred == "string":
        kind = np.where(present, TEXT, MISSING).astype(np.int8)
        return CanonicalKeys(kind, {TEXT: values_present})
    if inferred == "boolean":
        keys = _integers(values_present.astype(bool).astype(np.int64))
        keys.kind = np.where(present, INTEGER, MISSING).astype(np.int8)
        return keys
    if inferred in _NUMBER_COLUMNS:
        try:
            floats = values_present.astype(np.float64)
        except (TypeError, ValueError, OverflowError):
            floats = None
        # Large Python ints would lose digits as floats: those go one by one.
        if floats is not None and not (np.abs(floats) >= _EXACT_FLOAT_INTS).any():
            return _from_floats(floats, present if missing.any() else None)
    return _from_mixed(values, missing)


def _key(value):
    """``(kind, key)`` of one present value."""
    if isinstance(value, str):
        return TEXT, value
    if isinstance(value, (bool, np.bool_)):
        return INTEGER, int(value)
    if isinstance(value, Integral):
        return _integer_key(int(value))
    if isinstance(value, Real) or type(value).__name__ == "Decimal":
        number = float(value)
        if np.isfinite(number) and number == round(number):
            return _integer_key(int(number))
        return FLOAT, number
    return OTHER, f"{type(value).__name__}:{value}"


def _integer_key(value):
    if -_INT64_BOUND <= value < _INT64_BOUND:
        return INTEGER, value
    # Beyond int64, a whole number is its exact digits: 2**70 and 2**70 + 1 stay
    # apart, and 2**70 as a float (exact, being whole) meets 2**70 as an int.
    return OTHER, f"int:{value}"


def _one_by_one(values, missing):
    kind = np.zeros(len(values), dtype=np.int8)
    parts = {k: [] for k in _KEY_DTYPES}
    positions = np.flatnonzero(~missing)
    for position, value in zip(positions, values[positions]):
        k, key = _key(value)
        kind[position] = k
        parts[k].append(key)
    return CanonicalKeys(
        kind, {k: np.array(part, dtype=_KEY_DTYPES[k]) for k, part in parts.items()}
    )


def _of_one_type(cls, values):
    """Keys of values that are all of the type ``cls``, vectorised where the type allows."""
    if issubclass(cls, str):
        return CanonicalKeys(np.full(len(values), TEXT, dtype=np.int8), {TEXT: values})
    if issubclass(cls, (bool, np.bool_)):
        return _integers(values.astype(bool).astype(np.int64))
    if issubclass(cls, (int, np.signedinteger)) or (
        issubclass(cls, np.unsignedinteger) and np.dtype(cls).itemsize < 8
    ):
        try:
            return _integers(values.astype(np.int64))
        except OverflowError:  # Python ints beyond int64
            pass
    elif issubclass(cls, (float, np.floating)):
        return _from_floats(values.astype(np.float64))
    return _one_by_one(values, np.zeros(len(values), dtype=bool))


def _from_mixed(values, missing):
    """Keys of an object column of several types: one vectorised pass per type."""
    kind = np.zeros(len(values), dtype=np.int8)
    positions = np.flatnonzero(~missing)
    present = values[positions]
    types = np.fromiter(map(type, present), dtype=object, count=len(present))
    type_codes, distinct = pd.factorize(types)
    pieces = {}
    for code, cls in enumerate(distinct):
        at = positions[type_codes == code]
        keys = _of_one_type(cls, values[at])
        kind[at] = keys.kind
        for k, mask, part in keys.parts():
            pieces.setdefault(k, []).append((at[mask], part))
    out = CanonicalKeys(kind)
    for k, found in pieces.items():
        if len(found) == 1:  # one type of this kind: its rows are in order already
            out.keys[k] = found[0][1]
            continue
        rows = np.concatenate([where for where, _ in found])
        keys = np.concatenate([part for _, part in found])
        out.keys[k] = keys[np.argsort(rows, kind="stable")]  # back to row order
    return out


def _gather(keys, codes):
    """Keys of ``codes`` into the values whose keys are ``keys`` (-1: missing)."""
    kind = np.append(keys.kind, MISSING)[codes]
    out = _empty(len(codes))
    out.kind = kind
    for k, mask, part in keys.parts():
        rank = np.cumsum(mask) - 1  # position of each value among those of its kind
        out.keys[k] = part[rank[codes[kind == k]]]
    return out


def hash_keys(keys):
    """A stable 64-bit hash of each value (0 where missing): pandas'
    ``hash_array`` of the int64, float64 or string key."""
    hashed = np.zeros(len(keys.kind), dtype=np.uint64)
    for kind, mask, part in keys.parts():
        hashed[mask] = pd.util.hash_array(part) ^ (_OTHER_SALT if kind == OTHER else 0)
    return hashed


class KeyIndex:
    """Positions of values among categories, matched by canonical key.

    Parameters
    ----------
    categories : array-like
        Categories with distinct keys (see :func:`unique_by_key`).
    """

    def __init__(self, categories):
        keys = canonical_keys(categories)
        positions = np.arange(len(keys.kind))
        self._parts = {
            kind: (pd.Index(part, dtype=_KEY_DTYPES[kind]), positions[mask])
            for kind, mask, part in keys.parts()
        }

    def get_indexer(self, values):
        """Position of each value's category; -1 for an unknown or missing value."""
        keys = canonical_keys(values)
        found = np.full(len(keys.kind), -1, dtype=np.int64)
        for kind, mask, part in keys.parts():
            if kind in self._parts:
                index, positions = self._parts[kind]
                # An Index of the known dtype: pandas then infers nothing per call.
                at = index.get_indexer(pd.Index(part, dtype=_KEY_DTYPES[kind], copy=False))
                found[mask] = np.where(at >= 0, positions[at], -1)
        return found


def unique_by_key(counts):
    """Merge the entries of a Series of counts whose categories share a key
    (e.g. ``7`` and ``7.0`` counted in two chunks), keeping the first
    category of each; missing categories are dropped. Categories come out
    sorted: numbers by value, then strings, then other objects."""
    keys = canonical_keys(counts.index)
    values = counts.to_numpy()
    firsts, totals, sort_keys = [], [], []
    for kind, mask, part in keys.parts():
        group, uniques = pd.factorize(part)
        rows = np.flatnonzero(mask)
        first = np.full(len(uniques), len(values), dtype=np.int64)
        np.minimum.at(first, group, rows)
        firsts.append(first)
        totals.append(np.bincount(group, weights=values[rows], minlength=len(uniques)))
        sort_keys.append((kind, uniques))
    if not firsts:
        return counts.iloc[:0]
    order = _sorted_order(sort_keys)
    first = np.concatenate(firsts)[order]
    total = np.concatenate(totals)[order].astype(np.int64)
    return pd.Series(total, index=counts.index[first], name=counts.name)


def _sorted_order(sort_keys):
    """Order of the concatenated unique keys: numbers by value, then strings,
    then other objects by their text."""
    groups, offset = {}, 0
    for kind, uniques in sort_keys:
        positions = np.arange(offset, offset + len(uniques))
        offset += len(uniques)
        group = "number" if kind in (INTEGER, FLOAT) else kind
        groups.setdefault(group, []).append((positions, np.asarray(uniques), kind))
    order = []
    for group in ("number", TEXT, OTHER):
        if group not in groups:
            continue
        positions = np.concatenate([p for p, _, _ in groups[group]])
        if group != "number":
            value = np.concatenate([u for _, u, _ in groups[group]])
            order.append(positions[np.argsort(value, kind="stable")])
            continue
        # No int key equals a float key (an integral float is an int key); float64
        # rounds ints above 2**53, so their exact values break the ties.
        value = np.concatenate([u.astype(np.float64) for _, u, _ in groups[group]])
        exact = np.concatenate(
            [u if k == INTEGER else np.zeros(len(u), np.int64) for _, u, k in groups[group]]
        )
        order.append(positions[np.lexsort((exact, value))])
    return np.concatenate(order)
