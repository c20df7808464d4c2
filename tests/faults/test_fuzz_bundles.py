"""Fuzzing state bundles through `middle state import`: a bundle comes from another machine,
a CI cache or a ref anyone who may push can write. Whatever it holds, the import is one
line and exit 1 with nothing written (no row, no worktree, no branch, no file in the
repository or the user's home), or a clean import.

Seen red before issue 20: of the first 21 hand-made bundles below, 9 ended in a traceback
(AttributeError, KeyError, ValueError, JSONDecodeError, RecursionError), 5 were imported
(no version, rows as an object, a number for text, files that are not base64, a linked
state.json), and a NOT NULL and a FOREIGN KEY failure both said "this home already has
another live run of that issue". Hypothesis found a traceback in its first examples.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from sqlite_utils import Database

from middle.app.carry.transfer import export_state
from middle.cli import program
from middle.store import open_db
from middle.store.transfer import RUN_TABLES
from tests.conftest import run_middle
from tests.e2e.conftest import git
from tests.faults.test_fuzz import FUZZ, json_containers
from tests.test_state import make_run


@dataclass
class Importer:
    """Machine B: a clone of machine A's repository and a fresh home per import; the
    valid bundle A exported, to break."""

    root: Path
    repo: Path
    doc: dict[str, Any]
    files: dict[str, bytes]

    def fresh(self, name: str) -> Path:
        folder = self.root / name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return folder

    def write_dir(self, doc: Any, files: dict[str, bytes], raw: bytes | None = None) -> Path:
        """A bundle directory holding `doc` (or `raw` as its state.json) and `files`."""
        path = self.fresh("bundle")
        (path / "state.json").write_bytes(raw if raw is not None else json.dumps(doc).encode())
        if files:
            (path / "transcripts").mkdir()
        for name, data in files.items():
            (path / name).write_bytes(data)
        return path

    def assert_nothing_written(self, home: Path) -> None:
        if (home / "db.sqlite3").exists():
            db = open_db(home / "db.sqlite3")
            assert all(db[table].count == 0 for table in RUN_TABLES)
            db.close()
        worktrees = home / "worktrees"
        assert not worktrees.exists() or not any(worktrees.iterdir())
        assert git(self.repo, "branch", "--list", "middle/*") == ""
        assert len(git(self.repo, "worktree", "list").splitlines()) == 1
        assert git(self.repo, "status", "--porcelain", "--ignored") == ""
        assert not any((self.root / "user").iterdir())

    def clean(self, home: Path) -> None:
        """Undo a successful import, so the next one starts from the same repository."""
        shutil.rmtree(home, ignore_errors=True)
        git(self.repo, "worktree", "prune")
        for branch in git(self.repo, "branch", "--list", "--format=%(refname:short)").split():
            if branch != "main":
                git(self.repo, "branch", "-D", branch)
        shutil.rmtree(self.root / "user")
        (self.root / "user").mkdir()


@pytest.fixture
def importer(
    tmp_path: Path, middle_db: Database, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Importer]:
    home, origin = make_run(middle_db, tmp_path)
    origin.mkdir(parents=True)
    git(origin, "init", "-q", "-b", "main")
    git(origin, "commit", "-q", "--allow-empty", "-m", "initial")
    git(origin, "branch", "middle/issue-7")
    middle_db["workflows"].update("wf-1", {"pr_branch": "middle/issue-7"})
    bundle = export_state(middle_db, ["wf-1"], home=home, repo=origin)
    root = tmp_path / "b"
    subprocess.run(["git", "clone", "-q", str(origin), str(root / "repo")], check=True)
    (root / "user").mkdir()
    monkeypatch.setenv("HOME", str(root / "user"))  # Claude's session folders would go here
    monkeypatch.setenv("MIDDLE_DISABLE_PLUGIN_AUTOLOAD", "1")
    yield Importer(root, root / "repo", bundle.doc, bundle.files)


def middle_in_process(*args: str, home: Path) -> tuple[int, str]:
    """The real `middle` program, run in this process: its exit code and its stderr. A
    traceback is an exception here, and fails the test."""
    stderr = io.StringIO()
    previous = os.environ.get("MIDDLE_HOME")
    os.environ["MIDDLE_HOME"] = str(home)
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            try:
                program.run(["middle", *args])
            except SystemExit as exc:
                return int(exc.code or 0), stderr.getvalue()
        return 0, stderr.getvalue()
    finally:
        if previous is None:
            os.environ.pop("MIDDLE_HOME", None)
        else:
            os.environ["MIDDLE_HOME"] = previous


def assert_refused_or_clean(importer: Importer, bundle: Path, home: Path) -> None:
    code, stderr = middle_in_process(
        "state", "import", "--path", str(bundle), "--repo", str(importer.repo), home=home
    )
    event(f"middle state import exited {code}")
    if code == 0:
        assert git(importer.repo, "status", "--porcelain") == ""  # nothing planted
        importer.clean(home)
        return
    assert code == 1
    (line,) = stderr.strip().splitlines()
    assert line.startswith("middle: "), line
    importer.assert_nothing_written(home)


# -- the hand-made ones, through the installed CLI ------------------------------------------


def _doc(change: Callable[[dict[str, Any]], Any]) -> Callable[[Importer], Path]:
    def make(importer: Importer) -> Path:
        doc = json.loads(json.dumps(importer.doc))
        change(doc)
        return importer.write_dir(doc, importer.files)

    return make


def _raw(data: bytes) -> Callable[[Importer], Path]:
    return lambda importer: importer.write_dir(None, importer.files, raw=data)


def _single_file(files: Any) -> Callable[[Importer], Path]:
    def make(importer: Importer) -> Path:
        path = importer.fresh("single") / "bundle.json"
        path.write_text(json.dumps({**importer.doc, "files": files}))
        return path

    return make


def _linked_document(importer: Importer) -> Path:
    path = importer.write_dir(importer.doc, importer.files)
    secret = importer.root / "secret.json"
    (path / "state.json").rename(secret)
    (path / "state.json").symlink_to(secret)
    return path


def _row(**columns: Any) -> Callable[[dict[str, Any]], None]:
    return lambda doc: doc["tables"]["workflows"][0].update(columns)


MALFORMED: dict[str, Callable[[Importer], Path]] = {
    "not JSON": _raw(b"{nope"),
    "not UTF-8": _raw(b"\xff\xfe\x00{"),
    "a list": _raw(b"[]"),
    "an empty object": _raw(b"{}"),
    "nested too deep": _raw(b"[" * 100_000),
    "no version": _doc(lambda d: d.pop("version")),
    "a version of text": _doc(lambda d: d.update(version="abc")),
    "a version from the future": _doc(lambda d: d.update(version=99)),
    "no tables": _doc(lambda d: d.pop("tables")),
    "tables as a list": _doc(lambda d: d.update(tables=[])),
    "rows as an object": _doc(lambda d: d["tables"].update(steps={})),
    "a row as text": _doc(lambda d: d["tables"]["events"].append("x")),
    "a missing column": _doc(lambda d: d["tables"]["workflows"][0].pop("repo")),
    "a number for text": _doc(_row(repo=7)),
    "a line break in a value": _doc(_row(repo="/elsewhere\r\nmiddle: all good")),
    "meta_json not JSON": _doc(_row(meta_json="{")),
    "a step of no run": _doc(lambda d: d["tables"]["steps"][0].update(workflow_id="x")),
    "no origin": _doc(lambda d: d.pop("origin")),
    "no manifest": _doc(lambda d: d.pop("manifest")),
    "files not base64": _single_file({"transcripts/wf-1": "***"}),
    "files as a list": _single_file([]),
    "state.json a link": _linked_document,
}


@pytest.mark.parametrize("case", MALFORMED, ids=list(MALFORMED))
def test_a_malformed_bundle_is_one_line_and_writes_nothing(importer: Importer, case: str) -> None:
    bundle = MALFORMED[case](importer)
    home = importer.root / "home"
    done = run_middle(
        "state", "import", "--path", str(bundle), "--repo", str(importer.repo),
        env={"MIDDLE_HOME": str(home)},
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("middle: ") and str(bundle) in line, line
    importer.assert_nothing_written(home)


def test_the_valid_bundle_imports(importer: Importer) -> None:
    """The fuzzing starts from a bundle that imports: the refusals above are the edits."""
    home = importer.root / "home"
    bundle = importer.write_dir(importer.doc, importer.files)
    code, stderr = middle_in_process(
        "state", "import", "--path", str(bundle), "--repo", str(importer.repo), home=home
    )
    assert code == 0, stderr
    assert (home / "worktrees").exists()


# -- hypothesis -----------------------------------------------------------------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12), json_containers,
    max_leaves=6,
)  # fmt: skip


def _places(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in a JSON document, depth first."""
    found: list[tuple[Any, Any]] = []
    keys = value.keys() if isinstance(value, dict) else range(len(value))
    for key in list(keys):
        found.append((value, key))
        if isinstance(value[key], dict | list):
            found += _places(value[key])
    return found


@FUZZ
@given(data=st.data())
def test_no_bundle_crashes_the_import_or_leaves_anything_half_done(
    importer: Importer, data: st.DataObject
) -> None:
    doc = json.loads(json.dumps(importer.doc))
    files = dict(importer.files)
    raw: bytes | None = None
    how = data.draw(st.sampled_from(["delete", "replace", "add", "inner", "file", "raw"]))
    if how in ("delete", "replace", "add"):
        container, key = data.draw(st.sampled_from(_places(doc)))
        if how == "delete":
            del container[key]
        elif how == "replace":
            container[key] = data.draw(JSON_VALUES)
        elif isinstance(container, dict):
            container[data.draw(st.text(max_size=8))] = data.draw(JSON_VALUES)
        else:
            container.append(data.draw(JSON_VALUES))
    elif how == "inner":  # inside a JSON column: the run's meta, a step's output
        (row,) = doc["tables"]["workflows"]
        meta = json.loads(row["meta_json"])
        meta["input"][data.draw(st.sampled_from(["repo", "ref", "adapter", "base"]))] = data.draw(
            JSON_VALUES
        )
        row["meta_json"] = json.dumps(meta)
    elif how == "file":
        name = "transcripts/wf-1"
        files[name] = data.draw(st.sampled_from([b"", files[name][:-1], files[name] + b"x"]))
        if data.draw(st.booleans()):
            files[f"transcripts/{data.draw(st.sampled_from(['wf-2', 'x', '.hidden']))}"] = b"x"
    else:
        text = json.dumps(doc).encode()
        raw = text[: data.draw(st.integers(0, len(text) - 1))] + data.draw(st.binary(max_size=8))
    if data.draw(st.booleans()):
        single = importer.fresh("single") / "bundle.json"
        encoded = {name: base64.b64encode(blob).decode() for name, blob in files.items()}
        body = raw if raw is not None else json.dumps({**doc, "files": encoded}).encode()
        single.write_bytes(body)
        bundle = single
    else:
        bundle = importer.write_dir(doc, files, raw)
    assert_refused_or_clean(importer, bundle, importer.fresh("home"))
