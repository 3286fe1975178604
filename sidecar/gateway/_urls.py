"""Gateway URLs: which are acceptable, and one spelling per gateway for naming stored secrets.

Plain `ws://` sends the device token and every session transcript in clear text, so it is only allowed
to a loopback host unless the caller opts in explicitly (the reference clients draw the same line).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit, urlunsplit

from sidecar.gateway._errors import InsecureGatewayURL, InvalidGatewayURL

DEFAULT_PORTS = {"ws": 80, "wss": 443}


def is_loopback_host(host: str) -> bool:
    name = host.strip().lower().rstrip(".")
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def canonical_url(url: str) -> str:
    """Lowercase scheme and host, no default port, no trailing `/`: one name per gateway endpoint."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidGatewayURL(
            f"gateway URL {url!r} is not a ws:// or wss:// URL",
            "Pass the gateway's WebSocket URL, e.g. --gateway ws://127.0.0.1:18789",
        )
    host = parts.hostname
    if not host:
        raise InvalidGatewayURL(f"gateway URL {url!r} has no host", "e.g. --gateway ws://127.0.0.1:18789")
    if parts.username or parts.password:
        raise InvalidGatewayURL(
            "gateway URL must not carry credentials",
            "Remove the user:password@ part; the shared token is read from an environment variable",
        )
    try:
        port = parts.port
    except ValueError:
        raise InvalidGatewayURL(
            f"gateway URL {url!r} has an invalid port", "e.g. ws://127.0.0.1:18789"
        ) from None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    return urlunsplit((scheme, netloc, path, parts.query, ""))


def check_url(url: str, *, allow_insecure: bool = False) -> str:
    """The canonical URL, or `InsecureGatewayURL` for ws:// to a non-loopback host without opt-in."""
    canonical = canonical_url(url)
    parts = urlsplit(canonical)
    if parts.scheme == "ws" and not allow_insecure and not is_loopback_host(parts.hostname or ""):
        raise InsecureGatewayURL(
            f"refusing plain ws:// to {parts.hostname}: the device token and session contents would cross the "
            "network unencrypted",
            "Use wss://, or an SSH tunnel to the gateway's loopback port (ssh -N -L 18789:127.0.0.1:18789 "
            "host, then ws://127.0.0.1:18789); on a trusted private network only, opt in explicitly "
            "(--allow-insecure / allow_insecure=True)",
        )
    return canonical
