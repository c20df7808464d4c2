"""Every error a user can cause, rooted at `MiddleError`.

Tasks catch `MiddleError` only: they print its message as one line and exit 1. Anything
else is a bug and keeps its traceback. Each message names the thing, the value and the fix.

    MiddleError
    ├── ConfigError              a config or policy file that cannot be used
    ├── RepoError                a --repo that is not a usable repository
    ├── InvalidRefError          an issue ref outside [A-Za-z0-9][A-Za-z0-9._-]{0,99}
    ├── EpicError                an issue or Epic that cannot be dispatched
    │   ├── EpicFormatError      a malformed Epic file (names the line)
    │   ├── EpicBlockedError     an Epic with open blockers (names them)
    │   └── UnknownEpicError     no issue or Epic with that ref
    ├── StateIssueError          a state issue body that is not format v1 (names the line)
    ├── GitError                 a git command failed (carries git's own message)
    │   └── BranchMovedError     a branch to push holds commits middle did not see
    ├── GitHubError              a gh command failed (carries gh's own message)
    ├── AgentError               the agent CLI could not be launched or driven
    ├── StoreError               the database cannot be used as it is
    │   ├── AlreadyInFlight      a second live implementation for one (repo, ref)
    │   ├── DatabaseBusyError    another process kept the database locked too long
    │   └── DiskFullError        the disk is full (temporary: nothing is corrupt)
    ├── NothingParkedError       answer/review/resume/cancel for a run not waiting for it
    ├── RunMovedOnError          a request made for a state the run has left
    ├── RepoPausedError          dispatch is paused for the repository
    ├── SlotsFullError           every slot that max_concurrent allows is taken
    ├── RateLimitedError         the adapter's usage limit has not reset yet
    ├── ServeAlreadyRunningError another `middle serve` owns this MIDDLE_HOME
    ├── ServiceError             start, stop or service install could not do as asked
    ├── DocsError                the documentation workflow could not run or finish
    ├── StateFormatError         a state bundle that cannot be read or imported
    ├── StateRaceError           another job wrote the state ref first
    ├── EventError               a CI event file that cannot be read or lacks its fields
    ├── RemoteBindError          a dashboard --host beyond loopback without --allow-remote
    ├── PluginError              a plugin could not be loaded or registered
    │   └── DuplicateStepError   two steps share a name (names both origins)
    └── WorkflowError            a workflow cannot run as asked
        ├── UnknownStepError     a workflow names a step nobody registered
        ├── UnknownWorkflowError a name or id that matches no workflow
        ├── WorkflowChangedError recorded checkpoints disagree with the definition
        ├── WorkflowBusyError    another process is running that workflow now
        ├── StepOutputError      a step returned something that is not JSON
        └── SignalTimeoutError   a wait's deadline passed without its signal

`WorkflowCancelled` and `RunDetached` are deliberately *not* a `MiddleError`, nor an
`Exception`: like `asyncio.CancelledError` they derive from `BaseException`, so a step's
`except Exception` cannot swallow a cancellation, or a driver letting go, by accident.
"""

from __future__ import annotations

# What `json.loads` raises on text middle did not write (a hook's payload, an agent's log
# or JSON-RPC line, GitHub's answers, an event file): `ValueError` for text that is not
# JSON and for JSON Python will not read (an integer past 4,300 digits), `RecursionError`
# for nesting deeper than the interpreter's stack. Catch both, or such text crashes
# whoever reads it.
UNREADABLE_JSON = (ValueError, RecursionError)


class MiddleError(Exception):
    """Something the user can fix; its message says what and how."""


class ConfigError(MiddleError):
    """A config or policy file that cannot be used."""


class RepoError(MiddleError):
    """A `--repo` path that middle cannot work in."""


class InvalidRefError(MiddleError):
    """An issue ref that is not a GitHub number or an Epic slug."""


class EpicError(MiddleError):
    """An issue or Epic that cannot be dispatched as it is."""


class EpicFormatError(EpicError):
    """A malformed Epic file; the message names the line and what was expected."""


class EpicBlockedError(EpicError):
    """An Epic that waits on others still open; `--force` dispatches it anyway."""


class UnknownEpicError(EpicError):
    """No issue or Epic has that ref."""


class StateIssueError(MiddleError):
    """A state issue body that is not format v1; the message names the line and what was
    expected. A body that raises this is never overwritten."""


class GitError(MiddleError):
    """A git command failed; the message is git's own."""


class BranchMovedError(GitError):
    """The branch on the remote moved since middle last saw it (someone pushed to it):
    middle's push would overwrite commits it never saw, so it is refused."""


class GitHubError(MiddleError):
    """A gh command failed; the message is gh's own."""


class AgentError(MiddleError):
    """The agent CLI could not be launched or driven."""


class StoreError(MiddleError):
    """The database cannot be used as it is."""


class AlreadyInFlight(StoreError):
    """A live implementation workflow already exists for this (repo, ref)."""


class DatabaseBusyError(StoreError):
    """Another process held the database's write lock for longer than middle waits (a
    process driving a run waits for as long as it takes)."""


class DiskFullError(StoreError):
    """The disk holding the database is full: free space and retry; nothing is lost."""


class PluginError(MiddleError):
    """A plugin could not be loaded or registered."""


class DuplicateStepError(PluginError):
    """Two steps were registered under one name."""


class WorkflowError(MiddleError):
    """A workflow cannot run as asked."""


class UnknownStepError(WorkflowError):
    """A workflow refers to a step that no plugin registered."""


class UnknownWorkflowError(WorkflowError):
    """A workflow name or id that matches nothing."""


class WorkflowChangedError(WorkflowError):
    """A run's recorded checkpoints disagree with the current workflow definition."""


class WorkflowBusyError(WorkflowError):
    """Another process holds the workflow's run lock."""


class StepOutputError(WorkflowError):
    """A step returned a value that cannot be checkpointed as JSON."""


class SignalTimeoutError(WorkflowError):
    """A wait's deadline passed before its signal arrived."""


class WorkflowCancelled(BaseException):
    """Raised inside a running step when its workflow has been cancelled."""


class RunDetached(BaseException):
    """Raised in the process driving a run when it lets go of the run (a SIGINT or SIGTERM
    to a foreground command): the drive unwinds without failing, compensating or
    checkpointing anything, and its lock is released. The run stays live with no driver,
    as after a SIGKILL; the agent keeps working; `middle resume` adopts it.

    `signal` names what asked (`SIGINT`); `workflow_id` is the run that was being driven,
    filled in by the runner that held it (None if the signal came before or after).
    """

    def __init__(self, signal: str, workflow_id: str | None = None) -> None:
        super().__init__(signal)
        self.signal = signal
        self.workflow_id = workflow_id


# -- refusals of the use cases (middle/app, middle/steps, middle/dashboard) --------------


class NothingParkedError(MiddleError):
    """`answer` or `review` for an issue that is not waiting for one."""


class StateRaceError(MiddleError):
    """Another job wrote the state ref since this one read it."""


class EventError(MiddleError):
    """A GitHub Actions event file that cannot be read, or that lacks what its event
    always carries."""


class StateFormatError(MiddleError):
    """A state bundle middle cannot read or import: not one, from a newer middle, or
    clashing with a live run of the same issue."""


class RepoPausedError(MiddleError):
    """Dispatch is paused for the repository."""


class RunMovedOnError(MiddleError):
    """The run is no longer in the state the request was made for."""


class ServeAlreadyRunningError(MiddleError):
    """Another `middle serve` owns this MIDDLE_HOME."""


class DocsError(MiddleError):
    """`middle docs` could not run (one is running for the repo already) or finish (the
    agent gave up or asked, its report is missing, or the gates still fail)."""


class ServiceError(MiddleError):
    """`middle start`, `stop` or `service install` could not do as asked. `log_tail` is
    what a serve that died during start-up last wrote, for the user to read."""

    def __init__(self, message: str, log_tail: str = "") -> None:
        super().__init__(message)
        self.log_tail = log_tail


class SlotsFullError(MiddleError):
    """Every agent slot allowed by max_concurrent is taken."""


class RateLimitedError(MiddleError):
    """The adapter hit its usage limit and has not reset yet."""


class RemoteBindError(MiddleError):
    """A non-loopback --host without --allow-remote."""
