"""What a persisted flow stores, and when, as docs/persistence.md states it."""

from __future__ import annotations

from pathlib import Path

import steadyflow as sf
from steadyflow.persistence import open_backend


def _flow(engine_box: list[sf.Engine]) -> sf.Linear:
    def first() -> int:
        engine_box[0].suspend()  # stop after this atom: the later ones never start
        return 1

    return sf.Linear(
        "boot",
        sf.task(first),
        sf.task(lambda: 2, name="second"),
        sf.task(lambda: 3, name="third"),
    )


def test_a_new_flow_detail_holds_the_flow_and_its_store_but_no_atom(tmp_path: Path) -> None:
    # Given an engine over a new flow id
    url = f"sqlite:///{tmp_path / 's.db'}"
    box: list[sf.Engine] = []
    engine = sf.load(_flow(box), store={"image": "deb"}, backend=url, flow_id="boot-1")
    box.append(engine)

    # When it is prepared (nothing has run)
    engine.prepare()
    engine.close()

    # Then the flow detail exists, PENDING, with its store, and no atom record
    with open_backend(url) as backend:
        detail = backend.get_flow_detail("boot-1")
    assert detail.state is sf.FlowState.PENDING
    assert detail.meta["store"] == {"image": "deb"}
    assert dict(detail.atoms) == {}


def test_atoms_appear_once_started_and_the_backend_lists_the_flow(tmp_path: Path) -> None:
    # Given a persisted run suspended after its first atom
    url = f"sqlite:///{tmp_path / 's.db'}"
    box: list[sf.Engine] = []
    with sf.load(_flow(box), backend=url, flow_id="boot-2") as engine:
        box.append(engine)
        engine.run()
    assert engine.state is sf.EngineState.SUSPENDED

    # When the store is listed, as a user looking for flows to resume would
    with open_backend(url) as backend:
        listed = backend.list_flow_details()

    # Then the flow is there, SUSPENDED, with a record for the started atom only
    assert [(d.uuid, d.name, d.state) for d in listed] == [
        ("boot-2", "boot", sf.FlowState.SUSPENDED)
    ]
    atoms = listed[0].atoms
    assert sorted(atoms) == ["first"]
    assert atoms["first"].state is sf.AtomState.SUCCESS
    assert atoms["first"].result == 1

    # And resuming it by the listed id runs the rest
    resumed = sf.load(_flow(box), backend=url, flow_id=listed[0].uuid)
    box[0] = resumed
    with resumed:
        resumed.run()
    assert resumed.storage.get_result("third") == 3
