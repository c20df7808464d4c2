"""`/metrics`: Prometheus' text format through the official client, read from the store at
scrape time (a custom collector on a registry of the app's own, so no global state)."""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlite_utils import Database

from middle.store import (
    WORKFLOW_STATES,
    active_rate_limit,
    counts_by_state,
    list_rate_limits,
    recent_hook_deliveries,
    slots_in_use,
    step_totals,
)


def hook_latencies(db: Database) -> list[float]:
    """Seconds from hook.sh writing its spool file (its name starts with the nanosecond
    clock) to the event being recorded, for the newest deliveries."""
    out = []
    for delivery, recorded_at in recent_hook_deliveries(db):
        stamp = delivery.split("-", 1)[0]
        if stamp.isdigit():
            sent = int(stamp) / 1e9
            out.append(max(0.0, datetime.fromisoformat(recorded_at).timestamp() - sent))
    return out


class StoreCollector(Collector):
    def __init__(self, open_db: Callable[[], Database], clients: Callable[[], int]) -> None:
        self.open_db = open_db
        self.clients = clients

    def collect(self) -> Iterator[Metric]:
        db = self.open_db()
        runs = GaugeMetricFamily("middle_runs", "Workflows by state", labels=["state"])
        counts = counts_by_state(db)
        for state in WORKFLOW_STATES:
            runs.add_metric([state], counts.get(state, 0))
        yield runs
        attempts = CounterMetricFamily(
            "middle_step_attempts", "Step attempts, by step", labels=["step"]
        )
        failures = CounterMetricFamily(
            "middle_step_failures", "Step checkpoints that failed, by step", labels=["step"]
        )
        for row in step_totals(db):
            attempts.add_metric([row["step"]], row["attempts"] or 0)
            failures.add_metric([row["step"]], row["failed"] or 0)
        yield attempts
        yield failures
        slots = GaugeMetricFamily("middle_slots_in_use", "Agent slots held", labels=["repo"])
        for repo, count in slots_in_use(db).items():
            slots.add_metric([repo], count)
        yield slots
        limited = GaugeMetricFamily(
            "middle_rate_limited", "1 while the adapter is rate-limited", labels=["adapter"]
        )
        for limit in list_rate_limits(db):
            limited.add_metric(
                [limit["adapter"]], 1 if active_rate_limit(db, limit["adapter"]) else 0
            )
        yield limited
        latency = GaugeMetricFamily(
            "middle_hook_latency_seconds",
            "Hook written to event recorded, over the newest 1,000 hooks",
            labels=["quantile"],
        )
        samples = sorted(hook_latencies(db))
        if samples:
            latency.add_metric(["0.5"], statistics.median(samples))
            latency.add_metric(["0.95"], samples[min(len(samples) - 1, int(len(samples) * 0.95))])
        yield latency
        yield GaugeMetricFamily(
            "middle_dashboard_sse_clients", "Open live-update streams", value=self.clients()
        )


def build_registry(
    open_db: Callable[[], Database], clients: Callable[[], int]
) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(open_db, clients))
    return registry
