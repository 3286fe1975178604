"""`sidecar policy matrix`: every agent against every agent for each tool, as text, JSON, SVG or HTML."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from sidecar.config import ENV_VAR, load_policy
from sidecar.fleet import page_data, render_html, render_svg
from sidecar.policy import TOOLS, PolicyError, StaticView, Tool, access_matrix, render_matrix_text

EPILOG = f"""\
A cell (caller, target, tool) is the engine's decision on the caller's main session calling the tool
on the target: its main session for sessions_history and sessions_send, the agent itself for
sessions_spawn, and for sessions_list whether the target's main session is listed or hidden.

formats:
  text  one grid per tool: + allowed, or the letter of the gate that denied (V visibility,
        A agent-to-agent, L allow-list, R receives-from, S spawn-allow, B sandbox, ? unknown-target),
        ~ and the letter when only observe mode allows it, with the number of the deciding key listed
        under the grid
  json  {{"agents": [...], "tools": [...],
         "cells": [{{"from", "to", "tool", "allowed", "gate", "source", "wouldDeny"}}]}}
        wouldDeny is true when the call is allowed only because the caller is in observe mode; gate
        then names the gate enforce would deny it at
  svg   one picture, a colored grid per tool; each cell's tooltip names the gate and the deciding key,
        and an observe-mode cell is outlined (dashed) in the color of the gate it would be denied at
  html  one self-contained page (no network): tabs per tool, filter, grouping by name prefix with
        collapsible groups, and each cell's full explanation (every gate, its source, the fix) on click

examples:
  sidecar policy matrix --policy manifests/policies/team-lead.json5
  sidecar policy matrix --policy manifests/policies/team.json5 --tool sessions_send --tool sessions_history
  sidecar policy matrix --policy manifests/policies/team.json5 --format html -o fleet.html
  sidecar policy matrix --policy manifests/policies/team.json5 --format json | jq '.cells[] | select(.allowed)'

A running `sidecar serve --transport http` serves the same page live at /fleet/ with its recent
decisions. The policy may also come from ${ENV_VAR}. Exit 0 on success, 2 on bad input.
"""


def register(policy_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = policy_sub.add_parser(
        "matrix",
        help="every agent against every agent for each tool, with the deciding key",
        description="Decide every (caller, target, tool) cell of a policy and print the access matrix.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--policy", metavar="FILE", help=f"policy file (JSON5); default ${ENV_VAR}")
    parser.add_argument("--format", choices=("text", "json", "html", "svg"), default="text")
    parser.add_argument(
        "--tool",
        action="append",
        metavar="TOOL",
        help="only this tool (repeatable; sessions_ may be left off); default all four",
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of stdout")
    parser.set_defaults(handler=_matrix)


def _tools(given: list[str] | None) -> tuple[Tool, ...] | str:
    if not given:
        return TOOLS
    chosen: list[Tool] = []
    for raw in given:
        for name in raw.split(","):
            full = name.strip() if name.strip().startswith("sessions_") else f"sessions_{name.strip()}"
            match = next((t for t in TOOLS if t == full), None)
            if match is None:
                return f"--tool {name.strip()!r} is not a session tool (one of {', '.join(TOOLS)})"
            if match not in chosen:
                chosen.append(match)
    return tuple(chosen)


def _matrix(args: argparse.Namespace) -> int:
    tools = _tools(args.tool)
    if isinstance(tools, str):
        print(f"error: {tools}", file=sys.stderr)
        return 2
    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    view = StaticView(agents=policy.known_agents)
    matrix = access_matrix(policy, view, tools=tools, explain=args.format == "html")
    if args.format == "json":
        text = json.dumps(matrix.as_dict(), indent=1) + "\n"
    elif args.format == "svg":
        text = render_svg(matrix)
    elif args.format == "html":
        command = shlex.join(["sidecar", "policy", "matrix", "--policy", policy.path, "--format", "html"])
        text = render_html(page_data(matrix, command=command, main_key=policy.main_key))
    else:
        text = render_matrix_text(matrix) + "\n"
    if args.output:
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            print(f"error: cannot write {args.output}: {exc}", file=sys.stderr)
            return 2
        print(f"wrote {args.output} ({len(matrix.agents)} agents, {len(tools)} tool(s))", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
