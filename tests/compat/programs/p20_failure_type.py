"""taskflow.types.failure.Failure: capture, check, compare, reraise, dicts."""

from taskflow.types import failure

try:
    raise ValueError("wrong")
except ValueError:
    captured = failure.Failure()

print(captured.exception_str)
print(captured.check(KeyError), captured.check(ValueError))
print(captured.check("ValueError"))
print(captured.matches(captured), captured == captured)
print(str(captured))
print(repr(captured.exception))
data = captured.to_dict()
print(sorted(data))
again = failure.Failure.from_dict(data)
print(again.exception_str, again.exception, again.matches(captured))
made = failure.Failure.from_exception(KeyError("k"))
print(made.exception_str, made.check(LookupError))
try:
    captured.reraise()
except ValueError as exc:
    print("reraised", exc)
