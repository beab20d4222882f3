"""Checks that keep the loaders' file names to their published layouts,
inside the ``data_home`` they are given."""

import os
from pathlib import Path


def check_option(value, name, options):
    """Refuse a name (subset, country, task group) that is not one of ``options``,
    before any path is built from it."""
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {sorted(options)}; got {value!r} instead.")


def path_inside(data_home, *parts):
    """``data_home / parts...``, refused unless it resolves (symbolic links
    followed) to a place inside ``data_home``."""
    home = Path(os.fspath(data_home)).expanduser()
    path = home.joinpath(*parts)
    if not path.resolve().is_relative_to(home.resolve()):
        raise ValueError(
            f"{str(path)!r} resolves to {str(path.resolve())!r}, outside "
            f"data_home={str(home)!r}: a loader reads only files inside data_home. Put the "
            "files themselves (not links to elsewhere) in that folder, or point data_home "
            "at the folder that holds them."
        )
    return path
