"""The plugin author's import surface stays small, sorted and complete."""

from __future__ import annotations

import middle
import middle.store


def test_all_is_sorted_and_every_name_exists() -> None:
    for module in (middle, middle.store):
        assert module.__all__ == sorted(module.__all__)
        missing = [name for name in module.__all__ if not hasattr(module, name)]
        assert missing == []
