"""Render a `StateIssue` to its v1 body: the one canonical layout the parser accepts.

Layout: the opening marker, the two metadata comments, a blank line, then each section as
`## Name`, a blank line, its lines and a blank line when it has any, then the dispatcher
tick lines that stood after it (ticks after the metadata come before the first section),
each gap written as it was read, blank lines included; then the closing marker.
Render writes the model as it is: v1 as the reference reads it comes from the values
(`v1_interval`, `v1_rate_limits`), so that every body `parse` accepts renders back.
`before` and `after` are written as they were read.
"""

from __future__ import annotations

from middle.state_issue.model import (
    CLOSE_MARKER,
    IN_FLIGHT_EMPTY,
    OPEN_MARKER,
    READY_EMPTY,
    READY_HEADER,
    READY_RULE,
    SECTIONS,
    TITLE_LIMIT,
    StateIssue,
)


def render(state: StateIssue) -> str:
    lines = [
        OPEN_MARKER,
        f"<!-- generated: {state.generated} · run: {state.run_id} · interval: {state.interval} -->",
        f"<!-- owners: recommender={state.owners[0]}, dispatcher={state.owners[1]} -->",
        "",
    ]
    lines += [line for at, line in state.ticks if at == -1]
    for index, name in enumerate(SECTIONS):
        body = section_lines(state, name)
        lines += [f"## {name}", ""]
        if body:
            lines += [*body, ""]
        lines += [line for at, line in state.ticks if at == index]
    lines.append(CLOSE_MARKER)
    return state.before + state.newline.join(lines) + state.after


def section_lines(state: StateIssue, name: str) -> list[str]:
    """The lines of one section's body, without its heading or blank lines."""
    placeholder = state.placeholder(name)
    if name == "Ready to dispatch":
        rows = [
            f"| {r.rank} | #{r.ref} {r.title} | {r.adapter} | {r.sub_issues} | {r.reason} |"
            for r in state.ready
        ]
        return [READY_HEADER, READY_RULE, *(rows or [READY_EMPTY])]
    if name == "Needs human input":
        items = [
            f"- **#{n.ref} {n.label}** — {n.summary} · [link]({n.link})" for n in state.needs_human
        ]
    elif name == "Blocked":
        items = [
            f"- **#{b.ref}** waiting on {b.blocker.text()} · {b.context}" for b in state.blocked
        ]
    elif name == "In-flight":
        items = [
            f"- **#{f.ref}** · {f.adapter} · {f.progress} · last heartbeat {f.heartbeat} · "
            f"[tmux: {f.session}]"
            for f in state.in_flight
        ]
        if not items and placeholder is None:
            return [IN_FLIGHT_EMPTY]
    elif name == "Excluded":
        items = [f"- **#{e.ref}** {e.category} — {e.detail}" for e in state.excluded]
    elif name == "Rate limits":
        items = [f"- {r.name}: {r.status}" for r in state.rate_limits]
    else:
        slots = state.slots
        items = [f"- {name}: {used}/{most}" for name, used, most in slots.adapters]
        items += [
            f"- total: {slots.total[0]}/{slots.total[1]}",
            f"- global: {slots.global_[0]}/{slots.global_[1]}",
        ]
    if not items and placeholder is not None:
        return list(placeholder)
    return items


def cut_title(title: str) -> str:
    """`title` on one line, cut to the v1 limit with `…`."""
    title = " ".join(title.split()).replace("|", "/")
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"
