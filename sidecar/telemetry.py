"""OpenTelemetry traces and metrics, an optional extra (`pip install openclaw-sessions-sidecar[otel]`).

Off unless `enable` is called (`sidecar serve --otel`, or `SIDECAR_OTEL=1`): every hook below then
returns after one check of a module flag, and nothing of the OpenTelemetry SDK is imported.

On, a tool call is one span (a child of the MCP SDK's `tools/call` span, whose parent is the W3C
`traceparent` of the request's `_meta` when the client sent one), with child spans for the decision,
each forward to a gateway and the wait for a reply. Every gateway request frame carries the current
`traceparent` (OpenClaw's request frame has the field), so the target's run joins the same trace. The
metrics are `sidecar.decisions` (a counter by tool, outcome and gate), `sidecar.decision.duration` and
`sidecar.tool.duration` (histograms, seconds).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from sidecar.config import OTEL_ENV

ENV_VAR = OTEL_ENV
SERVICE_NAME = "openclaw-sessions-sidecar"
_NOOP: AbstractContextManager[None] = nullcontext()


class _State:
    enabled = False
    tracer: Any = None
    decisions: Any = None
    decision_seconds: Any = None
    tool_seconds: Any = None


_state = _State()


class TelemetryUnavailable(RuntimeError):
    """Tracing was asked for but the OpenTelemetry SDK is not installed."""


def enabled() -> bool:
    return _state.enabled


def enable(tracer_provider: Any = None, meter_provider: Any = None) -> None:
    """Turn tracing and metrics on, with these providers or the global ones (set by `configure`)."""
    from opentelemetry import metrics, trace

    tracer_source = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    meter_source = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    _state.tracer = tracer_source.get_tracer("sidecar")
    meter = meter_source.get_meter("sidecar")
    _state.decisions = meter.create_counter(
        "sidecar.decisions", unit="{decision}", description="Policy decisions by tool, outcome and gate"
    )
    _state.decision_seconds = meter.create_histogram(
        "sidecar.decision.duration", unit="s", description="Time to decide one call locally"
    )
    _state.tool_seconds = meter.create_histogram(
        "sidecar.tool.duration", unit="s", description="Time of one tool call, forward and wait included"
    )
    _state.enabled = True


def disable() -> None:
    _state.enabled = False
    _state.tracer = _state.decisions = _state.decision_seconds = _state.tool_seconds = None


def configure(agent: str) -> None:
    """Install global SDK providers exporting over OTLP (configured by the standard OTEL_* variables,
    e.g. OTEL_EXPORTER_OTLP_ENDPOINT), then `enable`.

    Raises:
        TelemetryUnavailable: the `otel` extra is not installed.
    """
    try:
        from opentelemetry import metrics, trace
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise TelemetryUnavailable(
            f"OpenTelemetry is not installed ({exc.name}): pip install 'openclaw-sessions-sidecar[otel]', "
            f"or run without --otel / {ENV_VAR}"
        ) from None
    resource = Resource.create({"service.name": SERVICE_NAME, "sidecar.agent": agent})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(tracer_provider)
    reader = PeriodicExportingMetricReader(OTLPMetricExporter())
    metrics.set_meter_provider(MeterProvider(resource=resource, metric_readers=[reader]))
    enable()


def shutdown() -> None:
    """Flush and stop the providers `configure` installed (spans still batched are exported)."""
    if not _state.enabled:
        return
    from opentelemetry import metrics, trace

    for provider in (trace.get_tracer_provider(), metrics.get_meter_provider()):
        stop = getattr(provider, "shutdown", None)
        if callable(stop):
            stop()
    disable()


def wanted(flag: bool = False) -> bool:
    """`--otel` given, or SIDECAR_OTEL set to something other than 0/false/no/off."""
    value = os.environ.get(ENV_VAR, "").strip().lower()
    return flag or (bool(value) and value not in ("0", "false", "no", "off"))


def span(name: str, **attributes: Any) -> AbstractContextManager[Any]:
    """A child span of the current one, or a shared no-op when tracing is off."""
    if not _state.enabled:
        return _NOOP
    return _state.tracer.start_as_current_span(name, attributes=_clean(attributes))  # type: ignore[no-any-return]


def annotate(**attributes: Any) -> None:
    """Set attributes on the current span (no-op when off)."""
    if _state.enabled:
        from opentelemetry import trace

        trace.get_current_span().set_attributes(_clean(attributes))


def decided(tool: str, outcome: str, gate: str | None, seconds: float) -> None:
    if _state.enabled:
        attrs = {"sidecar.tool": tool, "sidecar.outcome": outcome, "sidecar.gate": gate or "none"}
        _state.decisions.add(1, attrs)
        _state.decision_seconds.record(seconds, attrs)
        annotate(**attrs)


@contextmanager
def _timed_tool(tool: str, agent: str) -> Iterator[None]:
    started = time.perf_counter()
    outcome = "ok"
    with _state.tracer.start_as_current_span(
        f"sidecar {tool}", attributes={"sidecar.tool": tool, "sidecar.requester": agent}
    ):
        try:
            yield
        except BaseException as exc:
            outcome = type(exc).__name__
            raise
        finally:
            _state.tool_seconds.record(
                time.perf_counter() - started, {"sidecar.tool": tool, "sidecar.result": outcome}
            )


def tool_call(tool: str, agent: str) -> AbstractContextManager[Any]:
    """The span of one tool call, and its latency, or a shared no-op when off."""
    if not _state.enabled:
        return _NOOP
    return _timed_tool(tool, agent)


def traceparent() -> str | None:
    """The W3C traceparent of the current span, to carry on a gateway request; None when off or unset."""
    if not _state.enabled:
        return None
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    # Only the sampled bit: version-00 parsers (OpenClaw's among them) may refuse other flags.
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags) & 0x01:02x}"


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}
