"""Import invoke without the parts a `middle` command does not use (issue 24 item 2).

invoke's package imports ~50 ms of modules at its top, three bare Python starts. Three of
them serve no `middle` command, and are deferred here until something asks for them:

- `unittest.mock` (with `asyncio`, ~15 ms): `invoke.context` imports `Mock` for
  `MockContext`, a testing helper. Its `Mock` here is a stand-in that imports the real one
  on the first `MockContext`, and then is the real one.
- `importlib.metadata` (with `email`, ~14 ms): `invoke/__init__` reads its own version with
  it. `invoke.__version__` is read on first use instead.
- invoke's vendored YAML (~7 ms): only a `*.yaml` config file of invoke's needs it; it
  loads on its first use.

Each stand-in is in `sys.modules` only while invoke's package imports, and only if the real
module is not loaded already; afterwards everything imports as usual. If invoke is already
loaded (a project's `tasks.py` mounting `middle.tasks.ns` under the `invoke` command), this
does nothing.
"""

from __future__ import annotations

import sys
from types import ModuleType
from typing import Any


def import_invoke() -> ModuleType:
    """`invoke`, imported with `unittest.mock`, `importlib.metadata` and its YAML deferred."""
    if "invoke" in sys.modules:
        return sys.modules["invoke"]
    stand_ins = {
        "unittest.mock": _stand_in("unittest.mock", Mock=_deferred_mock),
        "importlib.metadata": _stand_in("importlib.metadata", version=lambda name: ""),
        "invoke.vendor.yaml": _stand_in("invoke.vendor.yaml", __getattr__=_deferred_yaml),
    }
    placed = [name for name in stand_ins if name not in sys.modules]
    for name in placed:
        sys.modules[name] = stand_ins[name]
    try:
        import invoke
    finally:
        for name in placed:
            if sys.modules.get(name) is stand_ins[name]:
                del sys.modules[name]
    if "importlib.metadata" in placed:
        names = vars(invoke)
        del names["__version__"], names["metadata"]  # the stand-in's; read on first use
        names["__getattr__"] = _invoke_getattr
    return invoke


def _stand_in(name: str, **attributes: Any) -> ModuleType:
    module = ModuleType(name)
    module.__dict__.update(attributes)
    return module


def _deferred_mock(*args: Any, **kwargs: Any) -> Any:
    """`unittest.mock.Mock(...)`, imported on the first call; then `invoke.context` holds
    the real class."""
    from unittest.mock import Mock

    import invoke.context

    vars(invoke.context)["Mock"] = Mock
    return Mock(*args, **kwargs)


def _invoke_getattr(name: str) -> Any:
    """`invoke.__version__` (and `invoke.metadata`), computed as invoke does, on first use."""
    from importlib import metadata

    if name == "__version__":
        version = vars(sys.modules["invoke"])["__version__"] = metadata.version("invoke")
        return version
    if name == "metadata":
        return metadata
    raise AttributeError(f"module 'invoke' has no attribute {name!r}")


def _deferred_yaml(name: str) -> Any:
    """An attribute of invoke's YAML module (`safe_load`), importing it on first use."""
    import invoke.config
    import invoke.util
    import invoke.vendor.yaml as yaml

    vars(invoke.util)["yaml"] = vars(invoke.config)["yaml"] = yaml
    return getattr(yaml, name)
