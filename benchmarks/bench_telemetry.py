"""What OpenTelemetry costs a decided call: none at all, off (the default), and on, side by side.

    python -m benchmarks.bench_telemetry            # prints the table and the docs/benchmarks.md section
    python -m benchmarks.bench_telemetry --quick

Each round decides the same mix of allowed and denied calls three ways, interleaved so that machine
noise hits them alike:

- **uninstrumented**: what `CallContext.decide` does without any telemetry hook (the engine over the
  mirror's view, then the decision-log call), written out inline;
- **off**: `CallContext.decide` as shipped, telemetry not enabled (the default);
- **on**: the same with the OpenTelemetry SDK enabled (a span per decision, the decision counter and
  the latency histogram, spans to an exporter that drops them).

Times are the thread's CPU time, so other processes on the machine do not count. Plus the bare hooks alone: `telemetry.span()` and `telemetry.tool_call()` when off.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sidecar import telemetry
from sidecar.policy import Requester, StaticView, Tool, decide, parse_policy
from sidecar.tools import Denied, GatewayPool
from sidecar.tools._context import CallContext

REPO = Path(__file__).resolve().parents[1]
CALLS: list[tuple[Tool, str]] = [
    ("sessions_send", "agent:dev-1:main"),
    ("sessions_history", "agent:dev-3:main"),
    ("sessions_send", "agent:hr:main"),  # denied at visibility
    ("sessions_spawn", "dev-2"),  # denied at spawn-allow
]


class _NullStore:
    """The Store surface `CallContext.decide` touches, doing nothing (the log's cost is not measured here)."""

    def __init__(self, view: StaticView) -> None:
        self.view = view

    def log_decision(self, **fields: Any) -> None:
        pass


def _context() -> CallContext:
    scenario = json.loads((REPO / "scenarios" / "hierarchy.json").read_text(encoding="utf-8"))
    policy = parse_policy(json.dumps(scenario["policy"]), "hierarchy.json5")
    store: Any = _NullStore(StaticView(agents=policy.known_agents))

    async def no_gateway(name: str, url: str, insecure: bool) -> Any:
        raise RuntimeError("not used")

    return CallContext(policy, Requester.of("lead"), store, GatewayPool("ws://127.0.0.1:1", (), no_gateway))


def _uninstrumented(ctx: CallContext) -> Callable[[Tool, str], object]:
    def call(tool: Tool, target: str) -> object:
        started = time.perf_counter_ns()
        decision = decide(ctx.policy, ctx.requester, tool, target, ctx.view())
        ctx.store.log_decision(
            requester_agent=ctx.requester.agent_id,
            requester_session=ctx.requester.session_key,
            tool=tool,
            target=decision.target or decision.target_agent or target,
            outcome="allowed" if decision.allowed else "denied",
            gate=decision.gate,
            source=decision.source,
            gateway="home",
            latency_us=(time.perf_counter_ns() - started) // 1000,
        )
        if not decision.allowed:
            raise Denied(decision)
        return decision

    return call


def _shipped(ctx: CallContext) -> Callable[[Tool, str], object]:
    return ctx.decide


# CPU time of this thread: on a machine shared with other work, wall time mostly measures the neighbours.
CLOCK = time.thread_time_ns


def _per_call_ns(fn: Callable[[Tool, str], object], repeat: int) -> float:
    clock = CLOCK
    start = clock()
    for _ in range(repeat):
        for tool, target in CALLS:
            with contextlib.suppress(Denied):
                fn(tool, target)
    return (clock() - start) / (repeat * len(CALLS))


def _hook_ns(repeat: int) -> tuple[float, float]:
    clock = CLOCK
    start = clock()
    for _ in range(repeat):
        with telemetry.span("sidecar.decide"):
            pass
    span_ns = (clock() - start) / repeat
    start = clock()
    for _ in range(repeat):
        with telemetry.tool_call("sessions_send", "lead"):
            pass
    return span_ns, (clock() - start) / repeat


def run(rounds: int = 15, repeat: int = 2_000) -> dict[str, Any]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider

    ctx = _context()
    bare, shipped = _uninstrumented(ctx), _shipped(ctx)
    tracer_provider = TracerProvider()  # no processor: spans are built, then dropped
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    samples: dict[str, list[float]] = {"uninstrumented": [], "off": [], "on": []}
    telemetry.disable()
    for fn in (bare, shipped):
        _per_call_ns(fn, repeat // 10)  # warm up
    for _ in range(rounds):
        telemetry.disable()
        samples["uninstrumented"].append(_per_call_ns(bare, repeat))
        samples["off"].append(_per_call_ns(shipped, repeat))
        telemetry.enable(tracer_provider, meter_provider)
        samples["on"].append(_per_call_ns(shipped, repeat))
    telemetry.disable()
    span_ns, tool_ns = _hook_ns(repeat * 50)
    med = {k: sorted(v)[len(v) // 2] / 1000 for k, v in samples.items()}
    spread = {k: (min(v) / 1000, max(v) / 1000) for k, v in samples.items()}
    return {
        "rounds": rounds,
        "calls_per_round": repeat * len(CALLS),
        "median_us": med,
        "range_us": spread,
        "off_vs_none": med["off"] / med["uninstrumented"],
        "on_vs_none": med["on"] / med["uninstrumented"],
        "hook_off_ns": {"span": span_ns, "tool_call": tool_ns},
    }


def section(result: dict[str, Any]) -> str:
    m, r = result["median_us"], result["range_us"]
    rows = [
        ("uninstrumented (no hooks)", "uninstrumented", "1.00x"),
        ("telemetry off (default)", "off", f"{result['off_vs_none']:.2f}x"),
        ("telemetry on (SDK, spans dropped)", "on", f"{result['on_vs_none']:.2f}x"),
    ]
    lines = [
        "| `CallContext.decide`, 4-call mix | median per call | range over rounds | vs uninstrumented |",
        "|---|---|---|---|",
        *(
            f"| {name} | {m[k]:.2f} µs | {r[k][0]:.2f}-{r[k][1]:.2f} µs | {ratio} |"
            for name, k, ratio in rows
        ),
    ]
    hooks = result["hook_off_ns"]
    return (
        "\n".join(lines)
        + f"\n\n{result['rounds']} interleaved rounds of {result['calls_per_round']:,} decisions each. A hook alone "
        f"when off: `telemetry.span()` {hooks['span']:.0f} ns, `telemetry.tool_call()` {hooks['tool_call']:.0f} ns "
        "(a function call and one flag check, returning a shared no-op context manager)."
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    result = run(rounds=5, repeat=300) if args.quick else run()
    print(section(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
