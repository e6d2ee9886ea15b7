"""A headless dashboard in its own process, driven by an auto-pilot, for the many-admins soak test (issue 5).

    python tests/dashboard_driver.py --db PATH --name a --seconds 20 --seed 1 --done PATH

For `--seconds` it presses keys as an admin would (invite a new address and send, copy a magic link and revoke
it, send a login email to the highlighted contact, move around, search), then touches `DONE.NAME` (it stopped
writing) and waits until the file `DONE` exists (the test creates it when every writer has stopped), waits for
its header to catch up with the database through its own `PRAGMA data_version` poll, and prints one JSON object
on stdout: every notification it showed, the header's numbers, and how many of each action it completed (and
how many invitations reached "done"). Mail goes where the environment says (the test points it at aiosmtpd).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures_tui import settle  # noqa: E402


async def _to_main(pilot) -> None:
    from tui.screens.main import MainScreen

    for _ in range(8):
        await settle(pilot)
        if isinstance(pilot.app.screen, MainScreen):
            return
        await pilot.press("escape")
    raise RuntimeError(f"stuck on {pilot.app.screen!r}")


async def _type(pilot, text: str) -> None:
    await pilot.press(*text)


async def drive(args: argparse.Namespace) -> dict:
    from models.db import database
    from tui.app import ClientPortalApp
    from tui.screens.main import MainScreen
    from tui.widgets.stats_header import StatsHeader, load_header_info

    from models.backends import is_server_url

    app = ClientPortalApp(args.db if is_server_url(args.db) else Path(args.db))  # a server's URL is no path
    rng = random.Random(args.seed)
    shown: list[dict] = []
    done_actions: dict[str, int] = {}
    notify = app.notify

    def recording_notify(message, *a, **kw):
        shown.append({"message": str(message), "severity": kw.get("severity", "information")})
        return notify(message, *a, **kw)

    app.notify = recording_notify
    async with app.run_test(size=(120, 36), notifications=True) as pilot:
        await settle(pilot)
        deadline = time.monotonic() + args.seconds
        n = 0
        while time.monotonic() < deadline:
            n += 1
            action = rng.choice(("invite", "invite", "magic_revoke", "login", "move", "search"))
            if action == "invite":
                await pilot.press("i")
                await settle(pilot)
                await _type(pilot, f"{args.name}-{n}@example.com")
                await settle(pilot)
                await pilot.press("enter")  # invite and send
                await settle(pilot)
                if getattr(app.screen, "stage", None) == "done":
                    done_actions["invite_done"] = done_actions.get("invite_done", 0) + 1
            elif action == "magic_revoke":
                if app.screen.table.highlighted is None:
                    continue
                await pilot.press("m")
                await settle(pilot)
                await pilot.press("r")  # revoke the link just made
                await settle(pilot)
            elif action == "login":
                if app.screen.table.highlighted is None:
                    continue
                await pilot.press("l")
                await settle(pilot)
                await pilot.press("enter")  # send
                await settle(pilot)
            elif action == "move":
                await pilot.press(*rng.choice((["down"], ["down", "down"], ["up"], ["end"], ["home"])))
            else:
                await pilot.press("slash")
                await _type(pilot, rng.choice(("cli", args.name, "example")))
                await settle(pilot)
                await pilot.press("escape")
            await _to_main(pilot)
            done_actions[action] = done_actions.get(action, 0) + 1

        Path(f"{args.done}.{args.name}").touch()  # tell the test this dashboard stopped writing
        # Every writer has stopped once the done file exists: the header must then catch up by polling.
        while not Path(args.done).exists():
            await pilot.pause(0.1)
        header = app.screen.query_one(StatsHeader)
        catch_up = time.monotonic() + 30
        while time.monotonic() < catch_up:
            await settle(pilot)
            if isinstance(app.screen, MainScreen) and header.info == load_header_info(header.data_dir):
                break
            await pilot.pause(0.2)
        stats = dataclasses.asdict(header.info.stats)
        url = header.info.url
    database.close()
    return {"name": args.name, "notifications": shown, "stats": stats, "url": url, "actions": done_actions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--done", required=True, help="File whose existence means every other writer stopped.")
    args = parser.parse_args()
    result = asyncio.run(drive(args))
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    main()
