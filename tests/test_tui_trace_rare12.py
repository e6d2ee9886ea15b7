"""The dashboard's timeline (`CLIENT_PORTAL_TRACE`, read by benchmarks/timeline.py): with it on, a search key
leaves its events in order, key to frame; with it off (the default) nothing is written and no paint is wrapped."""

from __future__ import annotations

from models import demo
from tests.fixtures_tui import settle
from tui import reader


def _events(path) -> list[str]:
    return [line.split(" ", 2)[2] for line in path.read_text().splitlines()]


async def test_a_traced_search_key_leaves_its_timeline(portal_app, tmp_path, monkeypatch):
    demo.seed(60)
    log = tmp_path / "trace.txt"
    monkeypatch.setattr(reader, "_TRACE", str(log))
    monkeypatch.setattr(reader, "_trace_fd", [])
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        await settle(pilot)
        start = len(_events(log))
        await pilot.press("a")
        await settle(pilot)
    events = _events(log)[start:]
    at = 0
    for name in ("typed 'a'", "start load_window", "end load_window", "window loaded", "paint", "painted"):
        at = events.index(name, at)  # each one is there, after the one before (the echo may be painted first)
    by_thread: dict[str, list[float]] = {}
    for line in log.read_text().splitlines():
        stamp, thread, _ = line.split(" ", 2)
        by_thread.setdefault(thread, []).append(float(stamp))
    assert all(stamps == sorted(stamps) for stamps in by_thread.values())  # (threads' lines may interleave)
    threads = {line.split(" ")[1] for line in log.read_text().splitlines() if "load_window" in line}
    assert threads and all(name.startswith("portal-reader") for name in threads)


async def test_no_timeline_unless_asked(portal_app, tmp_path, monkeypatch):
    demo.seed(20)
    monkeypatch.setattr(reader, "_TRACE", None)
    app = portal_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert "_compositor_refresh" not in vars(app.screen)  # Textual's own paint, unwrapped
        await pilot.press("slash", "a")
        await settle(pilot)
    assert not reader.tracing()
    assert not list(tmp_path.glob("*trace*"))
