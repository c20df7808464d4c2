"""`middle init --ci`: the GitHub Actions workflow that makes each issue a job.

The file starts with a marker holding the sha256 of what middle wrote below it. A later
`init --ci` rewrites the file only while that hash still matches (nobody edited it), so an
upgrade reaches untouched files and a file the user changed is never clobbered.

The workflow's shape (see the template for the details):

- `route`: for every event but the schedule, the `if:` guards (a label; a comment or
  review by an OWNER, MEMBER or COLLABORATOR; a review on a same-repository `middle/issue-N`
  branch; a dispatch), then `middle ci-route`, which checks the labeller's write access
  with GitHub and names the issue. Read-only.
- `issue`: one job per issue, in the concurrency group `middle-issue-<n>` (queued behind,
  never cancelling, a running one), running `middle ci-job`.
- `sweep`: on the schedule, `middle ci-job` picks up queued and parked runs.

Each job installs exactly this project at this version (`DISTRIBUTION==__version__`),
or what the repository's `[ci] install` names (a pip requirement: a VCS URL, a fork).

No step holds logic or an `${{ }}` expression in a shell line: event data reaches middle
through `$GITHUB_EVENT_PATH`, never through the shell. No `pull_request_target`.
"""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from pathlib import Path
from typing import Any

from middle import __version__
from middle.agents import ClaudeAdapter
from middle.config import load_config, middle_home

# This project's name on PyPI (pyproject's `[project] name`; `middle` there is another
# project). The import name and the `middle` command are `middle`.
DISTRIBUTION = "middle-management"
WORKFLOW_PATH = Path(".github") / "workflows" / "middle.yml"
# The Claude Code version middle's test suite ran (the CI pin; a test keeps them equal).
CLAUDE_CODE_VERSION = ClaudeAdapter.tested_versions[1] if ClaudeAdapter.tested_versions else ""
CHECKOUT = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2"
SETUP_PYTHON = "actions/setup-python@a26af69be951a213d495a4c3e4e4022e16d87065  # v5.6.0"
UPLOAD_ARTIFACT = "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02  # v4.6.2"
_MARKER = re.compile(r"^# middle init --ci wrote this file \(sha256 ([0-9a-f]{64})\)")

TRUSTED = """contains(fromJSON('["OWNER", "MEMBER", "COLLABORATOR"]'), {})"""

SETUP = f"""\
      - uses: {CHECKOUT}
        with:
          ref: ${{{{ github.event.repository.default_branch }}}}  # never a PR's code
          fetch-depth: 0
          persist-credentials: false
      - uses: {SETUP_PYTHON}
        with:
          python-version: "3.12"
      - name: Install middle
        run: {{install}}
"""

# What the issue job and the sweep share: middle and the agent CLI installed, and the
# environment middle runs in.
AGENT_SETUP = f"""\
{SETUP}      - name: Install the agent CLI
        run: npm install --global "@anthropic-ai/claude-code@{CLAUDE_CODE_VERSION}"
      - name: Install tmux
        run: sudo apt-get update && sudo apt-get install --yes --no-install-recommends tmux
"""
WRITE_PERMISSIONS = """\
    permissions:
      contents: write  # push the agent's branch and the refs/middle/ state
      issues: write  # the agent's questions and middle's status comment
      pull-requests: write  # middle opens the agent's pull request
"""
JOB_ENV = """\
        env:
          GH_TOKEN: ${{ github.token }}
          ANTHROPIC_API_KEY: ${{ secrets.ANTHROPIC_API_KEY }}
          MIDDLE_HOME: ${{ runner.temp }}/middle-home
"""

TEMPLATE = f"""\
name: middle

on:
  issues:
    types: [labeled]
  # Guarded below (members only, issues only) and no untrusted code is checked out:
  issue_comment:  # zizmor: ignore[dangerous-triggers]
    types: [created]
  pull_request_review:
    types: [submitted]
  workflow_dispatch:
    inputs:
      issue:
        description: The issue number for middle to work on
        required: true
        type: string
  schedule:
    - cron: "23 * * * *"  # the sweep: queued issues, usage limits that reset, missed events

permissions: {{}}

jobs:
  route:
    name: Who asked, about which issue
    if: >-
      (github.event_name == 'issues' && github.event.label.name == 'approved')
      || (github.event_name == 'issue_comment' && !github.event.issue.pull_request
          && {TRUSTED.format("github.event.comment.author_association")})
      || (github.event_name == 'pull_request_review'
          && github.event.pull_request.head.repo.full_name == github.repository
          && (startsWith(github.event.pull_request.head.ref, 'middle/issue-')
              || startsWith(github.event.pull_request.head.ref, 'middle/epic-'))
          && {TRUSTED.format("github.event.review.author_association")})
      || github.event_name == 'workflow_dispatch'
    runs-on: ubuntu-latest
    timeout-minutes: 10
    permissions:
      contents: read  # the checkout; the labeller's access is public metadata
    outputs:
      issue: ${{{{ steps.route.outputs.issue }}}}
    steps:
{SETUP}      - name: Check who asked, and name the issue
        id: route
        run: middle ci-route
        env:
          GH_TOKEN: ${{{{ github.token }}}}

  issue:
    name: middle on the issue
    needs: route
    if: needs.route.outputs.issue != ''
    runs-on: ubuntu-latest
    timeout-minutes: 360
    concurrency:
      group: middle-issue-${{{{ needs.route.outputs.issue }}}}
      cancel-in-progress: false
{WRITE_PERMISSIONS}    steps:
{AGENT_SETUP}      - name: Run middle for the issue
        run: middle ci-job --artifacts "$RUNNER_TEMP/middle-artifacts"
{JOB_ENV}      - uses: {UPLOAD_ARTIFACT}
        if: always()
        with:
          name: middle-issue-${{{{ needs.route.outputs.issue }}}}-${{{{ github.run_attempt }}}}
          path: ${{{{ runner.temp }}}}/middle-artifacts
          if-no-files-found: ignore

  sweep:
    name: middle sweep
    if: github.event_name == 'schedule'
    runs-on: ubuntu-latest
    timeout-minutes: 360
    concurrency:
      group: middle-sweep
      cancel-in-progress: false
{WRITE_PERMISSIONS}    steps:
{AGENT_SETUP}      - name: Sweep queued and parked issues
        run: middle ci-job --artifacts "$RUNNER_TEMP/middle-artifacts"
{JOB_ENV}      - uses: {UPLOAD_ARTIFACT}
        if: always()
        with:
          name: middle-sweep-${{{{ github.run_attempt }}}}
          path: ${{{{ runner.temp }}}}/middle-artifacts
          if-no-files-found: ignore
"""


def install_requirement(config: dict[str, Any] | None = None) -> str:
    """What each job gives pip: `[ci] install` if the repository sets it, else exactly
    this project at this version."""
    chosen = ((config or {}).get("ci") or {}).get("install")
    return str(chosen) if chosen else f"{DISTRIBUTION}=={__version__}"


def body(requirement: str) -> str:
    """The workflow below the marker. The install line is one YAML string (JSON's
    double-quoted form), and pip gets the requirement as one shell word."""
    install = json.dumps(f"python -m pip install {shlex.quote(requirement)}")
    return TEMPLATE.replace("{install}", install)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def render(requirement: str | None = None) -> str:
    """The whole file: the marker, a note for people, then the workflow."""
    text = body(requirement or install_requirement())
    return (
        f"# middle init --ci wrote this file (sha256 {digest(text)}).\n"
        "# Edit it freely: once it differs from what middle wrote, middle leaves it alone.\n" + text
    )


def write_workflow(root: Path) -> str | None:
    """Write or upgrade the workflow for the repository's config; return what changed, or
    None if nothing did.

    Raises nothing for a file the user edited: it is left as it is, and the returned line
    says so.
    """
    path = root / WORKFLOW_PATH
    wanted = render(install_requirement(load_config(middle_home(), root)))
    if path.exists():
        text = path.read_text()
        if text == wanted:
            return None
        first, _, rest = text.partition("\n")
        match = _MARKER.match(first)
        body = rest.partition("\n")[2]
        if match is None or digest(body) != match[1]:
            return (
                f"left {WORKFLOW_PATH} as it is: it was changed by hand (delete it to have "
                f"middle write it again)"
            )
        path.write_text(wanted)
        return f"upgraded {WORKFLOW_PATH}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(wanted)
    return f"wrote {WORKFLOW_PATH}"
