"""`middle audit-issues`: audit an issue's acceptance criteria before it is built.

The criteria come from the issue store (an Epic's `## Acceptance criteria`, or a GitHub
issue body read as a PR body is) or from a local body file; the gates the rubric knows
are the ones committed on the repo's base branch. The rubric is `verify/audit.py`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from middle.app.repo import base_branch, resolve_repo
from middle.app.runtime import Runtime
from middle.errors import ConfigError, RepoError
from middle.issues.labels import HOLD_LABELS
from middle.refs import validate_ref
from middle.system import git
from middle.verify.audit import Audit, audit
from middle.verify.evidence import criteria_in_body
from middle.verify.gates import Gate, load_gates

NEEDS_DESIGN = HOLD_LABELS[0]


@dataclass(frozen=True)
class AuditOutcome:
    subject: str  # what was audited, for the heading: `#12`, a slug, a file
    audit: Audit
    labelled: str | None = None  # the label added, when `--label` added one


def audit_issue(
    repo: str, *, issue: str | None = None, body_file: str | None = None, label: bool = False
) -> AuditOutcome:
    """Audit one issue (`issue`, by ref) or a draft body (`body_file`); with `label`, a
    flagged issue gets `needs-design` through its store."""
    if bool(issue) == bool(body_file):
        raise ConfigError("give one of --issue REF or --body-file FILE")
    if label and body_file:
        raise ConfigError("--label needs --issue: a body file has no issue to label")
    if body_file:
        path = Path(body_file).expanduser()
        try:
            body = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RepoError(f"--body-file {body_file}: cannot read it ({exc})") from exc
        where = resolve_repo(repo)
        try:  # a draft needs no repo: outside one, the rubric knows no gates
            root: Path | None = git.repo_root(where)
        except RepoError:
            root = None
        gates = _gates(root, None) if root is not None else []
        return AuditOutcome(body_file, audit(criteria_in_body(body), body=body, gates=gates))
    assert issue is not None
    validate_ref(issue)
    runtime = Runtime(git.repo_root(resolve_repo(repo)))
    store = runtime.issues
    loaded = store.load(issue)
    criteria = store.acceptance_criteria(loaded)
    found = audit(criteria, body=loaded.context, gates=_gates(runtime.root, runtime))
    labelled = None
    if label and not found.ok:
        store.add_label(issue, NEEDS_DESIGN)
        labelled = NEEDS_DESIGN
    return AuditOutcome(issue, found, labelled)


def _gates(root: Path, runtime: Runtime | None) -> list[Gate]:
    """The gates on the base branch (`[repo] default_branch`, else the checked-out one)."""
    config = (runtime or Runtime(root)).config
    return load_gates(root, base_branch(config, root))
