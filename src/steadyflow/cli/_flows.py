"""``steadyflow flows ...``: list, show, trace, draw, resume and revoke stored flows.

Only the standard library is imported here; each handler imports the part
of steadyflow it uses, so ``steadyflow --help`` stays quick.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from steadyflow.cli._common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    add_backend_argument,
    is_terminal,
    open_store,
    parse_since,
    store_label,
)

if TYPE_CHECKING:
    from steadyflow._inspect import FlowView
    from steadyflow.cli._render import Style
    from steadyflow.persistence.base import Backend

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``flows`` and its subcommands."""
    flows = subparsers.add_parser(
        "flows", help="list, show, trace, draw, resume and revoke stored flows"
    )
    commands = flows.add_subparsers(dest="flows_command", metavar="SUBCOMMAND")
    flows.set_defaults(func=lambda args: _usage(flows))

    listing = commands.add_parser("list", help="stored flows, newest first")
    listing.add_argument(
        "--state",
        action="append",
        default=[],
        metavar="STATE",
        help="only flows in this state (repeat, or separate with commas)",
    )
    listing.add_argument("--name", help="only flows whose name contains this (a glob with * or ?)")
    listing.add_argument(
        "--since", help="only flows created since: an age (30m, 2h, 7d) or a date/time"
    )
    listing.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    listing.add_argument("--cursor", help="continue after a previous page (its next_cursor)")
    listing.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    listing.set_defaults(func=_list)

    show = commands.add_parser("show", help="one flow as a tree of its atoms, with failures")
    show.add_argument("flow_id", metavar="ID", help="the flow's id, or its first characters")
    show.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    show.set_defaults(func=_show)

    history = commands.add_parser("history", help="one flow's transitions, with their times")
    history.add_argument("flow_id", metavar="ID", help="the flow's id, or its first characters")
    history.add_argument("--json", action="store_true", help="print JSON (for scripts)")
    history.set_defaults(func=_history)

    graph = commands.add_parser("graph", help="one flow's structure, coloured by state")
    graph.add_argument("flow_id", metavar="ID", help="the flow's id, or its first characters")
    graph.add_argument(
        "--format", choices=("mermaid", "dot"), default="mermaid", help="default: mermaid"
    )
    graph.set_defaults(func=_graph)

    resume = commands.add_parser(
        "resume", help="run a stored flow on from where it stopped (rebuilt from its factory)"
    )
    resume.add_argument("flow_id", metavar="ID", help="the flow's id, or its first characters")
    resume.add_argument(
        "--engine",
        choices=("serial", "parallel"),
        default="serial",
        help="how to run the atoms (default: serial)",
    )
    resume.set_defaults(func=_resume)

    revoke = commands.add_parser(
        "revoke", help="undo a stored flow (its runner reverts it, or this command does)"
    )
    revoke.add_argument("flow_id", metavar="ID", help="the flow's id, or its first characters")
    revoke.add_argument("--reason", help="why, kept with the request")
    revoke.set_defaults(func=_revoke)

    for parser in (listing, show, history, graph, resume, revoke):
        add_backend_argument(parser)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_USAGE


def _style() -> Style:
    from steadyflow.cli._render import Style

    return Style(is_terminal() and not os.environ.get("NO_COLOR"))


def _print(lines: list[str] | str) -> None:
    text = lines if isinstance(lines, str) else "\n".join(lines) + "\n"
    sys.stdout.write(text)


# -- list ----------------------------------------------------------------------------------


def _states(values: list[str]) -> list[str]:
    from steadyflow.states import FlowState

    known = {state.value for state in FlowState}
    states = []
    for value in values:
        for part in value.split(","):
            state = part.strip().upper()
            if state not in known:
                raise CliError(
                    f"--state {part.strip()!r} is not a flow state; choose from "
                    + ", ".join(s.value for s in FlowState)
                )
            states.append(state)
    return states


def _list(args: argparse.Namespace) -> int:
    from steadyflow.cli._render import dumps, summary_row, table
    from steadyflow.persistence.query import MAX_LIMIT, list_flows

    states = _states(args.state)
    since = None if args.since is None else parse_since(args.since)
    if not 1 <= args.limit <= MAX_LIMIT:
        raise CliError(f"--limit must be from 1 to {MAX_LIMIT}, not {args.limit}")
    with open_store(args) as backend:
        try:
            page = list_flows(
                backend,
                states=states,
                name=args.name,
                since=since,
                limit=args.limit,
                cursor=args.cursor,
            )
        except ValueError as exc:  # a cursor not made by us
            raise CliError(f"--cursor: {exc}") from exc
    if args.json:
        data = {
            "store": store_label(args),
            "flows": [flow.to_dict() for flow in page.flows],
            "next_cursor": page.next_cursor,
        }
        _print(dumps(data) + "\n")
        return EXIT_OK
    style = _style()
    lines = [f"store: {store_label(args)}"]
    if page.flows:
        headers = ("ID", "STATE", "NAME", "CREATED", "UPDATED")
        lines.extend(table(headers, map(summary_row, page.flows), style, state_column=1))
    else:
        lines.append("no flows match" if states or args.name or since else "no flows stored")
    if page.next_cursor is not None:
        lines.append(f"more: --cursor {page.next_cursor}")
    _print(lines)
    return EXIT_OK


# -- one flow ------------------------------------------------------------------------------


def _view(backend: Backend, flow_id: str) -> FlowView:
    from steadyflow._inspect import inspect_flow
    from steadyflow.persistence.query import find_flow

    try:
        detail = find_flow(backend, flow_id)
    except ValueError as exc:  # an ambiguous prefix
        raise CliError(str(exc)) from exc
    return inspect_flow(detail)


def _head(view: FlowView, args: argparse.Namespace, style: Style) -> list[str]:
    from steadyflow.cli._render import format_time

    origin = f"factory {view.factory}" if view.factory else "no factory (cannot be resumed here)"
    shape = "" if view.structure_known else " (structure not recorded: atoms as stored)"
    return [
        f"flow {view.uuid}  {view.name!r}  {style.state(view.state.value)}",
        f"store: {store_label(args)}",
        f"created {format_time(view.created_at)}, "
        f"last written {format_time(view.updated_at)}, {origin}",
        f"atoms: {view.done} of {len(view.atoms)} done{shape}",
    ]


def _show(args: argparse.Namespace) -> int:
    from steadyflow.cli._render import dumps, flow_to_dict, tree_lines

    with open_store(args) as backend:
        view = _view(backend, args.flow_id)
    if args.json:
        _print(dumps(flow_to_dict(view, store_label(args))) + "\n")
        return EXIT_OK
    style = _style()
    _print([*_head(view, args, style), "", *tree_lines(view, style)])
    return EXIT_OK


def _history(args: argparse.Namespace) -> int:
    from steadyflow.cli._render import dumps, history_lines, history_to_list

    with open_store(args) as backend:
        view = _view(backend, args.flow_id)
    if args.json:
        data = {
            "store": store_label(args),
            "uuid": view.uuid,
            "name": view.name,
            "state": view.state.value,
            "transitions": history_to_list(view),
        }
        _print(dumps(data) + "\n")
        return EXIT_OK
    style = _style()
    lines = history_lines(view, style)
    if not lines:
        lines = ["no transitions recorded (the flow was stored by an older steadyflow)"]
    _print([*_head(view, args, style), "", *lines])
    return EXIT_OK


def _graph(args: argparse.Namespace) -> int:
    from steadyflow.cli._render import dot, mermaid

    with open_store(args) as backend:
        view = _view(backend, args.flow_id)
    _print(mermaid(view) if args.format == "mermaid" else dot(view))
    return EXIT_OK


# -- acting on a flow ------------------------------------------------------------------------


def _importable_here() -> None:
    # A console script's sys.path lacks the current directory, where the module
    # a flow's factory names usually lives (python -m steadyflow has it already).
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)


def _resume(args: argparse.Namespace) -> int:
    import steadyflow as sf
    from steadyflow.cli._progress import ProgressDisplay
    from steadyflow.errors import BackendUnavailableError, PersistenceError
    from steadyflow.states import FlowState

    _importable_here()
    style = _style()
    with open_store(args) as backend:
        view = _view(backend, args.flow_id)
        print(
            f"resuming flow {view.uuid} {view.name!r} ({view.state.value}) from {store_label(args)}"
        )
        if view.state is FlowState.SUCCESS:
            print("nothing to do: the flow already succeeded")
            return EXIT_OK
        states = {name: atom.state for name, atom in view.atoms.items()}
        terminal = is_terminal()
        with sf.load_from_backend(backend, view.uuid, engine=args.engine) as engine:
            display = ProgressDisplay(engine, states, sys.stdout, terminal=terminal, style=style)
            try:
                with display:
                    engine.run()
            except (PersistenceError, BackendUnavailableError):
                raise  # the store or the lease, not the flow: mapped to their exit codes
            except Exception as exc:
                state = engine.storage.flow_state.value
                reason = f"{type(exc).__name__}: {exc}"
                raise CliError(f"flow {view.uuid} ended {state}: {reason}", EXIT_FAILED) from exc
            final = engine.storage.flow_state
    print(f"flow {view.uuid} {style.state(final.value)}")
    return EXIT_OK if final is FlowState.SUCCESS else EXIT_FAILED


def _revoke(args: argparse.Namespace) -> int:
    import steadyflow as sf

    _importable_here()
    with open_store(args) as backend:
        view = _view(backend, args.flow_id)
        done = sf.revoke(backend, view.uuid, reason=args.reason)
    messages = {
        "reverted": f"flow {done.flow_id} reverted here: now {done.state.value}",
        "requested": f"flow {done.flow_id} is held by a runner: revoke requested, "
        "it reverts the flow itself",
        "already-reverted": f"flow {done.flow_id} was already REVERTED: nothing to undo",
    }
    print(messages.get(done.outcome, f"flow {done.flow_id}: {done.outcome} ({done.state.value})"))
    return EXIT_OK if done.state.value != "FAILURE" else EXIT_FAILED
