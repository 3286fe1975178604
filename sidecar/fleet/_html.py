"""The fleet page: one self-contained HTML file (inline style, script and data; no network)."""

from __future__ import annotations

import html
from typing import Any

from sidecar.fleet._assets import BODY, CSS, SCRIPT
from sidecar.fleet._data import to_json

# No fetches, frames, fonts or images from anywhere: the page can be mailed, archived or opened offline.
CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; connect-src 'self'"


def render_html(data: dict[str, Any] | None) -> str:
    """The page with `data` (from `page_data`) embedded, or, for `None`, the live shell that fetches
    `data.json` and `decisions.json` from the sidecar that serves it."""
    title = "Access matrix" + (f" \u2014 {data['policy']}" if data else "")
    payload = to_json(data) if data is not None else ""
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>{BODY}\n"
        f'<script type="application/json" id="fleet-data">{payload}</script>\n'
        f"<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )
