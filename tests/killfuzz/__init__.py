"""Kill fuzzing: persisted flows killed at random moments must keep steadyflow's promise.

- ``_shapes.py``: the flow shapes, their tasks (which log every effect) and how each must end;
- ``_child.py``: the fork server whose children run (and resume) one shape each;
- ``_harness.py``: campaigns that start, kill (SIGKILL, SIGSTOP past the lease,
  cut database sessions) and resume runners, snapshotting the store after each;
- ``_invariants.py``: the promise as pure checks over the effects log and the
  snapshots (proven on hand-made logs by ``test_checker.py``).

Run ``pytest tests/killfuzz`` (marker ``crash``); a failure prints its seed,
and ``STEADYFLOW_KILLFUZZ_SEED=<seed>`` replays its random decisions.
"""
