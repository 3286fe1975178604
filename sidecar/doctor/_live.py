"""Doctor's view of a live sidecar: observe mode, an operator's pause, and whether the running sidecar
enforces the policy file as it is on disk (or refused its last edit, and why)."""

from __future__ import annotations

import time
from pathlib import Path

from sidecar.doctor._report import Check
from sidecar.mirror import PauseFile
from sidecar.policy import Policy, observe_warning
from sidecar.reload import fingerprint, read_status

_when = time.gmtime


def _at(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%SZ", _when(ts))


def check_live(policy: Policy | None, agent: str | None, state_dir: Path | None) -> list[Check]:
    checks: list[Check] = []
    if policy is not None:
        observed = [a for a in policy.observed_agents if agent is None or a == agent]
        if observed:
            first = policy.for_agent(observed[0])
            checks.append(
                Check(
                    "mode",
                    "WARN",
                    f"OBSERVE MODE for {', '.join(observed)}: " + observe_warning(first).split(": ", 1)[1],
                    f'Review `sidecar decisions --agent {observed[0]} --would-deny`, then set mode: "enforce" '
                    f"(or remove mode) in {policy.path}; a running sidecar applies it on save",
                )
            )
        else:
            checks.append(Check("mode", "PASS", "enforce: every denial is enforced"))
    if agent is None or state_dir is None:
        return checks
    pause = PauseFile.in_dir(state_dir).read()
    if pause is not None:
        by = f" by {pause.by}" if pause.by else ""
        checks.append(
            Check(
                "pause",
                "WARN",
                f"agent {agent} is paused{by} since {_at(pause.since)}: {pause.reason or 'no reason given'}",
                f"sidecar resume --agent {agent}",
            )
        )
    status = read_status(state_dir)
    if status is None:
        return checks
    pid, loaded = status.get("pid"), float(status.get("loadedAt") or 0)
    enforced = f"the sidecar (pid {pid}) enforces the policy loaded at {_at(loaded)}"
    if status.get("lastError"):
        checks.append(
            Check(
                "reload",
                "FAIL",
                f"{enforced}: it refused the last edit: {status['lastError']}",
                f"Fix {status.get('policy')} as the error says; the running sidecar applies it on save",
            )
        )
    elif policy is not None and status.get("fingerprint") != fingerprint(policy):
        checks.append(
            Check(
                "reload",
                "WARN",
                f"{enforced}, which differs from {policy.path} on disk (not reloaded yet, or it stopped)",
                f"Check that the sidecar for {agent} is running; it reloads within a second of a change",
            )
        )
    else:
        checks.append(Check("reload", "PASS", f"{enforced}, the same as on disk"))
    restart = status.get("restartNeededFor") or []
    if restart:
        checks.append(
            Check(
                "reload:restart",
                "WARN",
                f"{', '.join(restart)} changed since the sidecar started; that applies only after a restart",
                f"Restart the sidecar for {agent}",
            )
        )
    return checks


__all__ = ["check_live"]
