"""The dashboard under load. Prints JSON; asserts nothing about time.

- **Hook recorded → visible in an open tab**, p50/p95, with 50 live runs each sending a
  hook a second: a probe event's write time against the moment the tab's EventSource
  handler ran (`window.middleSeen[id]`, the same machine clock). The hook's earlier leg,
  `hook.sh` → row, is the scale benchmark's "row latency"; the sum is the whole path.
- **Home page** with 1,000 runs and 100,000 events: the request's time on loopback
  (median, p90), and the same page's queries alone, in process.
- **Memory** of the dashboard process (RSS) after all of that.
- **A 5,000-line diff** in the review (issue 26): a run whose branch changes 5,000 lines
  over 40 files; the inspector's first page, server side, and its size, medians: for a
  new head (git read and parsed the diff) and again (the parsed diff reused, as on a live
  refresh), in process and as a request on loopback; and every page of files.
  `--review` runs this one alone (no Chromium needed).

python -m bench.dashboard [--quick] [--review]
"""

from __future__ import annotations

import http.client
import json
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.common import git, sandbox, summary
from middle.store import create_workflow_record, open_db, record_event, write_transaction
from middle.store.records import transition_workflow

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
STATES = ["completed"] * 6 + ["failed", "cancelled", "waiting-human"]


def seed(home: Path, repo: Path, runs: int, events: int, live: int) -> list[str]:
    """`runs` workflows (the last `live` of them running), `events` events spread over them."""
    db = open_db(home / "db.sqlite3")
    ids = [f"impl-bench{n:05d}" for n in range(runs)]
    with write_transaction(db):
        for n, workflow_id in enumerate(ids):
            create_workflow_record(
                db, id=workflow_id, kind="implementation", repo=str(repo),
                epic_ref=f"epic-{n}", adapter="command", meta={"input": {}},
            )  # fmt: skip
            state = "running" if n >= runs - live else STATES[n % 9]
            transition_workflow(db, workflow_id, state, leaving="pending")
    for start in range(0, events, 5000):
        with write_transaction(db):
            for n in range(start, min(events, start + 5000)):
                record_event(db, ids[n % runs], "hook.PostToolUse", {"tool": "Edit", "n": n})
    db.close()
    return ids[-live:]


def fetch(base: str, token: str, path: str) -> float:
    """Milliseconds for one GET on a fresh loopback connection. (httpx's kept-alive
    connections add a constant ~40 ms here, a delayed-ACK artefact of the client, not
    the server: a raw socket gets /health back in under 1 ms.)"""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port))
    began = time.perf_counter()
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    response.read()
    elapsed = (time.perf_counter() - began) * 1000
    connection.close()
    assert response.status == 200, (path, response.status)
    return elapsed


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def run(quick: bool = False) -> dict[str, Any]:
    runs, events, live = (1000, 100_000, 50)
    probes = 40 if quick else 200
    with sandbox() as box:
        started = time.perf_counter()
        live_ids = seed(box.home, box.repo, runs, events, live)
        seeded = round(time.perf_counter() - started, 1)
        server = subprocess.Popen(
            [sys.executable, "-m", "middle", "dashboard", "--port", "0"],
            stdout=subprocess.PIPE, text=True, cwd=box.root,
        )  # fmt: skip
        assert server.stdout is not None
        url = server.stdout.readline().split(": ", 1)[1].strip()
        base, _, token = url.partition("/?token=")
        try:
            fetch(base, token, "/")  # warm: templates compiled, connections opened
            home_ms = [fetch(base, token, "/") for _ in range(10 if quick else 30)]
            runs_ms = [fetch(base, token, f"/runs?page={page}") for page in range(1, 11)]
            latency = _tab_latency(box.home, url, live_ids, probes)
            memory = rss_mib(server.pid)
        finally:
            server.terminate()
            server.wait()
            server.stdout.close()
    return {
        "benchmark": "dashboard",
        "review_diff": review_diff(quick),
        "runs": runs,
        "events": events,
        "seed_seconds": seeded,
        "home_page_ms": summary(home_ms),
        "home_target_ms": 100,
        "runs_page_ms": summary(runs_ms),
        "hook_to_tab_ms": latency,
        "hook_to_tab_target_p95_ms": 250,
        "dashboard_rss_mib": memory,
    }


def _tab_latency(home: Path, url: str, live_ids: list[str], probes: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    stop = threading.Event()

    def background_hooks() -> None:  # 50 live runs, a hook a second each
        db = open_db(home / "db.sqlite3")
        while not stop.is_set():
            for workflow_id in live_ids:
                record_event(db, workflow_id, "hook.Notification", {"message": "working"})
                if stop.wait(1 / len(live_ids)):
                    break
        db.close()

    traffic = threading.Thread(target=background_hooks, daemon=True)
    traffic.start()
    db = open_db(home / "db.sqlite3")
    latencies = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            tab = browser.new_page()
            tab.goto(url)
            tab.wait_for_function("document.body.dataset.sse === 'open'")
            for _ in range(probes):
                sent = time.time() * 1000
                record_event(db, random.choice(live_ids), "hook.Stop", {"probe": True})
                probe_id = db.execute(
                    "SELECT max(id) FROM events WHERE type = 'hook.Stop'"
                ).fetchone()[0]
                seen = tab.wait_for_function(f"window.middleSeen[{probe_id}]").json_value()
                latencies.append(float(seen) - sent)
                time.sleep(0.05)  # let the page's refresh settle between probes
            browser.close()
    finally:
        stop.set()
        traffic.join()
        db.close()
    return summary(latencies) | {"p95": round(sorted(latencies)[int(0.95 * len(latencies)) - 1], 1)}


DIFF_FILES, DIFF_LINES = 40, 5000


def seed_review(home: Path, repo: Path) -> str:
    """A run parked on branch `middle/issue-big`, whose diff against main holds DIFF_LINES
    changed lines: half the files new, half with every other line rewritten (with the
    context git gives around each)."""
    half = DIFF_FILES // 2
    new_lines, old_lines = 3 * DIFF_LINES // 5 // half, 2 * DIFF_LINES // 5 // half
    for n in range(half):
        (repo / f"old_{n}.py").write_text("".join(f"value_{i} = {i}\n" for i in range(old_lines)))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base files")
    git(repo, "checkout", "-q", "-b", "middle/issue-big")
    for n in range(half):
        new = [f"added_{i} = '<b>{i}</b>'\n" for i in range(new_lines)]
        (repo / f"new_{n}.py").write_text("".join(new))
        old = [f"value_{i} = {i + 1000 if i % 2 else i}\n" for i in range(old_lines)]
        (repo / f"old_{n}.py").write_text("".join(old))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the agent's work")
    git(repo, "checkout", "-q", "main")
    db = open_db(home / "db.sqlite3")
    create_workflow_record(
        db, id="impl-review", kind="implementation", repo=str(repo), epic_ref="big",
        adapter="command", meta={"input": {"base": "main"}},
    )  # fmt: skip
    transition_workflow(db, "impl-review", "waiting-human", leaving="pending")
    db.close()
    return "impl-review"


def review_diff(quick: bool = False) -> dict[str, Any]:
    from starlette.testclient import TestClient

    from middle.dashboard.app import create_app
    from middle.dashboard.review import _parsed, review_view
    from middle.system.branch_diff import branch_diff
    from middle.system.diff import parse_diff

    rounds = 5 if quick else 20
    with sandbox() as box:
        workflow_id = seed_review(box.home, box.repo)
        files = parse_diff(branch_diff(box.repo, "main", "middle/issue-big").text)
        changed = sum(f.additions + f.deletions for f in files)
        client = TestClient(create_app("bench", box.home))
        client.get("/?token=bench")
        path = f"/runs/{workflow_id}"
        client.get(path)  # warm: templates compiled
        in_process, cold, sizes = [], [], []
        for _ in range(rounds):
            began = time.perf_counter()
            response = client.get(path)
            in_process.append((time.perf_counter() - began) * 1000)
            sizes.append(len(response.content))
            _parsed.cache_clear()  # the diff read and parsed again, as for a new head
            began = time.perf_counter()
            client.get(path)
            cold.append((time.perf_counter() - began) * 1000)
        db = open_db(box.home / "db.sqlite3")
        row = db["workflows"].get(workflow_id)
        pages = review_view(db, row)["pages"]
        every_page = []
        for page in range(1, pages + 1):
            began = time.perf_counter()
            assert client.get(f"{path}?page={page}").status_code == 200
            every_page.append((time.perf_counter() - began) * 1000)
        db.close()
        server = subprocess.Popen(
            [sys.executable, "-m", "middle", "dashboard", "--port", "0"],
            stdout=subprocess.PIPE, text=True, cwd=box.root,
        )  # fmt: skip
        assert server.stdout is not None
        url = server.stdout.readline().split(": ", 1)[1].strip()
        base, _, token = url.partition("/?token=")
        try:
            fetch(base, token, path)
            loopback = [fetch(base, token, path) for _ in range(rounds)]
        finally:
            server.terminate()
            server.wait()
            server.stdout.close()
    return {
        "files": len(files),
        "changed_lines": changed,
        "pages": pages,
        "first_page_new_head_ms": summary(cold),
        "first_page_in_process_ms": summary(in_process),
        "first_page_loopback_ms": summary(loopback),
        "first_page_kib": round(sorted(sizes)[len(sizes) // 2] / 1024, 1),
        "every_page_ms": summary(every_page),
        "target_ms": 300,
    }


if __name__ == "__main__":
    if "--review" in sys.argv:
        print(json.dumps(review_diff("--quick" in sys.argv), indent=2))
    else:
        print(json.dumps(run("--quick" in sys.argv), indent=2))
