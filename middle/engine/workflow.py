"""Declarative workflows: an ordered list of named nodes that plugins can edit by name.

A node is a step name, a `Wait` for a durable signal, or a `Branch` whose function of the
context picks one named path. Node names are unique across the whole workflow because each
gets one checkpoint per run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Union

from middle.engine.runs import SUBJECT_LABELS
from middle.engine.step import Step
from middle.errors import WorkflowError
from middle.store import WORKFLOW_KINDS

if TYPE_CHECKING:
    from middle.engine.context import StepContext


@dataclass(frozen=True)
class Wait:
    """Park until `signal` is delivered; fail the run if `timeout` seconds pass first.

    `state` is the workflow state while parked: a state name, or a function of the context
    that picks one (say, `rate-limited` rather than `waiting-human`).
    """

    signal: str
    timeout: float | None = None
    state: str | Callable[[StepContext], str] = "waiting-human"

    @property
    def name(self) -> str:
        return f"wait-for-{self.signal}"


@dataclass(frozen=True)
class Branch:
    """Run the path that `choose(ctx)` names; the choice is checkpointed like a step."""

    name: str
    choose: Callable[[StepContext], str]
    paths: dict[str, list[Node]] = field(default_factory=dict)


@dataclass(frozen=True)
class Loop:
    """Run `body`, then again while `again(ctx)` is true (at most `max_iterations` times).
    Checkpoints of the k-th iteration (k > 1) are named `<node>#k`. `again` is not
    checkpointed: it must decide from `ctx.results` alone, which replay restores."""

    name: str
    body: list[Node]
    again: Callable[[StepContext], bool]
    max_iterations: int = 100


Node = Union[str, Wait, Branch, Loop]  # noqa: UP007 - a runtime alias, used before 3.12's `type`
NodeLike = Union[str, Step, Wait, Branch, Loop]  # noqa: UP007


def wait_for(
    signal: str,
    timeout: float | None = None,
    *,
    state: str | Callable[[StepContext], str] = "waiting-human",
) -> Wait:
    return Wait(signal, timeout, state)


def loop(
    name: str,
    body: Iterable[NodeLike],
    again: Callable[[StepContext], bool],
    max_iterations: int = 100,
) -> Loop:
    return Loop(name, [_as_node(n) for n in body], again, max_iterations)


def node_name(node: Node) -> str:
    return node if isinstance(node, str) else node.name


def _as_node(node: NodeLike) -> Node:
    return node.name if isinstance(node, Step) else node


Subject = Callable[[Mapping[str, Any]], Mapping[str, Any]]


def subject_labels(input: Mapping[str, Any]) -> dict[str, Any]:
    """The default subject: the input's values for the subject labels it has."""
    return {label: input[label] for label in SUBJECT_LABELS if label in input}


class Workflow:
    """A named, ordered list of nodes of one `kind` (a `workflows.kind` value).

    `subject` maps a run's input to what the run is about (see `middle.engine.runs`); by
    default the input's own `repo`, `ref`, `adapter` and `source`.
    """

    def __init__(
        self,
        name: str,
        nodes: Iterable[NodeLike] = (),
        *,
        kind: str = "implementation",
        subject: Subject = subject_labels,
    ) -> None:
        if kind not in WORKFLOW_KINDS:  # the store's CHECK allows only these
            raise WorkflowError(f"workflow {name!r} has kind {kind!r}; use one of {WORKFLOW_KINDS}")
        self.name = name
        self.kind = kind
        self.subject = subject
        self.nodes: list[Node] = [_as_node(n) for n in nodes]
        self._check_unique()

    def __repr__(self) -> str:
        return f"Workflow({self.name!r}, {self.names()})"

    def names(self) -> list[str]:
        """Every node name, depth first, branch paths included."""
        return [node_name(node) for node, _ in self._walk(self.nodes)]

    def step_names(self) -> list[str]:
        """The step names only (no waits or branches), depth first."""
        return [node for node, _ in self._walk(self.nodes) if isinstance(node, str)]

    def insert_after(self, existing: str, new: NodeLike) -> None:
        siblings, index = self._locate(existing)
        siblings.insert(index + 1, _as_node(new))
        self._check_unique()

    def insert_before(self, existing: str, new: NodeLike) -> None:
        siblings, index = self._locate(existing)
        siblings.insert(index, _as_node(new))
        self._check_unique()

    def replace(self, existing: str, new: NodeLike) -> None:
        siblings, index = self._locate(existing)
        siblings[index] = _as_node(new)
        self._check_unique()

    def outline(self) -> list[str]:
        """The order as indented lines, for `middle steps`."""
        lines: list[str] = []

        def render(nodes: list[Node], depth: int) -> None:
            for node in nodes:
                pad = "  " * depth
                if isinstance(node, Loop):
                    lines.append(f"{pad}{node.name} (loop)")
                    render(node.body, depth + 1)
                elif isinstance(node, Branch):
                    lines.append(f"{pad}{node.name} (branch)")
                    for key, path in node.paths.items():
                        lines.append(f"{pad}  [{key}]")
                        render(path, depth + 2)
                elif isinstance(node, Wait):
                    timeout = f", timeout {node.timeout:g}s" if node.timeout else ""
                    lines.append(f"{pad}{node.name} (waits for signal {node.signal!r}{timeout})")
                else:
                    lines.append(f"{pad}{node}")

        render(self.nodes, 0)
        return lines

    def _walk(self, nodes: list[Node]) -> Iterator[tuple[Node, list[Node]]]:
        for node in nodes:
            yield node, nodes
            if isinstance(node, Branch):
                for path in node.paths.values():
                    yield from self._walk(path)
            elif isinstance(node, Loop):
                yield from self._walk(node.body)

    def _locate(self, name: str) -> tuple[list[Node], int]:
        for node, siblings in self._walk(self.nodes):
            if node_name(node) == name:
                return siblings, siblings.index(node)
        raise WorkflowError(
            f"workflow {self.name!r} has no step {name!r}; its steps are: "
            f"{', '.join(self.names()) or '(none)'}"
        )

    def _check_unique(self) -> None:
        seen: set[str] = set()
        for name in self.names():
            if "#" in name:
                raise WorkflowError(
                    f"workflow {self.name!r}: node name {name!r} contains '#', which middle "
                    f"reserves for loop iterations"
                )
            if name in seen:
                raise WorkflowError(
                    f"workflow {self.name!r} would have two nodes named {name!r}; each node "
                    f"needs its own name because each gets its own checkpoint"
                )
            seen.add(name)
        for node, _ in self._walk(self.nodes):
            if isinstance(node, Loop) and any(
                isinstance(inner, Loop) for inner, _ in self._walk(node.body)
            ):
                raise WorkflowError(
                    f"workflow {self.name!r}: loop {node.name!r} contains another loop; "
                    f"loops do not nest (their iterations would share checkpoint names)"
                )


def branch(
    name: str, choose: Callable[[StepContext], str], paths: Mapping[str, Iterable[NodeLike]]
) -> Branch:
    """A branch point: `choose(ctx)` returns one of `paths`' keys."""
    return Branch(name, choose, {key: [_as_node(n) for n in nodes] for key, nodes in paths.items()})
