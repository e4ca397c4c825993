"""A switch: route each order to one shipping branch with graph deciders.

``classify`` runs first; each branch is linked from it with a decider that
looks at its result and says whether the branch runs. A branch switched off
is marked IGNORE and skipped. ``notify`` runs after whichever branch ran:
each branch provides its own label, and ``notify`` gives every label input
a default, so it still runs when the branches providing two of them were
ignored (an input without a default would have made ``notify`` IGNORE too).

Run: python examples/decider_switch.py
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import steadyflow as sf


def classify(weight_kg: float) -> str:
    if weight_kg < 2:
        return "letter"
    if weight_kg < 30:
        return "parcel"
    return "freight"


def route_to(kind: str) -> Any:
    def decider(history: Mapping[str, Any]) -> bool:
        return bool(history["classify"] == kind)

    return decider


def build() -> sf.Graph:
    check = sf.task(classify, name="classify", provides="kind")
    letter = sf.task(lambda: "stamp", name="letter", provides="stamp")
    parcel = sf.Linear(
        "parcel",
        sf.task(lambda weight_kg: f"box {weight_kg:g} kg", name="pack", provides="box"),
        sf.task(lambda box: f"courier label for {box}", name="courier", provides="courier_label"),
    )
    freight = sf.task(lambda: "pallet booking", name="freight", provides="booking")

    def notify(
        kind: str, stamp: str | None = None, courier_label: str | None = None, booking: str = ""
    ) -> str:
        return f"{kind}: {stamp or courier_label or booking}"

    done = sf.task(notify, name="notify", provides="message")
    graph = sf.Graph("ship").add(check, letter, parcel, freight, done)
    for branch, kind in ((letter, "letter"), (parcel, "parcel"), (freight, "freight")):
        graph.link(check, branch, decider=route_to(kind), depth="ATOM")
        graph.link(branch, done)
    return graph


def main() -> None:
    for weight in (0.5, 12, 400):
        engine = sf.load(build(), {"weight_kg": weight})
        engine.run()
        states = engine.storage.atom_states()
        skipped = sorted(name for name, state in states.items() if state is sf.AtomState.IGNORE)
        print(f"{weight:g} kg -> {engine.storage.fetch('message')} (skipped: {', '.join(skipped)})")


if __name__ == "__main__":
    main()
