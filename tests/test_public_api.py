"""The plugin author's import surface stays small, sorted and complete."""

from __future__ import annotations

import middle
import middle.store


def isort_order(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps `__all__` in: CONSTANTS, then Classes, then functions."""
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_all_is_sorted_and_every_name_exists() -> None:
    for module in (middle, middle.store):
        assert module.__all__ == sorted(module.__all__, key=isort_order)
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == []
