"""A call's page as a picture: lanes of who spoke when, drawn as SVG by the admin template.

Everything is computed here (positions in pixels, labels); the template only draws it, so the
page needs no JavaScript and no front-end build.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from calls.models import Call, CallEvent, Role, Turn
from streaming.ground.durations import clock

WIDTH = 960
LEFT = 90  # room for the lane names
LANE_HEIGHT = 34
TOP = 10
LANES = (("caller", "Caller"), ("agent", "Agent"), ("tool", "Tools"), ("event", "Events"))
# Events closer than this (in pixels) share one dot, so that their labels do not overlap.
EVENT_GROUP_PX = 110
EVENT_LABELS = {
    "incoming": "call came in",
    "StreamStarted": "stream started",
    "StreamStopped": "stream stopped",
    "StreamError": "stream error",
    "call.started": "ringing",
    "call.answered": "answered",
    "call.completed": "hung up",
    "call.failed": "failed",
    "bridge.ended": "agent left",
    "bridge.failed": "agent failed",
    "barge-in": "interrupted",
    "idle nudge": "nudged the quiet caller",
    "transfer.dial": "transfer dialled",
}


@dataclass
class Bar:
    x: float
    width: float
    y: float
    css: str
    title: str


@dataclass
class Mark:
    x: float
    y: float
    css: str
    title: str
    label: str = ""

    @property
    def label_end(self) -> bool:
        """Near the right edge the label goes to the left of its dot."""
        return self.x > WIDTH - 140


@dataclass
class Tick:
    x: float
    label: str


@dataclass
class Timeline:
    width: int
    height: int
    seconds: float
    lanes: list[tuple[str, float]] = field(default_factory=list)  # (name, y of its middle)
    bars: list[Bar] = field(default_factory=list)
    marks: list[Mark] = field(default_factory=list)
    ticks: list[Tick] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.bars and not self.marks


def event_ms(call: Call, at: datetime) -> int:
    """An event's time on the call's clock (0 = the stream socket opened)."""
    origin = call.bridge_started_at or call.answered_at or call.started_at
    return round((at - origin).total_seconds() * 1000)


def build(call: Call, turns: list[Turn], events: list[CallEvent]) -> Timeline:
    points = [(e, event_ms(call, e.occurred_at)) for e in events if e.kind in EVENT_LABELS]
    end_ms = max(
        [t.ended_ms or t.started_ms or 0 for t in turns] + [ms for _, ms in points] + [1000],
    )
    start_ms = min([0] + [ms for _, ms in points])
    span = max(1, end_ms - start_ms)
    scale = (WIDTH - LEFT - 20) / span

    def x(ms: float) -> float:
        return round(LEFT + (ms - start_ms) * scale, 1)

    lane_y = {key: TOP + i * LANE_HEIGHT for i, (key, _) in enumerate(LANES)}
    timeline = Timeline(
        width=WIDTH,
        height=TOP + len(LANES) * LANE_HEIGHT + 24,
        seconds=span / 1000,
        lanes=[(name, lane_y[key] + LANE_HEIGHT / 2) for key, name in LANES],
    )
    for turn in turns:
        if turn.started_ms is None:
            continue
        y = lane_y[turn.role] + 6
        if turn.role == Role.TOOL:
            ok = "ok" if turn.tool_ok else ("failed" if turn.tool_ok is False else "waiting")
            end = turn.ended_ms if turn.ended_ms is not None else turn.started_ms
            timeline.bars.append(
                Bar(x(turn.started_ms), max(4.0, x(end) - x(turn.started_ms)), y,
                    f"tool {ok}", f"{turn.tool_name} ({ok}) at {clock(turn.started_ms)}")
            )  # fmt: skip
            continue
        end = turn.ended_ms if turn.ended_ms is not None else turn.started_ms + 500
        css = turn.role + (" interrupted" if turn.interrupted else "")
        title = f"{turn.get_role_display()} {clock(turn.started_ms)}: {turn.text[:120]}"
        if turn.latency_ms is not None:
            title += f" (answered after {turn.latency_ms} ms)"
        timeline.bars.append(
            Bar(x(turn.started_ms), max(2.0, x(end) - x(turn.started_ms)), y, css, title)
        )
        if turn.interrupted:
            timeline.marks.append(
                Mark(x(end), lane_y["agent"] + LANE_HEIGHT / 2, "cut", "interrupted by the caller")
            )
    groups: list[list[tuple[str, int]]] = []
    for event, ms in sorted(points, key=lambda p: p[1]):
        label = (EVENT_LABELS[event.kind], ms)
        if groups and x(ms) - x(groups[-1][0][1]) < EVENT_GROUP_PX:
            groups[-1].append(label)
        else:
            groups.append([label])
    for group in groups:
        title = ", ".join(f"{label} at {clock(ms)}" for label, ms in group)
        short = group[0][0] + (f" +{len(group) - 1}" if len(group) > 1 else "")
        event_y = lane_y["event"] + LANE_HEIGHT / 2
        timeline.marks.append(Mark(x(group[0][1]), event_y, "event", title, short))
    step = _tick_step(span)
    first = -(-start_ms // step) * step
    for ms in range(int(first), int(end_ms) + 1, step):
        timeline.ticks.append(Tick(x(ms), clock(ms) if ms >= 0 else "-" + clock(-ms)))
    return timeline


def _tick_step(span_ms: int) -> int:
    """A round step giving at most MAX_TICKS ticks, however long the span (events posted with
    odd times included): the page is drawn in the process that carries live calls."""
    for step in TICK_STEPS:
        if span_ms / step <= MAX_TICKS:
            return step
    day = TICK_STEPS[-1]
    return day * -(-span_ms // (day * MAX_TICKS))


MAX_TICKS = 12
SECOND, MINUTE, HOUR = 1000, 60_000, 3_600_000
TICK_STEPS = (SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND, MINUTE,
              2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR,
              6 * HOUR, 12 * HOUR, 24 * HOUR)  # fmt: skip
