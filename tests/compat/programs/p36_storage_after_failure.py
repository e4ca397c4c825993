"""What storage shows after a failed run: failures, results, revert results."""

from taskflow import engines, task
from taskflow.patterns import linear_flow


class Good(task.Task):
    def execute(self):
        return "made"

    def revert(self, result, **kwargs):
        return f"unmade {result}"


class Bad(task.Task):
    def execute(self):
        raise LookupError("gone")


engine = engines.load(linear_flow.Flow("after").add(Good(name="good"), Bad(name="bad")))
try:
    engine.run()
except LookupError as exc:
    print("raised", repr(exc))
print(engine.storage.get_revert_result("good"))
failures = engine.storage.get_execute_failures()
print(sorted(failures), failures["bad"].exception_str)
print(sorted(engine.storage.fetch_all().items()))
