"""Import paths that moved, kept for one release with a ``DeprecationWarning``."""

from __future__ import annotations

import warnings


def warn_moved(old: str, new: str) -> None:
    """Say that module *old* is now *new* (called by the old module as it is imported)."""
    warnings.warn(
        f"{old} moved to {new}; import from there (or from watchd): "
        f"the old path goes in the next release",
        DeprecationWarning,
        stacklevel=3,
    )
