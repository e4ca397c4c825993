"""Call a flaky service again with exponential backoff, then give up.

``Times(5, delay=1, backoff=2, max_delay=5)`` waits 1, 2, 4, then 5 seconds
between attempts. The engine takes its time from a clock you can replace;
this example passes one that only pretends to sleep, so it prints the waits
without taking 12 seconds. While a flow waits out its backoff, the engine
keeps running other branches (here there are none).

Run: python examples/retry_backoff.py
"""

from __future__ import annotations

import steadyflow as sf
from steadyflow.engine import Clock


class PretendClock(Clock):
    """Moves time forward when the engine sleeps, instantly."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        print(f"  ... waiting {seconds:g} s")
        self.now += seconds


class ServiceUnavailableError(Exception):
    """The service answered 503."""


def flaky_service(succeed_on: int) -> sf.FunctionTask[[], str]:
    """A call that fails until its ``succeed_on``-th attempt."""

    def call() -> str:
        attempt = sf.current_context().attempt
        if attempt < succeed_on:
            print(f"attempt {attempt}: 503")
            raise ServiceUnavailableError(f"503 on attempt {attempt}")
        print(f"attempt {attempt}: 200")
        return "payload"

    return sf.task(call, name="call", provides="reply")


def run(succeed_on: int) -> None:
    clock = PretendClock()
    flow = sf.Linear(
        "fetch",
        flaky_service(succeed_on),
        retry=sf.retry.Times(5, delay=1, backoff=2, max_delay=5, on=[ServiceUnavailableError]),
    )
    engine = sf.load(flow, clock=clock)
    try:
        engine.run()
        print("got", engine.storage.fetch("reply"), f"after {clock.now:g} s of backoff")
    except ServiceUnavailableError as error:
        print("gave up:", error, f"after {clock.now:g} s of backoff")
    history = engine.storage.get_history("fetch.retry")
    print("attempts recorded:", len(history), "| retries:", engine.statistics().retries)


def main() -> None:
    print("a service that recovers on the third attempt:")
    run(succeed_on=3)
    print("a service that never recovers:")
    run(succeed_on=99)


if __name__ == "__main__":
    main()
