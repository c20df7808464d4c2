"""The layers of docs/architecture.md hold: no module of `middle/` imports a layer above
its own, and no files import each other in a circle. Seen red on the code before issue 10's
first moves: the engine loaded `middle.steps` and `middle.workflows` by name,
`middle.issues.store` and `middle.issues.github_store` imported each other, and so did
the task modules `tasks.py` and `tasks_ci.py` (now `middle.cli.tasks` and `middle.cli.ci`).

The layers are the folders (issue 25): a unit is a package of `middle/` or one of the few
modules at its root, and the doc's block names each once, top to bottom, with a line of its
own under it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGE = REPO_ROOT / "middle"


def layers_block() -> str:
    doc = (REPO_ROOT / "docs" / "architecture.md").read_text()
    (block,) = re.findall(r"```layers\n(.+?)```", doc, re.S)
    return str(block)


def layers() -> dict[str, int]:
    """Each top-level unit of `middle/` (module or package) and its layer, 0 at the top."""
    lines = layers_block().splitlines()
    return {name: rank for rank, line in enumerate(lines) for name in line.split()}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """The `middle` modules a file imports, wherever in the file (functions included), and
    those it names in a string, as `importlib.import_module("middle.steps")` does."""
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:  # `from middle.system import git` imports a module
                submodule = f"{node.module}.{alias.name}"
                names.add(submodule if submodule in modules else node.module)
        elif isinstance(node, ast.Constant) and node.value in modules and "." in node.value:
            names.add(node.value)  # a module named to `importlib.import_module`
    return {name for name in names if name in modules}


def unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def graph() -> dict[str, set[str]]:
    return {module_name(p): imports(p) for p in PACKAGE.rglob("*.py")}


def described() -> set[str]:
    """The names the architecture doc gives a line of their own: `- **cli**: ...` or
    `- **issues, agents**: ...`, in the list under the layers."""
    doc = (REPO_ROOT / "docs" / "architecture.md").read_text()
    lines = doc.split("Top to bottom:", 1)[1].split("\n## ", 1)[0]
    return {
        name.strip()
        for heading in re.findall(r"^- \*\*(.+?)\*\*:", lines, re.M)
        for name in heading.split(",")
    }


def test_every_unit_of_middle_has_a_layer() -> None:
    units = {unit(module) for module in graph()}
    assert units - set(layers()) == set()


def test_the_layers_picture_matches_the_folders_one_to_one() -> None:
    """Each package and root module of `middle/` is named once in the layers block, the
    block names nothing that is gone, and each name has its line in the doc. Seen red with
    `middle/wobble.py` added (no layer, no line), with `gates` left in the block after it
    moved into `verify/`, and with the line of `refs` taken out of the doc."""
    units = {unit(module) for module in graph()}
    names = layers_block().split()
    assert sorted(name for name in set(names) if names.count(name) > 1) == []
    assert set(names) == units
    assert units - described() == set()


def test_the_root_of_middle_holds_few_modules_and_no_package_many() -> None:
    """Issue 25's bounds: at most 8 modules at the root of `middle/` (everything else is in
    the package of its layer or feature) and at most 15 modules in any package, so no
    folder is a hall again. Seen red on the layout before issue 25: 25 modules at the root,
    28 in `middle/app/`."""
    root = sorted(path.stem for path in PACKAGE.glob("*.py"))
    assert len(root) <= 8, root
    crowded = {
        str(folder.relative_to(REPO_ROOT)): count
        for folder in {path.parent for path in PACKAGE.rglob("__init__.py")}
        if (count := len(list(folder.glob("*.py")))) > 15
    }
    assert crowded == {}


def test_no_module_imports_a_layer_above_its_own() -> None:
    rank = layers()
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph().items()
        for target in targets
        if unit(target) != unit(module) and rank[unit(target)] < rank[unit(module)]
    )
    assert upward == []


def test_no_files_import_each_other_in_a_circle() -> None:
    edges = graph()
    package_inits = {
        m for m in edges if (PACKAGE / Path(*m.split(".")[1:]) / "__init__.py").exists()
    }

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for target in edges.get(todo.pop(), set()) - package_inits:
                if target not in seen:
                    seen.add(target)
                    todo.append(target)
        return seen

    circles = sorted(m for m in edges if m not in package_inits and m in reach(m))
    assert circles == []


def test_every_user_error_is_in_the_tree_of_errors_py() -> None:
    """One place for the error tree. Seen red: nine `MiddleError` subclasses lived beside
    the code that raised them."""
    import middle.errors

    tree = {name for name, value in vars(middle.errors).items() if isinstance(value, type)}
    outside = sorted(
        f"{module_name(path)}.{node.name}"
        for path in PACKAGE.rglob("*.py")
        if path.name != "errors.py"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef)
        and any(isinstance(base, ast.Name) and base.id in tree for base in node.bases)
    )
    assert outside == []


RUN_ROW_MODULES = {"middle.store.records", "middle.store.checkpoints", "middle.store.signals"}


def test_the_engine_and_steps_touch_run_rows_only_through_runs() -> None:
    """`middle.engine.runs.Runs` is the one way the engine and the steps read and change
    run rows (a run, its checkpoints, signals and events), whether a function is imported
    by name or called through `import middle.store as s`. Seen red with `turn.py` importing
    `transition_workflow` from the store, as it did before issue 10, and with
    `s.transition_workflow(...)` after `import middle.store as s`."""
    import inspect

    import middle.store

    def run_row_function(name: str) -> bool:
        value = getattr(middle.store, name, None)
        return inspect.isfunction(value) and value.__module__ in RUN_ROW_MODULES

    def reached(tree: ast.AST) -> set[str]:
        """Run-row functions imported by name, or used as `<middle.store alias>.name`."""
        names, aliases = set(), set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("middle"):
                if node.module == "middle":
                    aliases |= {a.asname or a.name for a in node.names if a.name == "store"}
                names |= {a.name for a in node.names if run_row_function(a.name)}
            elif isinstance(node, ast.Import):
                aliases |= {a.asname for a in node.names if a.name == "middle.store" and a.asname}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and run_row_function(node.attr)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
            ):
                names.add(node.attr)
        return names

    files = [*(PACKAGE / "engine").glob("*.py"), *(PACKAGE / "steps").glob("*.py")]
    reaching = sorted(
        f"{module_name(path)}: {name}"
        for path in files
        if path.name != "runs.py"
        for name in reached(ast.parse(path.read_text()))
    )
    assert reaching == []
