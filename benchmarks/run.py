"""Run the benchmark suite: steadyflow against TaskFlow 6.5 and DBOS, side by side.

    .venv/bin/python benchmarks/run.py                 # full run (make bench)
    .venv/bin/python benchmarks/run.py --quick         # smoke run, ~2 minutes
    .venv/bin/python benchmarks/run.py --only 'persist_*' --reps 5

Every measurement is a fresh subprocess: steadyflow's in this venv
(``sf_bench.py``), the peers' in ``benchmarks/.venv-peers`` (created on first
run). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import workloads  # noqa: F401  (registers every workload)
from _env import (
    BENCH_DIR,
    cpu_model,
    ensure_peers_venv,
    git_revision,
    package_version,
    python_version,
    section_marks,
)
from _registry import METRICS, WORKLOADS, Workload
from _report import IMPL_LABELS, Cell, Results, markdown, table_rows, terminal, to_json

PEER_SCRIPTS = {
    "taskflow": BENCH_DIR / "peers" / "taskflow_bench.py",
    "dbos": BENCH_DIR / "peers" / "dbos_bench.py",
}
SF_SCRIPT = BENCH_DIR / "sf_bench.py"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 rep, smaller n, 15 s limit")
    parser.add_argument(
        "--only",
        metavar="PATTERN",
        help="run only workloads whose name matches (glob or substring; comma-separated)",
    )
    parser.add_argument("--reps", type=int, help="repetitions per size (default 3; quick 1)")
    parser.add_argument(
        "--timeout",
        type=float,
        help="seconds a process may take before it is reported DNF (default 60; quick 15)",
    )
    parser.add_argument("--no-peers", action="store_true", help="run steadyflow alone")
    parser.add_argument(
        "--no-write", action="store_true", help="do not write results.json or RESULTS.md"
    )
    args = parser.parse_args(argv)
    args.reps = args.reps or (1 if args.quick else 3)
    args.timeout = args.timeout or (15.0 if args.quick else 60.0)
    return args


def selected(only: str | None) -> list[Workload]:
    if not only:
        return list(WORKLOADS.values())
    patterns = [p.strip() for p in only.split(",") if p.strip()]

    def match(name: str) -> bool:
        return any(fnmatch.fnmatch(name, p) or p in name for p in patterns)

    chosen = [w for w in WORKLOADS.values() if w.always or match(w.name)]
    if not any(match(w.name) for w in chosen):
        raise SystemExit(f"--only {only!r} matches none of: {', '.join(WORKLOADS)}")
    return chosen


def _last_error(text: str) -> str:
    """The exception line of a traceback (skipping warnings printed at exit)."""
    lines = [ln for ln in text.strip().splitlines() if ln and not ln[0].isspace()]
    errors = [ln for ln in lines if not ln.startswith("sys:") and "Warning" not in ln]
    return ((errors or lines or ["no output"])[-1])[:300]


def run_process(python: str, script: Path, name: str, n: int, timeout: float, cell: Cell) -> str:
    """One measurement in a fresh process, recorded in ``cell``; returns a summary."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            [python, str(script), name, str(n)],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=BENCH_DIR,
        )
    except subprocess.TimeoutExpired:
        cell.status, cell.message = "dnf", f">{timeout:g} s"
        return f"DNF (killed after {timeout:g} s)"
    wall = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        cell.status, cell.message = "error", _last_error(proc.stderr or proc.stdout)
        return f"error: {cell.message}"
    cell.runs.append(json.loads(lines[-1])["metrics"])
    cell.wall.append(wall)
    return f"ok ({wall:.1f} s)"


def available_impls(
    args: argparse.Namespace,
) -> tuple[dict[str, tuple[str, Path]], dict[str, set[str]], dict[str, str]]:
    """Interpreter and script per implementation, which workloads each has, and problems."""
    problems: dict[str, str] = {}
    runners: dict[str, tuple[str, Path]] = {"steadyflow": (sys.executable, SF_SCRIPT)}
    has: dict[str, set[str]] = {"steadyflow": set(WORKLOADS)}
    probe = subprocess.run(
        [sys.executable, "-c", "import steadyflow as sf; sf.run; sf.load; sf.Linear"],
        capture_output=True,
        text=True,
    )
    if probe.returncode != 0:
        last = (probe.stderr.strip().splitlines() or ["?"])[-1]
        problems["steadyflow"] = f"steadyflow is not importable yet: {last}"
    if args.no_peers:
        return runners, has, problems
    env = ensure_peers_venv(log)
    if env.python is None:
        problems["taskflow"] = problems["dbos"] = env.problem
        return runners, has, problems
    for peer, script in PEER_SCRIPTS.items():
        proc = subprocess.run(
            [str(env.python), str(script), "--list"], capture_output=True, text=True
        )
        if proc.returncode != 0:
            problems[peer] = (proc.stderr.strip().splitlines() or ["?"])[-1]
            continue
        runners[peer] = (str(env.python), script)
        has[peer] = set(json.loads(proc.stdout))
    return runners, has, problems


def measure(args: argparse.Namespace, chosen: list[Workload]) -> tuple[Results, dict[str, str]]:
    runners, has, problems = available_impls(args)
    for impl, problem in problems.items():
        log(f"!! {IMPL_LABELS[impl]}: {problem}")
    results: Results = {}
    for w in chosen:
        sizes = w.quick_sizes if args.quick else w.sizes
        impls = [i for i in IMPL_LABELS if w.name in has.get(i, set())]
        for n in sizes:
            cells = {impl: Cell() for impl in impls}
            results.setdefault(w.name, {})[n] = cells
            for impl in impls:
                if impl in problems:
                    cells[impl].status, cells[impl].message = "unavailable", problems[impl]
            for rep in range(1, args.reps + 1):
                # Alternate implementations within each repetition.
                for impl in impls:
                    cell = cells[impl]
                    if cell.status != "ok":
                        continue  # a DNF or an error is not retried at this size
                    python, script = runners[impl]
                    summary = run_process(python, script, w.name, n, args.timeout, cell)
                    value = cell.runs[-1].get(w.metric) if summary.startswith("ok") else None
                    shown = METRICS[w.metric].format(value) if value is not None else ""
                    log(
                        f"  {w.name:<20} n={n:<6} rep {rep}/{args.reps}  "
                        f"{IMPL_LABELS[impl]:<10} {shown:>10} {METRICS[w.metric].unit:<8} {summary}"
                    )
    return results, problems


def metadata(args: argparse.Namespace, started: float) -> dict[str, str]:
    peers_python = BENCH_DIR / ".venv-peers" / "bin" / "python"
    have_peers = peers_python.exists() and not args.no_peers
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["benchmarks/run.py", *sys.argv[1:]]),
        "CPU": cpu_model(),
        "Python": python_version(sys.executable),
        "steadyflow": f"{package_version(sys.executable, 'steadyflow')} (git {git_revision()})",
        "TaskFlow": package_version(peers_python, "taskflow") if have_peers else "not run",
        "DBOS": package_version(peers_python, "dbos") if have_peers else "not run",
        "repetitions": f"{args.reps} per size, per-process limit {args.timeout:g} s",
        "suite wall time": f"{time.perf_counter() - started:.0f} s",
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    chosen = selected(args.only)
    started = time.perf_counter()
    log(f"benchmarks: {len(chosen)} workloads, {args.reps} rep(s), limit {args.timeout:g} s")
    results, _ = measure(args, chosen)
    meta = metadata(args, started)
    rows = table_rows(chosen, results, list(IMPL_LABELS))
    print(terminal(rows))
    for w in chosen:
        if w.note:
            print(f"  * {w.name}: {w.note}")
    if args.no_write:
        return 0
    (BENCH_DIR / "results.json").write_text(
        json.dumps(to_json(chosen, results, meta), indent=2) + "\n"
    )
    print(f"\nwrote {BENCH_DIR / 'results.json'}")
    if args.only or args.quick:
        print("RESULTS.md left as it was (it records full runs only)")
    else:
        path = BENCH_DIR / "RESULTS.md"
        path.write_text(markdown(chosen, rows, meta) + _kept_sections(path))
        print(f"wrote {path}")
    return 0


def _kept_sections(path: Path) -> str:
    """The sections of RESULTS.md written elsewhere (boards.py by hand, workers_bench.py,
    remote_bench.py, conductors_bench.py)."""
    old = path.read_text() if path.exists() else ""
    kept = ""
    for name in ("boards", "workers", "remote-engines", "conductors"):
        begin, end = section_marks(name)
        if begin in old and end in old:
            kept += "\n" + old[old.index(begin) : old.index(end) + len(end)] + "\n"
    return kept


if __name__ == "__main__":
    sys.exit(main())
