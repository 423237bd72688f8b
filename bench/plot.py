"""The benchmark's plot as a small SVG (no plotting library): inbound lag p99 and CPU per
call-minute against concurrent calls, one line per shape (and engine)."""

from __future__ import annotations

import math
from pathlib import Path
from xml.sax.saxutils import escape

from streaming.devtools.servers import LIVE, REALTIME

COLOURS = {"serve": "#1f6feb", "embedded": "#d29922", "relay": "#6e7781",
           "relay-daphne": "#8250df", "serve, GPT-Live": "#1a7f37"}  # fmt: skip
ENGINE_NAMES = {REALTIME: "Realtime", LIVE: "GPT-Live"}
WIDTH, HEIGHT, PANEL_W, PANEL_H, LEFT, TOP = 760, 300, 300, 200, 60, 40


def write(rows: list[dict], path: Path) -> None:
    path.write_text(svg(rows))


def svg(rows: list[dict]) -> str:
    sizes = sorted({r["calls"] for r in rows})
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
    ]
    lags = [r["lag_p99"] for r in rows if _finite(r["lag_p99"])]
    cpus = [r["cpu_s_per_call_minute"] for r in rows]
    panels = [
        ("inbound lag p99 (ms, log)", "lag_p99", LEFT, True, (1.0, max([*lags, 100.0]))),
        ("CPU s per call-minute", "cpu_s_per_call_minute", LEFT + PANEL_W + 90, False,
         (0.0, max([*cpus, 0.1]) * 1.1)),
    ]  # fmt: skip
    for title, key, x0, log, (low, high) in panels:
        parts += _axes(title, x0, sizes, low, high, log)
        for shape, colour in COLOURS.items():
            points = [
                (_x(x0, sizes, r["calls"]), _y(r[key], low, high, log))
                for r in sorted(rows, key=lambda r: r["calls"])
                if series(r) == shape and _finite(r[key])
            ]
            if points:
                line = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" '
                             'stroke-width="2"/>')  # fmt: skip
                parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>'
                          for x, y in points]  # fmt: skip
    for i, (shape, colour) in enumerate(COLOURS.items()):
        x = LEFT + i * 135
        parts.append(f'<rect x="{x}" y="{HEIGHT - 22}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{HEIGHT - 12}">{escape(shape)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def series(row: dict) -> str:
    """The line a row belongs to: its shape, and its engine when that is not the default."""
    engine = row.get("engine", REALTIME)
    return row["shape"] if engine == REALTIME else f"{row['shape']}, {ENGINE_NAMES[engine]}"


def _axes(title: str, x0: int, sizes: list[int], low: float, high: float, log: bool) -> list[str]:
    out = [
        f'<text x="{x0}" y="{TOP - 12}" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{x0}" y1="{TOP + PANEL_H}" x2="{x0 + PANEL_W}" y2="{TOP + PANEL_H}" '
        'stroke="black"/>',
        f'<line x1="{x0}" y1="{TOP}" x2="{x0}" y2="{TOP + PANEL_H}" stroke="black"/>',
    ]
    for n in sizes:
        x = _x(x0, sizes, n)
        out.append(f'<text x="{x:.1f}" y="{TOP + PANEL_H + 14}" text-anchor="middle">{n}</text>')
    out.append(f'<text x="{x0 + PANEL_W / 2}" y="{TOP + PANEL_H + 28}" '
               'text-anchor="middle">concurrent calls</text>')  # fmt: skip
    ticks = _log_ticks(low, high) if log else [low + (high - low) * k / 4 for k in range(5)]
    for value in ticks:
        y = _y(value, low, high, log)
        label = f"{value:g}" if log else f"{value:.2f}"
        out.append(f'<line x1="{x0 - 3}" y1="{y:.1f}" x2="{x0 + PANEL_W}" y2="{y:.1f}" '
                   'stroke="#ddd"/>')  # fmt: skip
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    return out


def _log_ticks(low: float, high: float) -> list[float]:
    ticks, value = [], 1.0
    while value <= high * 1.0001:
        ticks += [v for v in (value, 3 * value) if low <= v <= high]
        value *= 10
    return ticks


def _x(x0: int, sizes: list[int], n: int) -> float:
    # Sizes double from one to the next: evenly spaced.
    step = PANEL_W / max(len(sizes) - 1, 1)
    return x0 + sizes.index(n) * step if len(sizes) > 1 else x0 + PANEL_W / 2


def _y(value: float, low: float, high: float, log: bool) -> float:
    if log:
        value, low, high = math.log10(max(value, low)), math.log10(low), math.log10(high)
    share = (value - low) / (high - low) if high > low else 0.0
    return TOP + PANEL_H * (1 - min(max(share, 0.0), 1.0))


def _finite(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)
