"""The multi-session host: one process for every agent and session, each call decided as its attested caller."""

from sidecar.host._app import CallerBinder, HostApp, build_host_app, endpoint_path
from sidecar.host._attest import (
    FIELD,
    AttestationError,
    Caller,
    Verifier,
    agent_token,
    args_digest,
    canonical,
    load_or_create_key,
    make_attestation,
)
from sidecar.host._run import Host, HostConfig, governed_agents, open_host, run_host
from sidecar.host._state import DEFAULT_PORT, HostLocked, HostPaths, WriterLock

__all__ = [
    "DEFAULT_PORT",
    "FIELD",
    "AttestationError",
    "Caller",
    "CallerBinder",
    "Host",
    "HostApp",
    "HostConfig",
    "HostLocked",
    "HostPaths",
    "Verifier",
    "WriterLock",
    "agent_token",
    "args_digest",
    "build_host_app",
    "canonical",
    "endpoint_path",
    "governed_agents",
    "load_or_create_key",
    "make_attestation",
    "open_host",
    "run_host",
]
