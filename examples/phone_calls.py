"""A transaction for operations that have none: three phone calls, the third fails.

Each call that went through is followed, on failure, by an apology, in reverse
order; the caller sees the original error.

Run: python examples/phone_calls.py
"""

from __future__ import annotations

import steadyflow as sf
from steadyflow.failure import Failure


class LineBusyError(Exception):
    """The callee's line was busy."""


class PhoneCall(sf.Task):
    """Calls one person; reverting it calls them back to apologise."""

    def execute(self, person: str, busy: bool = False) -> None:
        if busy:
            raise LineBusyError(f"{person}'s line is busy")
        print(f"calling {person}")

    def revert(
        self,
        person: str,
        busy: bool = False,
        *,
        result: object,
        flow_failures: dict[str, Failure],
    ) -> None:
        if isinstance(result, Failure):
            print(f"{person} never answered: nothing to apologise for")
        else:
            print(f"calling {person} back to apologise")


def build() -> sf.Linear:
    """The three calls, in order; the third one fails."""
    return sf.Linear(
        "phone-calls",
        PhoneCall(name="call-jim", inject={"person": "Jim"}),
        PhoneCall(name="call-joe", inject={"person": "Joe"}),
        PhoneCall(name="call-jane", inject={"person": "Jane", "busy": True}),
    )


def main() -> None:
    try:
        sf.run(build())
    except LineBusyError as error:
        print(f"the flow was undone: {error}")


if __name__ == "__main__":
    main()
