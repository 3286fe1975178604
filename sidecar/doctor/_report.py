"""What `sidecar doctor` reports: one `Check` per finding, and the text, JSON and exit code of a run."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["PASS", "WARN", "FAIL", "SKIP"]
STATUSES: tuple[Status, ...] = ("PASS", "WARN", "FAIL", "SKIP")


@dataclass(frozen=True, slots=True)
class Check:
    """One finding. `detail` is one line; `fix`, when set, is what to run or edit."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


def report(checks: Sequence[Check]) -> dict[str, Any]:
    """The `--json` shape."""
    return {"ok": not any(c.status == "FAIL" for c in checks), "checks": [c.as_dict() for c in checks]}


def exit_code(checks: Sequence[Check]) -> int:
    return 1 if any(c.status == "FAIL" for c in checks) else 0


def render(checks: Sequence[Check]) -> str:
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        lines.append(f"{c.status}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.status != "PASS":
            first, *rest = c.fix.splitlines()
            lines.append(f"{'':6}fix: {first}")
            lines += [f"{'':11}{line}" for line in rest]
    counts = {s: sum(1 for c in checks if c.status == s) for s in STATUSES}
    lines.append("")
    lines.append(
        f"{counts['FAIL']} failed, {count(counts['WARN'], 'warning')}, {counts['PASS']} passed, "
        f"{counts['SKIP']} skipped"
    )
    return "\n".join(lines)


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


__all__ = ["STATUSES", "Check", "Status", "count", "exit_code", "render", "report"]
