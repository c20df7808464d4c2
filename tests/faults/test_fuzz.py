"""Fuzzing the inputs middle does not control: hook payloads, Epic files, sentinels, refs."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlite_utils import Database

from middle.agents.base import BaseAdapter, Signal
from middle.app.demo import sample_epic
from middle.errors import EpicFormatError, InvalidRefError
from middle.issues.epic_file import parse_epic
from middle.refs import validate_ref
from middle.store import create_workflow_record
from middle.system.hooks import drain_hooks
from middle.system.worktree import spool_dir

FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def json_containers(inner: st.SearchStrategy[object]) -> st.SearchStrategy[object]:
    """Lists and objects of `inner`. A named function: hypothesis reads a lambda's source
    to check that it recurses, and that read misfired on the multi-line lambda once."""
    return st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)


@pytest.fixture
def worktree_db(tmp_path: Path, middle_db: Database) -> tuple[Path, Database]:
    create_workflow_record(
        middle_db, id="wf-1", kind="implementation", repo="/r", epic_ref="1", adapter="x"
    )
    spool_dir(tmp_path).mkdir(parents=True)
    return tmp_path, middle_db


@FUZZ
@given(
    event=st.text(max_size=80),
    token=st.sampled_from(["tok", "", "wrong", "tok\x00"]),
    body=st.one_of(
        st.binary(max_size=3000).map(lambda b: b.decode("latin-1")),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=50),
            json_containers,
            max_leaves=20,
        ).map(json.dumps),
        st.text(max_size=100).map(lambda t: t * 400),  # oversized: past the 16 KB cap
    ),
)
def test_no_hook_payload_crashes_the_dispatcher(
    worktree_db: tuple[Path, Database], event: str, token: str, body: str
) -> None:
    worktree, db = worktree_db
    before = db["events"].count
    raw = f"{event.splitlines()[0] if event.splitlines() else ''}\n{token}\n{body}"
    name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.hook"  # hook.sh names are unique too
    (spool_dir(worktree) / name).write_text(raw, errors="surrogateescape")

    accepted = drain_hooks(db, "wf-1", worktree, "tok")

    assert db["events"].count == before + 1  # recorded, or rejected with a reason
    assert list(spool_dir(worktree).glob("*.hook")) == []
    last = next(iter(db["events"].rows_where(order_by="id desc", limit=1)))
    assert len(last["payload_json"].encode()) <= 16 * 1024
    if token != "tok":
        assert accepted == [] and last["type"] == "hook.rejected"


SAMPLE = sample_epic()


@FUZZ
@given(
    data=st.data(),
    insertion=st.text(max_size=200),
    huge=st.booleans(),
)
def test_a_mutated_epic_round_trips_or_names_its_line(
    data: st.DataObject, insertion: str, huge: bool
) -> None:
    lines = SAMPLE.splitlines(keepends=True)
    at = data.draw(st.integers(0, len(lines)))
    drop = data.draw(st.integers(0, 2))
    if huge:
        insertion = insertion + "\n" + "x" * 100_000 + "\n"
    text = "".join(lines[:at]) + insertion + "".join(lines[at + drop :])
    try:
        doc = parse_epic(text)
    except EpicFormatError as exc:
        assert re.match(r"line \d+: expected ", str(exc)), str(exc)
    else:
        assert doc.render() == text


@FUZZ
@given(
    names=st.sets(st.sampled_from(["done.json", "blocked.json", "failed.json"])),
    garbage=st.binary(max_size=500),
    transcript=st.text(max_size=500),
)
def test_garbage_sentinels_never_crash_the_classifier(
    tmp_path: Path, names: set[str], garbage: bytes, transcript: str
) -> None:
    (tmp_path / ".middle").mkdir(exist_ok=True)
    for name in ("done.json", "blocked.json", "failed.json"):
        (tmp_path / ".middle" / name).unlink(missing_ok=True)
    for name in names:
        (tmp_path / ".middle" / name).write_bytes(garbage)
    stop = BaseAdapter().classify_stop(tmp_path, Signal("stop"), transcript)
    if "blocked.json" in names:
        assert stop.kind == "asked-question" and stop.question


SHELL_METACHARACTERS = set(";&|$`<>(){}[]*?!~#'\"\\ \t\n/")


@FUZZ
@given(st.text(max_size=120))
def test_a_ref_is_refused_or_carries_no_shell_or_path_syntax(ref: str) -> None:
    try:
        accepted = validate_ref(ref)
    except InvalidRefError as exc:
        assert "is not a valid ref" in str(exc)
    else:
        assert not SHELL_METACHARACTERS & set(accepted)
        assert not accepted.startswith((".", "-")) and ".." not in accepted
