"""Fault tests reuse the e2e sandbox."""

from tests.e2e.conftest import sandbox

__all__ = ["sandbox"]
