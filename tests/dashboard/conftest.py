"""The dashboard sandbox: the e2e sandbox (real git, tmux, stand-in agent, CLI), a real
`middle dashboard` process on a free port, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Sandbox, sandbox  # noqa: F401  (re-exported fixture)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
DOCS = Path(__file__).resolve().parents[2] / "docs"


@dataclass
class Dashboard:
    url: str  # with the token
    base: str
    token: str
    process: subprocess.Popen[str]


def start_dashboard(cwd: Path, log: Path, *extra: str) -> Dashboard:
    """`middle dashboard --port 0`, its stderr in `log` (shown if a test fails)."""
    with log.open("a") as errors:
        process = subprocess.Popen(
            [sys.executable, "-m", "middle", "dashboard", "--port", "0", *extra],
            cwd=cwd, stdout=subprocess.PIPE, stderr=errors, text=True, env=dict(os.environ),
        )  # fmt: skip
    assert process.stdout is not None
    line = process.stdout.readline()  # the URL line: the server is listening by then
    assert "middle dashboard: http://" in line, log.read_text()
    url = line.split(": ", 1)[1].strip()
    base, _, token = url.partition("/?token=")
    return Dashboard(url, base, token, process)


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    if process.stdout is not None:
        process.stdout.close()


@pytest.fixture
def dashboard(sandbox: Sandbox) -> Iterator[Dashboard]:  # noqa: F811
    """The dashboard's spawned `middle answer` etc. inherit its environment, so the
    stand-in's command (the same for every script of this sandbox) is set before it starts;
    a test's own `sandbox.script(...)` then only rewrites the script file."""
    sandbox.script()
    log = sandbox.root / "dashboard.log"
    running = start_dashboard(sandbox.repo, log)
    yield running
    stop(running.process)
    print(log.read_text())  # pytest shows it when the test failed


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where the browser tests save their screenshots: the README's `docs/` only when asked
    (`MIDDLE_UPDATE_SCREENSHOTS=1`), so a test run leaves the checkout as it found it."""
    return DOCS if os.environ.get("MIDDLE_UPDATE_SCREENSHOTS") == "1" else tmp_path


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    # Playwright's 5 s for an `expect` is short for a page waiting on server work (git,
    # the fake gh) on a loaded CI machine; it only bounds how long a failure takes to say so
    expect.set_options(timeout=20_000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: object, dashboard: Dashboard) -> Iterator[object]:
    """A fresh browser context logged in through the printed URL, with every dialog and
    console error recorded on `page.alerts` / `page.errors` (the XSS tests read them)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    tab = context.new_page()
    tab.alerts = []
    tab.errors = []
    tab.on("dialog", lambda dialog: (tab.alerts.append(dialog.message), dialog.dismiss()))
    tab.on("pageerror", lambda error: tab.errors.append(str(error)))
    tab.goto(dashboard.url)
    tab.wait_for_function("document.body.dataset.sse === 'open'")
    yield tab
    context.close()
