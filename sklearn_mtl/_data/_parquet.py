"""Parquet files read chunk by chunk for :class:`ChunkedData`, with errors
that name the file and chunk at fault."""

import heapq
import os
from itertools import count
from pathlib import Path


def parquet_paths(source):
    """The Parquet files of ``source`` (a directory, a file or a list of
    files), checked to exist; read nothing.

    A directory contributes its ``*.parquet`` files in name order, and
    refuses a file that is a symbolic link to somewhere outside it: reading
    a directory must not read files that its owner did not put there.
    """
    if isinstance(source, (str, os.PathLike)):
        folder = Path(source)
        if folder.is_dir():
            paths = sorted(folder.glob("*.parquet"))
            if not paths:
                raise ValueError(f"ChunkedData found no *.parquet file in the directory {source}.")
            root = folder.resolve()
            for path in paths:
                target = path.resolve()
                if path.is_symlink() and not target.is_relative_to(root):
                    raise ValueError(
                        f"ChunkedData: {path} is a symbolic link to {target}, outside the "
                        f"directory {source}; links out of the directory are not followed. "
                        "Copy the file into the directory, or list the files to read "
                        "explicitly: ChunkedData([path, ...], ...)."
                    )
            return paths
        paths = [source]
    elif isinstance(source, (list, tuple)):
        paths = list(source)
        if not paths:
            raise ValueError("ChunkedData was given an empty list of Parquet files.")
    else:
        raise TypeError(
            "ChunkedData needs a callable returning a fresh iterable of chunks, a directory "
            f"of Parquet files, or a list of Parquet files; got {type(source).__name__}."
        )
    for path in paths:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(
                f"ChunkedData's list of Parquet files holds {path!r} "
                f"({type(path).__name__}), which is not a path."
            )
        if not Path(path).is_file():
            raise ValueError(
                f"ChunkedData: the Parquet file {path} does not exist (or is not a file)."
            )
    return [Path(path) for path in paths]


def parquet_identity(path):
    """``(path, size, modification time, schema)`` of a Parquet file: what
    changes when the file is rewritten, read from its footer only."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(path)
    stat = path.stat()
    try:
        schema = str(pq.read_schema(path))
    except (pa.ArrowException, OSError):
        schema = None  # reading the file names the fault
    return str(path.resolve()), stat.st_size, stat.st_mtime_ns, schema


def _schema(path, parquet):
    """The Arrow schema of an opened file, as ``{column: type}``."""
    schema = parquet.schema_arrow
    return {name: schema.field(name).type for name in schema.names}


def _check_same_schema(path, schema, first_path, first_schema):
    missing = [name for name in first_schema if name not in schema]
    extra = [name for name in schema if name not in first_schema]
    retyped = [
        f"{name!r} ({first_schema[name]} -> {schema[name]})"
        for name in first_schema
        if name in schema and schema[name] != first_schema[name]
    ]
    if missing or extra or retyped:
        problems = [
            f"lacks the column(s) {missing}" if missing else "",
            f"has the new column(s) {extra}" if extra else "",
            f"changes the type of {', '.join(retyped)}" if retyped else "",
        ]
        raise ValueError(
            f"ChunkedData: the Parquet file {path} {'; '.join(p for p in problems if p)} "
            f"compared with the first file, {first_path}. Every file must have the same "
            "columns with the same types: rewrite the odd file, or leave it out."
        )


def _open(path, needed, weight_column):
    """The opened Parquet file at ``path`` and its schema, checked to hold
    the ``needed`` columns."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(
            f"ChunkedData could not read the Parquet file {path}: {exc}. Is it a "
            "complete Parquet file (not truncated, not another format)?"
        ) from exc
    schema = _schema(path, parquet)
    missing = [name for name in needed if name not in schema]
    if missing:
        role = "weight_column" if missing == [weight_column] else "target_columns"
        raise ValueError(
            f"ChunkedData: the Parquet file {path} has no column {missing} (from "
            f"{role}); its columns are {list(schema)}."
        )
    return parquet, schema


def _needed(target_columns, weight_column):
    return list(target_columns) + ([weight_column] if weight_column is not None else [])


def read_parquet_chunks(paths, target_columns, weight_column, chunk_rows, units=None):
    """Yield ``(X, Y, sample_weight, where)`` chunks of the files, ``where``
    naming the file and the chunk's position in it for error messages.

    With ``units`` (``(file index, row group)`` pairs, see
    :func:`parquet_units`), only those row groups, each read apart."""
    needed = _needed(target_columns, weight_column)
    if units is not None:
        opened = {}
        for i, group in units:
            if i not in opened:
                opened[i] = _open(paths[i], needed, weight_column)[0]
            batches = opened[i].iter_batches(batch_size=chunk_rows, row_groups=[group])
            where = f"of row group {group} of the Parquet file {paths[i]}"
            yield from _frames(batches, target_columns, weight_column, chunk_rows, where)
        return
    first = None
    for path in paths:
        parquet, schema = _open(path, needed, weight_column)
        if first is None:
            first = path, schema
        else:
            _check_same_schema(path, schema, *first)
        if not parquet.metadata.num_rows:
            raise ValueError(f"ChunkedData: the Parquet file {path} holds no rows.")
        batches = parquet.iter_batches(batch_size=chunk_rows)
        where = f"of the Parquet file {path}"
        yield from _frames(batches, target_columns, weight_column, chunk_rows, where)


def _frames(batches, target_columns, weight_column, chunk_rows, where):
    import pyarrow as pa

    needed = _needed(target_columns, weight_column)
    for k in count():
        try:
            batch = next(batches, None)
        except (pa.ArrowException, OSError) as exc:
            raise ValueError(
                f"ChunkedData could not read chunk {k} {where} ({chunk_rows} rows per "
                f"chunk): {exc}. The file is probably corrupt."
            ) from exc
        if batch is None:
            return
        if not batch.num_rows:
            continue  # an empty row group carries no rows, and no error
        frame = batch.to_pandas()
        weight = None if weight_column is None else frame[weight_column].to_numpy()
        X = frame.drop(columns=needed)
        yield X, frame[list(target_columns)], weight, f"chunk {k} {where}"


def parquet_units(paths, target_columns, weight_column):
    """The row groups of the files as ``(file index, row group, rows)``, in
    file order, read from the files' footers, which are checked as reading
    the files checks them: readable, with the needed columns, the schema
    of the first file and rows. Row groups without rows are left out."""
    needed = _needed(target_columns, weight_column)
    units, first = [], None
    for i, path in enumerate(paths):
        parquet, schema = _open(path, needed, weight_column)
        if first is None:
            first = path, schema
        else:
            _check_same_schema(path, schema, *first)
        metadata = parquet.metadata
        if not metadata.num_rows:
            raise ValueError(f"ChunkedData: the Parquet file {path} holds no rows.")
        for group in range(metadata.num_row_groups):
            rows = metadata.row_group(group).num_rows
            if rows:
                units.append((i, group, rows))
    return units


def deal_units(units, n_shares):
    """``units`` (``(file index, row group, rows)``) dealt into ``n_shares``
    lists of ``(file index, row group)`` with balanced rows: the largest
    unit first to the share with the fewest rows so far (the lowest share
    on ties), each share then in file order. The same in every process."""
    order = sorted(range(len(units)), key=lambda u: -units[u][2])
    heap = [(0, share) for share in range(n_shares)]
    dealt = [[] for _ in range(n_shares)]
    for u in order:
        rows, share = heapq.heappop(heap)
        dealt[share].append(u)
        heapq.heappush(heap, (rows + units[u][2], share))
    return [[units[u][:2] for u in sorted(share)] for share in dealt]
