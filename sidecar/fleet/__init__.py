"""The fleet view: the access matrix as an SVG picture and a self-contained HTML page, plus the
compact document both the static page and a running sidecar's live page render from."""

from sidecar.fleet._data import DecisionLike, page_data, recent_data, to_json
from sidecar.fleet._html import render_html
from sidecar.fleet._svg import render_svg

__all__ = ["DecisionLike", "page_data", "recent_data", "render_html", "render_svg", "to_json"]
