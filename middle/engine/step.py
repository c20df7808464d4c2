"""Steps: small functions of a `StepContext`, each with its own tenacity retry policy.

Policies are tenacity's own strategy objects, so they compose with its operators
(`stop_after_attempt(5) | stop_after_delay(60)`, `wait_fixed(1) + wait_random(0, 1)`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, overload

from tenacity import (
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    stop_all,
    stop_any,
    stop_never,
    wait_combine,
    wait_exponential,
    wait_exponential_jitter,
    wait_fixed,
    wait_none,
    wait_random,
    wait_random_exponential,
)
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

if TYPE_CHECKING:
    from middle.engine.context import StepContext

StepFunction = Callable[["StepContext"], Any]
Compensation = Callable[["StepContext"], None]

DEFAULT_STOP: stop_base = stop_after_attempt(3)
DEFAULT_WAIT: wait_base = wait_exponential_jitter(initial=1, max=30, jitter=1)
DEFAULT_RETRY: retry_base = retry_if_exception_type(Exception)


@dataclass(frozen=True)
class Step:
    """A named step and its policy. Calling it runs the function once, without retries."""

    name: str
    fn: StepFunction
    stop: stop_base = DEFAULT_STOP
    wait: wait_base = DEFAULT_WAIT
    retry: retry_base = DEFAULT_RETRY
    compensate: Compensation | None = None

    def __call__(self, ctx: StepContext) -> Any:
        return self.fn(ctx)

    @property
    def policy(self) -> str:
        """The retry policy in words, e.g. "3 attempts, exponential backoff with jitter"."""
        attempts = describe_stop(self.stop)
        if attempts == "1 attempt, no retry":
            return attempts
        return f"{attempts}, {describe_wait(self.wait)}"


@overload
def step(name: StepFunction, /) -> Step: ...


@overload
def step(
    name: str | None = None,
    *,
    stop: stop_base = ...,
    wait: wait_base = ...,
    retry: retry_base = ...,
    compensate: Compensation | None = ...,
) -> Callable[[StepFunction], Step]: ...


def step(
    name: str | StepFunction | None = None,
    *,
    stop: stop_base = DEFAULT_STOP,
    wait: wait_base = DEFAULT_WAIT,
    retry: retry_base = DEFAULT_RETRY,
    compensate: Compensation | None = None,
) -> Step | Callable[[StepFunction], Step]:
    """Declare a step, bare (`@step`) or with options (`@step("name", stop=...)`, or
    `@step(name="name", ...)` as pytest's and invoke's decorators allow).

    The name defaults to the function's name in kebab-case. The defaults are 3 attempts,
    exponential backoff with jitter capped at 30 s, retry on any `Exception`, and the real
    last exception re-raised when attempts run out (never tenacity's `RetryError`).
    `stop_after_attempt(1)` means a single attempt and no retry.
    """

    def build(fn: StepFunction) -> Step:
        step_name = name if isinstance(name, str) else fn.__name__.replace("_", "-")
        return Step(step_name, fn, stop=stop, wait=wait, retry=retry, compensate=compensate)

    if callable(name):
        return build(name)
    return build


def describe_stop(stop: object) -> str:
    if isinstance(stop, stop_after_attempt):
        n = stop.max_attempt_number
        return "1 attempt, no retry" if n == 1 else f"{n} attempts"
    if isinstance(stop, stop_after_delay):
        return f"retries for {stop.max_delay:g}s"
    if isinstance(stop, stop_any):
        return " or ".join(describe_stop(s) for s in stop.stops)
    if isinstance(stop, stop_all):
        return " and ".join(describe_stop(s) for s in stop.stops)
    if stop is stop_never:
        return "retries forever"
    return type(stop).__name__


def describe_wait(wait: object) -> str:
    if isinstance(wait, wait_exponential_jitter | wait_random_exponential):
        return f"exponential backoff with jitter{_cap(wait.max)}"
    if isinstance(wait, wait_exponential):
        return f"exponential backoff{_cap(wait.max)}"
    if isinstance(wait, wait_none):
        return "no wait"
    if isinstance(wait, wait_fixed):
        return f"{wait.wait_fixed:g}s between attempts"
    if isinstance(wait, wait_random):
        return f"random {wait.wait_random_min:g}-{wait.wait_random_max:g}s wait"
    if isinstance(wait, wait_combine):
        return " + ".join(describe_wait(w) for w in wait.wait_funcs)
    return type(wait).__name__


def _cap(seconds: float) -> str:
    return f" (max {seconds:g}s)" if seconds < 1e9 else ""
