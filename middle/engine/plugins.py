"""Load plugins into a fresh pluggy manager and build the registry they describe.

Order: the host's built-ins, then packages in the entry-point group `middle` (skipped when
`MIDDLE_DISABLE_PLUGIN_AUTOLOAD=1`), then the target repo's `.middle/plugins/*.py`, imported
by path like pytest's conftest files. Every call builds a new manager and registry.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy

from middle.engine import hookspecs
from middle.engine.registry import PluginRegistry, Registry
from middle.errors import MiddleError, PluginError

ENTRY_POINT_GROUP = "middle"
AUTOLOAD_OFF_ENV = "MIDDLE_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class Plugins:
    manager: pluggy.PluginManager
    registry: Registry


def load_plugins(
    repo: Path | None = None,
    *,
    builtins: Iterable[ModuleType] = (),
    autoload: bool | None = None,
    extra: Iterable[tuple[object, str]] = (),
) -> Plugins:
    """Load every plugin for `repo` and return the manager and the configured registry.

    `builtins` are the host's own plugin modules, registered first with origin "built-in":
    the engine names no package above it, so the app passes middle's in
    (`middle.app.plugins`). `extra` is `(plugin, origin)` pairs registered after the repo's
    plugins (tests use it).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    origins: dict[int, str] = {}

    def register(plugin: object, origin: str, name: str | None = None) -> None:
        manager.register(plugin, name=name or origin)
        origins[id(plugin)] = origin

    for module in builtins:
        register(module, "built-in", name=module.__name__)
    if autoload is None:
        autoload = os.environ.get(AUTOLOAD_OFF_ENV, "") not in ("1", "true", "yes")
    if autoload:
        _load_entry_points(manager, origins)
    if repo is not None:
        for path in sorted((repo / ".middle" / "plugins").glob("*.py")):
            register(_import_by_path(path), str(path))
    for plugin, origin in extra:
        register(plugin, origin, name=f"{origin}:{id(plugin)}")

    registry = Registry()
    for hook_name in (
        "middle_register_adapters",
        "middle_register_issue_stores",
        "middle_register_steps",
        "middle_register_workflows",
    ):
        for impl in getattr(manager.hook, hook_name).get_hookimpls():
            origin = origins.get(id(impl.plugin), impl.plugin_name)
            _call(impl, hook_name, origin, registry=PluginRegistry(registry, origin))
    for workflow in registry.workflows.values():
        for impl in manager.hook.middle_configure_workflow.get_hookimpls():
            origin = origins.get(id(impl.plugin), impl.plugin_name)
            _call(impl, "middle_configure_workflow", origin, workflow=workflow)
        registry.check_workflow(workflow)
    return Plugins(manager, registry)


def _call(impl: pluggy.HookImpl, hook: str, origin: str, **kwargs: Any) -> None:
    """Call one plugin's hook, so an error can name the plugin and the hook."""
    try:
        impl.function(*[kwargs[name] for name in impl.argnames])
    except MiddleError as exc:
        raise type(exc)(f"plugin {origin} ({hook}): {exc}") from exc
    except Exception as exc:
        raise PluginError(
            f"plugin {origin} failed in {hook}: {type(exc).__name__}: {exc}; fix or remove it"
        ) from exc


def _load_entry_points(manager: pluggy.PluginManager, origins: dict[int, str]) -> None:
    try:
        manager.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
    except Exception as exc:
        raise PluginError(
            f"an installed plugin (entry-point group {ENTRY_POINT_GROUP!r}) failed to load: "
            f"{type(exc).__name__}: {exc}; uninstall it, or set {AUTOLOAD_OFF_ENV}=1"
        ) from exc
    for plugin, dist in manager.list_plugin_distinfo():
        origins[id(plugin)] = f"package {dist.project_name}"


def _import_by_path(path: Path) -> ModuleType:
    """Import a repo-local plugin file under a name unique to its path."""
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:12]
    module_name = f"_middle_local_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"cannot import repo plugin {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[module_name]
        raise PluginError(
            f"repo plugin {path} failed to import: {type(exc).__name__}: {exc}"
        ) from exc
    return module
