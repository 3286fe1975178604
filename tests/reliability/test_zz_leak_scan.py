"""Runs last in tests/reliability: no token or private key in anything the suite produced.

Every tool result recorded, every file under every sidecar root (logs, stderr captures, mirror databases,
policies), against every secret the suite handled: gateway tokens, the HTTP bearer token, and each device
private key and device token from the 0600 file stores (which hold them by design and are not scanned).
"""

from __future__ import annotations

import pytest

from tests.reliability.support import LEAKS


def test_no_token_or_private_key_appears_in_any_output_log_mirror_or_file_the_suite_produced() -> None:
    if not LEAKS.roots:
        pytest.skip("no reliability scenario that writes files ran before this one")
    leaks, stats = LEAKS.scan()
    assert stats["secrets"] > len(LEAKS.secrets), "the file stores should hold device keys and tokens"
    assert stats["mirrors"] >= 1 and stats["logs"] >= 1, stats
    assert leaks == [], leaks[:20]
