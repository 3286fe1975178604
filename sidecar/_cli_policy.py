"""`sidecar explain` and `sidecar policy show` (filled in with the policy engine)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    del sub
