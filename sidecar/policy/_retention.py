"""How long the decision log keeps its rows: `decisions: { maxAgeDays, maxRows }` in the policy file.

Both bounds hold at once: a row goes when it is older than `maxAgeDays`, and the oldest rows go while
there are more than `maxRows`. The log is pruned as it is written (see the mirror's retention), so it
never grows without bound. Rows of the last hour are never pruned by count, whatever `maxRows` says:
the `limits.spawnsPerHour` budget is counted from them, and pruning them would hand the budget back.
"""

from __future__ import annotations

from typing import NamedTuple

from sidecar.policy._model import Policy

__all__ = [
    "DEFAULT_DECISION_MAX_AGE_DAYS",
    "DEFAULT_DECISION_MAX_ROWS",
    "DecisionRetention",
    "decision_retention",
]

DEFAULT_DECISION_MAX_AGE_DAYS = 30
DEFAULT_DECISION_MAX_ROWS = 100_000


class DecisionRetention(NamedTuple):
    """The decision log's bounds: rows older than `max_age_days` go, and the oldest past `max_rows`."""

    max_age_days: int = DEFAULT_DECISION_MAX_AGE_DAYS
    max_rows: int = DEFAULT_DECISION_MAX_ROWS


def decision_retention(policy: Policy) -> DecisionRetention:
    """The policy file's `decisions` bounds, each defaulted when unset (the schema has checked both)."""
    given = policy.doc.data.get("decisions")
    given = given if isinstance(given, dict) else {}
    return DecisionRetention(
        int(given.get("maxAgeDays", DEFAULT_DECISION_MAX_AGE_DAYS)),
        int(given.get("maxRows", DEFAULT_DECISION_MAX_ROWS)),
    )
