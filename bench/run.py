"""Run every benchmark, print the JSON, and write it to bench/results.json.

python -m bench.run            # the full suite (several minutes on 2 cores)
python -m bench.run --quick    # a short variant, as CI runs it
"""

from __future__ import annotations

import json
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench import dispatch, engine, gates, github, hooks, real_agents, scale, serve_host, startup


def main() -> None:
    quick = "--quick" in sys.argv
    report = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        "quick": quick,
        "results": [
            module.run(quick)
            for module in (
                engine,
                dispatch,
                startup,
                hooks,
                scale,
                serve_host,
                gates,
                github,
                real_agents,
            )
        ],
    }
    text = json.dumps(report, indent=2)
    print(text)
    if not quick:
        (Path(__file__).parent / "results.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
