"""PrintingListener over a run that succeeds and one that fails."""

from taskflow import engines, states, task
from taskflow.listeners import printing
from taskflow.patterns import linear_flow


class Ok(task.Task):
    def execute(self):
        return "fine"


class Boom(task.Task):
    def execute(self):
        raise RuntimeError("boom")


engine = engines.load(linear_flow.Flow("good").add(Ok(name="ok")))
with printing.PrintingListener(engine):
    engine.run()

engine = engines.load(linear_flow.Flow("bad").add(Ok(name="ok"), Boom(name="boom")))
# A failure's traceback names the library's own files: listen to everything else.
quiet = (states.RUNNING, states.SUCCESS, states.REVERTING, states.REVERTED)
with printing.PrintingListener(engine, task_listen_for=quiet):
    try:
        engine.run()
    except RuntimeError as exc:
        print("caught", exc)
