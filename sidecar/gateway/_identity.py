"""Device identity: an Ed25519 key, the id derived from it, and the v3 signature over a connect.

The gateway recomputes the device id from the public key and verifies the signature over a `|`-joined
string it rebuilds from the connect params it received, so every field signed here must be byte-for-byte
what goes on the wire: same scope order, same token, same nonce, the challenge `ts` as signedAt.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, PublicFormat

_ASCII_UPPER_TO_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def b64url(data: bytes) -> str:
    """base64url without padding, the encoding of `device.publicKey` and `device.signature`."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def device_id_for(public_key_raw: bytes) -> str:
    """Lowercase hex SHA-256 of the raw 32-byte key (not of its SPKI encoding)."""
    if len(public_key_raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return hashlib.sha256(public_key_raw).hexdigest()


def normalize_metadata(value: str | None) -> str:
    """Trim, then lowercase A-Z only: the gateway leaves non-ASCII letters as they are."""
    if value is None:
        return ""
    return value.strip().translate(_ASCII_UPPER_TO_LOWER)


def signature_payload_v3(
    *,
    device_id: str,
    client_id: str,
    client_mode: str,
    role: str,
    scopes: Sequence[str],
    signed_at_ms: int,
    token: str | None,
    nonce: str,
    platform: str | None,
    device_family: str | None,
) -> str:
    return "|".join(
        [
            "v3",
            device_id,
            client_id,
            client_mode,
            role,
            ",".join(scopes),
            str(signed_at_ms),
            token or "",
            nonce,
            normalize_metadata(platform),
            normalize_metadata(device_family),
        ]
    )


class DeviceIdentity:
    """An Ed25519 device key. The private half never appears in repr, str or pickles of this object."""

    __slots__ = ("_key", "device_id", "public_key_raw")

    def __init__(self, key: Ed25519PrivateKey) -> None:
        self._key = key
        self.public_key_raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        self.device_id = device_id_for(self.public_key_raw)

    @classmethod
    def generate(cls) -> DeviceIdentity:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, seed: bytes) -> DeviceIdentity:
        if len(seed) != 32:
            raise ValueError("an Ed25519 private key is a 32-byte seed")
        return cls(Ed25519PrivateKey.from_private_bytes(seed))

    def private_bytes(self) -> bytes:
        """The raw 32-byte seed, for the secret store only."""
        return self._key.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    @property
    def public_key(self) -> str:
        return b64url(self.public_key_raw)

    def sign(self, payload: str) -> str:
        return b64url(self._key.sign(payload.encode("utf-8")))

    def verify(self, payload: str, signature: str) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key_raw).verify(
                b64url_decode(signature), payload.encode("utf-8")
            )
        except Exception:
            return False
        return True

    def __repr__(self) -> str:
        return f"DeviceIdentity(device_id={self.device_id!r})"

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("DeviceIdentity holds a private key and cannot be pickled")
