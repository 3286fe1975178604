"""Timing helpers shared by the benchmarks: percentiles, interleaved async timing, best-of-N rounds."""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Stat:
    """Percentiles of one series in microseconds; `rounds` holds each round's p50 (the spread)."""

    p50_us: float
    p99_us: float
    n: int
    rounds: tuple[float, ...] = field(default=())

    @classmethod
    def of(cls, samples_ns: list[int]) -> Stat:
        s = sorted(samples_ns)
        return cls(s[len(s) // 2] / 1000, s[min(len(s) - 1, int(len(s) * 0.99))] / 1000, len(s))

    @property
    def p50_ms(self) -> float:
        return self.p50_us / 1000

    @property
    def p99_ms(self) -> float:
        return self.p99_us / 1000


def median(values: list[float]) -> float:
    return float(statistics.median(values))


async def interleaved(
    calls: dict[str, Callable[[], Awaitable[object]]],
    n: int,
    *,
    rounds: int = 3,
    warmup: int = 20,
    clock: Callable[[], int] = time.perf_counter_ns,
) -> dict[str, Stat]:
    """Time each call `n` times per round, alternating call by call so load from other processes hits
    every series alike; keep, per series, the round with the lowest median (best of `rounds`).

    The order of the series is shuffled on every pass (seeded): a series that always ran right after
    another would inherit whatever work that one left behind (a gateway still busy after answering).
    `clock` is wall time unless told (`time.thread_time_ns` times the calling thread's CPU alone, for calls
    that do all their work in it).
    """
    for _ in range(warmup):
        for fn in calls.values():
            await fn()
    best: dict[str, Stat] = {}
    medians: dict[str, list[float]] = {name: [] for name in calls}
    order = list(calls.items())
    rng = random.Random(7)
    for _ in range(rounds):
        samples: dict[str, list[int]] = {name: [] for name in calls}
        for _ in range(n):
            rng.shuffle(order)
            for name, fn in order:
                start = clock()
                await fn()
                samples[name].append(clock() - start)
        for name, series in samples.items():
            stat = Stat.of(series)
            medians[name].append(stat.p50_us)
            if name not in best or stat.p50_us < best[name].p50_us:
                best[name] = stat
    return {
        name: Stat(s.p50_us, s.p99_us, s.n, tuple(round(m, 1) for m in medians[name]))
        for name, s in best.items()
    }
