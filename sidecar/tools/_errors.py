"""What a tool call can end in besides a result: a policy denial, a bad call, or a gateway fault.

The MCP layer maps `Denied` and `BadCall` to tool errors the model reads, and `GatewayFault` to an MCP
error that names the operator's remedy.
"""

from __future__ import annotations

from sidecar.policy import Decision


class Denied(Exception):
    """The policy refused the call; the decision says which gate, why, and the fix."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(decision.message)
        self.decision = decision

    def text(self) -> str:
        d = self.decision
        return f"{d.message}\n[gate: {d.gate}] [decided by: {d.source}]\nFix: {d.fix}"


class BadCall(Exception):
    """The call itself is wrong (missing or conflicting arguments, a limit hit); the text says what to do."""


class GatewayFault(Exception):
    """The gateway could not be reached or refused the sidecar itself; the text names the remedy."""
