"""`ListingIndex`: the mirror's rows in `sessions_list` order, and per requester the rows it may see.

A list call used to read every mirrored key from SQLite and run the list guard over each of them, so one
100-row page cost as much as the whole mirror (docs/benchmarks.md, item 4). Here each row's place in the
order and its verdict are kept as rows are written, so a page costs its own rows:

- a row's place is one int, its *sort key*: undated rows last, then `updatedAt` newest first, then the
  order rows were first written (SQLite's rowid for rows loaded from disk), exactly the order of
  `ORDER BY updated_at DESC, rowid`;
- a *listing* is a sorted list of sort keys with the rows beside it: every row (to count what a
  requester does not see), or only the rows one requester's guard shows, optionally on one gateway;
- listings are built on first use and kept up to date on each put and drop while the guard that built
  them still decides every row the same way (`same_scope`: same policy object, requester and class). A
  reloaded policy, or a requester whose class changed, rebuilds its listing on its next call. A write of
  many rows at once (a snapshot) drops every listing instead: the next call rebuilds it in one pass.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import Protocol

Ref = tuple[str, str]  # (gateway, key)

TS_BITS = 42  # updatedAt in ms until the year 2109
SEQ_BITS = 40
TS_MAX = (1 << TS_BITS) - 1
UNDATED = 1 << (TS_BITS + SEQ_BITS)
SEQ_MASK = (1 << SEQ_BITS) - 1
MAX_LISTINGS = 16
"""Listings kept (least recently used dropped): a sidecar serves one requester; a host a few at a time."""
BULK_ROWS = 256
"""A write of more rows than this drops the listings instead of updating them row by row."""


def sort_key(updated_at: int | None, seq: int) -> int:
    """The row's place in `sessions_list` order, as one int (smaller is listed first)."""
    if updated_at is None:
        return UNDATED | seq
    ts = min(max(int(updated_at), 0), TS_MAX)
    return ((TS_MAX - ts) << SEQ_BITS) | seq


def since_cut(updated_since: int | None) -> int | None:
    """The sort key below which rows have `coalesce(updatedAt, 0) >= updated_since` (None: every row)."""
    if updated_since is None or updated_since <= 0:
        return None
    if updated_since > TS_MAX:
        return 0
    return (TS_MAX - updated_since + 1) << SEQ_BITS


class RowFilter(Protocol):
    """What decides a row for one requester (`sidecar.policy.ListGuard` is one)."""

    def visible(self, gateway: str, raw: str) -> bool: ...

    def same_scope(self, other: object) -> bool: ...


class _Listing:
    """Rows in order: `keys` sorted, `refs` beside them; `shows` None holds every row."""

    __slots__ = ("gateway", "keys", "refs", "shows")

    def __init__(self, shows: RowFilter | None, gateway: str | None, pairs: list[tuple[int, Ref]]) -> None:
        self.shows = shows
        self.gateway = gateway
        self.keys = [sk for sk, _ in pairs]
        self.refs = [ref for _, ref in pairs]

    def holds(self, ref: Ref) -> bool:
        return (self.gateway is None or ref[0] == self.gateway) and (
            self.shows is None or self.shows.visible(ref[0], ref[1])
        )

    def add(self, sk: int, ref: Ref) -> None:
        at = bisect_left(self.keys, sk)
        self.keys.insert(at, sk)
        self.refs.insert(at, ref)

    def discard(self, sk: int) -> None:
        at = bisect_left(self.keys, sk)
        if at < len(self.keys) and self.keys[at] == sk:
            del self.keys[at]
            del self.refs[at]

    def count(self, cut: int | None) -> int:
        return len(self.keys) if cut is None else bisect_left(self.keys, cut)


class ListingIndex:
    """The listings of one SessionIndex. `rows` gives every (ref, sort key) the index holds, `count` how
    many rows it holds."""

    __slots__ = ("_count", "_listings", "_rows")

    def __init__(self, rows: Callable[[], Iterable[tuple[Ref, int]]], count: Callable[[], int]) -> None:
        self._rows = rows
        self._count = count
        self._listings: OrderedDict[tuple[object, str | None], _Listing] = OrderedDict()

    def __len__(self) -> int:
        return len(self._listings)

    def moved(self, ref: Ref, old: int | None, new: int | None) -> None:
        """Row `ref` was written (`new` its sort key) or dropped (`new` None); `old` its previous key."""
        for listing in self._listings.values():
            if old is not None:
                listing.discard(old)
            if new is not None and listing.holds(ref):
                listing.add(new, ref)

    def forget(self) -> None:
        """Drop every listing (many rows changed at once): each is rebuilt on its next use."""
        self._listings.clear()

    def page(
        self,
        shows: RowFilter,
        scope: object,
        *,
        gateway: str | None = None,
        updated_since: int | None = None,
        limit: int | None = None,
        want: Callable[[Ref], bool] | None = None,
    ) -> tuple[list[Ref], int]:
        """The first `limit` rows `shows` lets through (and `want` accepts), in order, and how many rows it
        hid. `scope` names the requester (one listing per scope and gateway); rows on `gateway` only, and
        only those with `coalesce(updatedAt, 0) >= updated_since`."""
        cut = since_cut(updated_since)
        shown = self._listing(scope, shows, gateway)
        visible = shown.count(cut)
        if cut is None and gateway is None:
            hidden = self._count() - visible  # every row: no listing of them needed
        else:
            hidden = self._listing(("*", None), None, gateway).count(cut) - visible
        page: list[Ref] = []
        if limit is not None and limit <= 0:
            return page, hidden
        rows: Iterator[Ref] = islice(shown.refs, visible)
        if want is None:
            page = list(rows if limit is None else islice(rows, limit))
            return page, hidden
        for ref in rows:
            if want(ref):
                page.append(ref)
                if limit is not None and len(page) >= limit:
                    break
        return page, hidden

    def _listing(self, scope: object, shows: RowFilter | None, gateway: str | None) -> _Listing:
        name = (scope, gateway)
        held = self._listings.get(name)
        if held is not None and (shows is None or (held.shows is not None and held.shows.same_scope(shows))):
            self._listings.move_to_end(name)
            return held
        if shows is None:
            pairs = [(sk, ref) for ref, sk in self._rows() if gateway is None or ref[0] == gateway]
        else:
            visible = shows.visible
            pairs = [
                (sk, ref)
                for ref, sk in self._rows()
                if (gateway is None or ref[0] == gateway) and visible(ref[0], ref[1])
            ]
        pairs.sort()
        built = self._listings[name] = _Listing(shows, gateway, pairs)
        self._listings.move_to_end(name)
        while len(self._listings) > MAX_LISTINGS:
            self._listings.popitem(last=False)
        return built
