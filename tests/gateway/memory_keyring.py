"""An in-memory keyring backend for tests, which also remembers every secret it was ever given.

keyring registers every concrete backend subclass globally and could auto-select this one (priority 1)
in a later `init_backend()`; tests therefore always install it explicitly with `keyring.set_keyring`.
"""

from __future__ import annotations

from typing import ClassVar

import keyring.backend
import keyring.errors


class MemoryKeyring(keyring.backend.KeyringBackend):
    priority = 1  # type: ignore[assignment]
    seen: ClassVar[set[str]] = set()

    def __init__(self) -> None:
        super().__init__()
        self.entries: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.entries.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.entries[(service, username)] = password
        MemoryKeyring.seen.add(password)

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self.entries[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(username) from None
