"""Map over a list whose length is known only at run time, then reduce it.

``sf.Map`` expands into one sub-job per element when the flow runs; each
element has its own state, result and revert, kept in the map atom's
storage. Here the run is suspended half-way through the map; the second
``run()`` redoes only the elements that had not finished.

Run: python examples/map_reduce.py
"""

from __future__ import annotations

import steadyflow as sf

calls: list[str] = []
engine_box: list[sf.Engine] = []


def count_words(document: str, stop_after: str = "") -> int:
    calls.append(document)
    if document == stop_after and len(engine_box) == 1:
        engine_box[0].suspend()  # the running element finishes; nothing new starts
    return len(document.split())


def build() -> sf.Linear:
    return sf.Linear(
        "word-count",
        sf.task(lambda corpus: corpus.split("|"), name="split", provides="documents"),
        sf.Map(count_words, over="documents", provides="counts", name="count"),
        sf.Reduce(lambda total, n: total + n, over="counts", provides="total", name="sum"),
    )


def main() -> None:
    corpus = "the quick brown fox|jumps over|the lazy dog|and runs|far away from here"
    engine = sf.load(build(), {"corpus": corpus, "stop_after": "jumps over"})
    engine_box.append(engine)
    engine.run()
    meta = engine.storage.get_meta("count")
    print("first run:", engine.state, "| elements:", meta["elements"])
    engine_box.append(engine)
    engine.run()
    print("second run:", engine.state)
    print("counts:", engine.storage.fetch("counts"), "total:", engine.storage.fetch("total"))
    print("documents counted:", len(calls), "for", len(engine.storage.fetch("documents")))


if __name__ == "__main__":
    main()
