"""Where a 100-row sessions_list page goes between the sidecar's service and an MCP SDK client (item 4 over
stdio), without a gateway.

    python -m benchmarks.bench_page            # in-process steps, then the page over stdio against echo
    python -m benchmarks.bench_page --no-stdio # the in-process steps only (a few seconds)
    python -m benchmarks.bench_page --profile  # cProfile of the client's output-schema check of one page

The page is built by the sidecar's real code: `SessionsService.sessions_list(limit=100)` as manager
(visibility all) over a file-backed mirror holding 10,000 gateway-shaped rows (`bench_mirror.gateway_rows`),
then the `sessions_list` tool of `build_server` turns it into the `CallToolResult` the SDK sends. In process,
each step is timed alone, in CPU time of the one thread that runs it all (so other work on a shared box
does not count), as the median of interleaved calls, best of 3 rounds:

  * service: the service call (item 4's in-process figure);
  * server tool: the MCP server's `call_tool` (the service call, the result validated into its model and
    dumped as structured content and as text);
  * wire: the JSON-RPC response serialised as the server writes it, and parsed back as the client reads it;
  * client schema check: the unmodified SDK client's check of the structured result against the tool's
    published output schema (`ClientSession.validate_tool_result`: a compiled jsonschema validator, cached
    per tool, then `best_match` over `iter_errors`).

Over stdio (wall time, the whole round trip): that same server, `build_server` on that mirror with the
connected gateway stand-in, runs in a child process (`--serve DIR`, `run_stdio_async` as `sidecar serve`
runs it) and is driven by the SDK `Client`, interleaved with the echo server carrying a string of the
page's size (`benchmarks/echo_server.py`); then the CPU each process spends per call (this process's
CPU time, and the server's from /proc), over as many calls of each alone. Not `sidecar serve` itself: without a gateway it tries to
connect again on every call, which would swamp what is measured here; bench_gateway times it against a
real gateway.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio

from benchmarks import _stats

REPO = Path(__file__).resolve().parents[1]
SESSIONS = 10_000
PAGE = 100


class _Connected:
    async def request(self, *args: Any, **kwargs: Any) -> Any:
        return {}

    async def agent(self, *args: Any, **kwargs: Any) -> Any:
        return {}


@asynccontextmanager
async def _service(tmp: Path, fill: bool = True) -> AsyncIterator[Any]:
    from benchmarks.bench_mirror import gateway_rows, load
    from sidecar.mirror import Mirror, ServiceStore
    from sidecar.policy import Requester, parse_policy
    from sidecar.tools import SessionsService
    from sidecar.tools._routing import HOME, GatewayPool

    scenario = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    policy = parse_policy(json.dumps(scenario["policy"]), "hierarchy.json5")
    agents = sorted(policy.agent_ids)
    mirror = Mirror.open(tmp / "mirror.db")
    try:
        if fill:
            load(mirror, gateway_rows(SESSIONS, agents, random.Random(7)))
        mirror.set_agents(HOME, agents)

        async def connect(name: str, url: str, insecure: bool) -> _Connected:
            return _Connected()

        pool = GatewayPool("ws://127.0.0.1:9", (), connect)
        await pool.client(HOME)
        yield SessionsService(policy, Requester.of("manager"), ServiceStore(mirror), pool)
    finally:
        mirror.close()


async def in_process(calls: int, profile: bool = False) -> dict[str, Any]:
    from mcp import Client, types

    from sidecar.mcp._server import build_server

    with tempfile.TemporaryDirectory(prefix="sidecar-page-") as tmp:
        async with _service(Path(tmp)) as service:
            server = build_server(service, close_gateways=False)
            async with Client(server) as client:
                listed = {t.name: t for t in (await client.list_tools()).tools}
                schema = listed["sessions_list"].output_schema
                session = client.session
                args = {"limit": PAGE}
                result = await server.call_tool("sessions_list", args)
                assert isinstance(result, types.CallToolResult) and not result.is_error
                assert result.structured_content is not None
                assert len(result.structured_content["sessions"]) == PAGE
                response = types.JSONRPCResponse(
                    jsonrpc="2.0",
                    id=1,
                    result=result.model_dump(by_alias=True, mode="json", exclude_none=True),
                )
                line = response.model_dump_json(by_alias=True, exclude_unset=True)
                await session.validate_tool_result(
                    "sessions_list", result
                )  # compiles and caches the validator

                async def service_call() -> None:
                    await service.sessions_list(limit=PAGE)

                async def server_tool() -> None:
                    await server.call_tool("sessions_list", args)

                async def wire() -> None:
                    out = types.JSONRPCResponse(
                        jsonrpc="2.0",
                        id=1,
                        result=result.model_dump(by_alias=True, mode="json", exclude_none=True),
                    ).model_dump_json(by_alias=True, exclude_unset=True)
                    message = types.jsonrpc_message_adapter.validate_json(out, by_name=False)
                    assert isinstance(message, types.JSONRPCResponse)
                    types.CallToolResult.model_validate(message.result, by_name=False)

                async def client_check() -> None:
                    await session.validate_tool_result("sessions_list", result)

                if profile:
                    profiler = cProfile.Profile()
                    profiler.enable()
                    for _ in range(20):
                        await client_check()
                    profiler.disable()
                    print("== client schema check of one page, 20 calls (cProfile, by own time)")
                    pstats.Stats(profiler).sort_stats("tottime").print_stats(15)

                stats = await _stats.interleaved(
                    {
                        "service": service_call,
                        "server_tool": server_tool,
                        "wire": wire,
                        "client_check": client_check,
                    },
                    calls,
                    warmup=5,
                    clock=time.thread_time_ns,
                )
    return {
        "page_bytes": len(json.dumps(result.structured_content)),
        "message_bytes": len(line),
        "schema_bytes": len(json.dumps(schema)),
        **{name: stat.p50_us for name, stat in stats.items()},
    }


async def serve_stdio(tmp: Path) -> None:
    """The sidecar's MCP server over stdio, on the mirror `over_stdio` filled (the `--serve` mode)."""
    from sidecar.mcp._server import build_server

    async with _service(tmp, fill=False) as service:
        await build_server(service, close_gateways=False).run_stdio_async()


async def over_stdio(calls: int) -> dict[str, Any]:
    from mcp import StdioServerParameters

    from benchmarks.bench_gateway import serve, text_of

    with tempfile.TemporaryDirectory(prefix="sidecar-page-") as tmp:
        async with _service(Path(tmp)):
            pass  # fills the mirror, then closes it for the server process
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLAW_", "SIDECAR_"))}
        sidecar = StdioServerParameters(
            command=sys.executable,
            args=["-m", "benchmarks.bench_page", "--serve", tmp],
            env=env,
            cwd=str(REPO),
        )
        echo = StdioServerParameters(
            command=sys.executable, args=["-m", "benchmarks.echo_server"], env=env, cwd=str(REPO)
        )
        async with serve(sidecar) as side, serve(echo) as floor:
            first = await side.client.call_tool("sessions_list", {"limit": PAGE})
            assert not first.is_error, text_of(first)
            assert first.structured_content is not None
            assert len(first.structured_content["sessions"]) == PAGE
            filler = "x" * len(json.dumps(first.structured_content))

            async def stdio_page() -> None:
                assert not (await side.client.call_tool("sessions_list", {"limit": PAGE})).is_error

            async def echo_page() -> None:
                await floor.client.call_tool("echo", {"text": filler})

            stats = await _stats.interleaved(
                {"stdio_page": stdio_page, "echo_page": echo_page}, calls, warmup=10
            )
            cpu: dict[str, float] = {}
            for name, served, call in (("stdio", side, stdio_page), ("echo", floor, echo_page)):
                client_s, server_s = time.process_time(), _cpu_s(served.pid)
                for _ in range(calls):
                    await call()
                cpu[f"{name}_client_us"] = (time.process_time() - client_s) / calls * 1e6
                cpu[f"{name}_server_us"] = (_cpu_s(served.pid) - server_s) / calls * 1e6
    return {**{name: stat.p50_us for name, stat in stats.items()}, **cpu}


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of process `pid` so far (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bench_page", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--calls", type=int, default=100, help="calls per series per round (default 100)")
    parser.add_argument("--no-stdio", action="store_true", help="only the in-process steps")
    parser.add_argument("--profile", action="store_true", help="cProfile the client's schema check first")
    parser.add_argument("--serve", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        anyio.run(serve_stdio, Path(args.serve))
        return
    steps = anyio.run(in_process, args.calls, args.profile)
    print(
        f"page: {PAGE} rows of {SESSIONS:,} mirrored, {steps['page_bytes']:,} bytes of structured content, "
        f"{steps['message_bytes']:,} bytes on the wire; output schema {steps['schema_bytes']:,} bytes"
    )
    for name, label in (
        ("service", "service: SessionsService.sessions_list"),
        ("server_tool", "server: the tool's call_tool (service, result model, structured content)"),
        ("wire", "wire: JSON-RPC response serialised and parsed back"),
        ("client_check", "client: SDK check of structured content against the output schema"),
    ):
        print(f"  {label:76s} p50 {steps[name] / 1000:7.2f} ms")
    if not args.no_stdio:
        stdio = anyio.run(over_stdio, args.calls)
        ratio = stdio["stdio_page"] / stdio["echo_page"]
        print(
            f"over stdio: sessions_list page p50 {stdio['stdio_page'] / 1000:.2f} ms, echo of the same size "
            f"{stdio['echo_page'] / 1000:.2f} ms ({ratio:.2f}x)"
        )
        for name, label in (("stdio", "sessions_list page"), ("echo", "echo of the same size")):
            print(
                f"  CPU per call, {label}: client {stdio[f'{name}_client_us'] / 1000:.2f} ms, "
                f"server {stdio[f'{name}_server_us'] / 1000:.2f} ms"
            )


if __name__ == "__main__":
    main()
