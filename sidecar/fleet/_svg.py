"""The access matrix as one SVG picture: a grid per tool, every cell colored by outcome and gate, with
a tooltip (<title>) naming the gate and the key that decided it."""

from __future__ import annotations

from xml.sax.saxutils import escape

from sidecar.fleet._data import gate_style
from sidecar.policy import GATES, Matrix

ALLOWED = "#2f9e5b"
OBSERVED = "~ allowed in observe mode, would be denied at the gate shown"


def _color(gate: str | None) -> str:
    if gate is None:
        return ALLOWED
    return gate_style(gate, GATES.index(gate) if gate in GATES else 0)[1]


def _letter(gate: str | None) -> str:
    return "\u2713" if gate is None else gate_style(gate, 0)[0]


FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif"


def render_svg(matrix: Matrix) -> str:
    n = len(matrix.agents)
    size = 22 if n <= 12 else 14 if n <= 40 else 8
    char = 6.6 if size >= 14 else 5.0
    label = int(max((len(a) for a in matrix.agents), default=4) * char) + 12
    grid = n * size
    panel_w, panel_h = label + grid + 24, label + grid + 40
    per_row = 2 if n <= 40 else 1
    rows = (len(matrix.tools) + per_row - 1) // per_row
    legend_h = 28
    legend_w = sum(24 + int(len(g or "allowed") * 6.2) for g in (None, *GATES)) + 24
    observed = any(c.would_deny for c in matrix.cells)
    legend_w += int(len(OBSERVED) * 6.2) + 16 if observed else 0
    title = f"Access matrix of {matrix.policy}"
    width = max(per_row * panel_w + 16, legend_w, int(len(title) * 9.2) + 24)
    height = 40 + rows * panel_h + legend_h
    small = max(7, min(11, size - 6))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" style="{FONT}" role="img">',
        f"<title>{escape(title)}</title>",
        f'<rect width="{width}" height="{height}" fill="#fafafa"/>',
        f'<text x="12" y="22" font-size="15" font-weight="600">{escape(title)}</text>',
        '<text x="12" y="36" font-size="11" fill="#6b7280">row = calling agent, column = target agent; '
        "hover a cell for the gate and the key that decided it</text>",
    ]
    for t, tool in enumerate(matrix.tools):
        ox = 8 + (t % per_row) * panel_w
        oy = 44 + (t // per_row) * panel_h
        allowed = sum(matrix.cell(a, b, tool).allowed for a in matrix.agents for b in matrix.agents)
        out.append(
            f'<g transform="translate({ox},{oy})"><text x="0" y="14" font-size="13" font-weight="600">'
            f'{tool}</text><text x="{len(tool) * 8 + 12}" y="14" font-size="11" fill="#6b7280">'
            f"{allowed} of {n * n} allowed</text>"
        )
        top = 22 + label
        for j, b in enumerate(matrix.agents):
            x = label + j * size + size / 2 + small / 3
            out.append(
                f'<text font-size="{small}" transform="translate({x:.1f},{top - 4}) rotate(-90)">{escape(b)}</text>'
            )
        for i, a in enumerate(matrix.agents):
            y = top + i * size
            out.append(
                f'<text x="{label - 4}" y="{y + size / 2 + small / 3:.1f}" font-size="{small}" '
                f'text-anchor="end">{escape(a)}</text>'
            )
            for j, b in enumerate(matrix.agents):
                c = matrix.cell(a, b, tool)
                verdict = (
                    f"allowed in observe mode; enforce would deny at {c.gate}"
                    if c.would_deny
                    else "allowed"
                    if c.allowed
                    else f"denied at {c.gate}"
                )
                tip = escape(f"{a} \u2192 {b} ({tool}): {verdict}\n{c.source or ''}")
                x = label + j * size
                stroke = ' stroke="#1d1f23" stroke-opacity=".35"' if a == b else ""
                if c.would_deny:  # allowed, outlined in the color of the gate enforce would deny at
                    stroke = f' stroke="{_color(c.gate)}" stroke-width="2.5" stroke-dasharray="3 2"'
                fill = ALLOWED if c.allowed else _color(c.gate)
                out.append(
                    f'<rect x="{x + 0.5}" y="{y + 0.5}" width="{size - 1}" height="{size - 1}" rx="2" '
                    f'fill="{fill}"{stroke}><title>{tip}</title></rect>'
                )
                if size >= 14:
                    mark = "~" + _letter(c.gate) if c.would_deny else _letter(None if c.allowed else c.gate)
                    out.append(
                        f'<text x="{x + size / 2}" y="{y + size / 2 + small / 3:.1f}" font-size="{small}" '
                        f'fill="#fff" font-weight="700" text-anchor="middle" pointer-events="none">{mark}</text>'
                    )
        out.append("</g>")
    ly = height - legend_h + 14
    x = 12
    for gate in (None, *GATES):
        name = "allowed" if gate is None else gate
        out.append(f'<rect x="{x}" y="{ly - 10}" width="12" height="12" rx="2" fill="{_color(gate)}"/>')
        out.append(f'<text x="{x + 16}" y="{ly}" font-size="11">{name}</text>')
        x += 24 + int(len(name) * 6.2)
    if observed:
        out.append(
            f'<rect x="{x}" y="{ly - 10}" width="12" height="12" rx="2" fill="{ALLOWED}" stroke="#1d1f23" '
            'stroke-width="2" stroke-dasharray="3 2"/>'
        )
        out.append(f'<text x="{x + 16}" y="{ly}" font-size="11">{OBSERVED}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
