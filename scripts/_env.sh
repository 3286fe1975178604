# Shared by scripts/*: one place that knows where the venv and caches live.
ROOT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${SIDECAR_VENV:-$ROOT_DIR/.venv}"
CACHE_DIR="${SIDECAR_CACHE:-$ROOT_DIR/.cache}"
export ROOT_DIR VENV CACHE_DIR

step() { printf '\n==> %s\n' "$*" >&2; }

ensure_venv() {
  local stamp="$VENV/.installed-$(sha256sum "$ROOT_DIR/pyproject.toml" | cut -c1-16)"
  if [ ! -x "$VENV/bin/python" ]; then
    step "creating $VENV"
    python3 -m venv "$VENV"
  fi
  if [ ! -f "$stamp" ]; then
    step "installing openclaw-sessions-sidecar with dev and gateway extras"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e "$ROOT_DIR[dev,gateway,otel]"
    rm -f "$VENV"/.installed-* && touch "$stamp"
  fi
}
