"""`sidecar doctor`: every link from policy to gateway checked, each finding with its fix."""

from sidecar.doctor._report import Check, exit_code, render, report
from sidecar.doctor._run import CONNECT_TIMEOUT_S, TOKEN_ENV, DoctorOptions, run_checks

__all__ = [
    "CONNECT_TIMEOUT_S",
    "TOKEN_ENV",
    "Check",
    "DoctorOptions",
    "exit_code",
    "render",
    "report",
    "run_checks",
]
