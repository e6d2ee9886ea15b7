"""Every key reaches the widget that had the focus when it was typed, however fast the keys come.

Why this file exists: Textual hands each key to the focused widget by posting it to that widget's queue and
goes straight on to the next key. What a key does to the focus happens later: tab is a binding, run when the
key has bubbled back up to the app through every queue on the way; a binding that opens a dialog pushes a
screen whose inputs are mounted, and focused (`Widget.focus` is itself queued), afterwards. Keys that arrive
in one burst (a paste, a fast typist, a laggy SSH link, tmux send-keys) were all handed out before any of
that, so `q@example.org<tab>Quinn` typed `Quinn` into the address, and the letters after `a` (add a contact)
went to the table under the dialog.

`KeysInOrderApp` makes input sequential, in one place: after a key (or a paste) is handed out, the input after
it waits in the app until the key has been dealt with everywhere it can have an effect. A *barrier* walks from
the widget the key went to up through each ancestor to the app; at each, it waits until that queue holds
nothing that could matter (the key, then what handling it posted: `Input.Changed`, the key bubbling to the
parent), and only then moves up. A binding runs at the app and can post work back down (`Input.Submitted`,
whose handler focuses the table), and a screen pushed by a binding is composed, mounted and focused later: so
while a walk had to wait anywhere, or the top screen changed, another walk starts from what has the focus now.
Only when a walk finds nothing is the next key handed out, to whatever has the focus then.

Two kinds of slow work can hold keys too. A dialog holds them while a short worker it started runs
(`hold_keys_until_done`: adding the contact, planning a send), so the keys after enter reach the dialog as it is
once enter's work has landed, or the screen under it once the dialog closed. A widget whose keys act on data
it is loading (the table after a search) makes keys for it wait (`make_keys_wait`), so space selects a row
of the results, not the row that was there before.

Mouse events are not held (a click moves the focus at once), except behind held keys, so that order holds.
Quit never waits. While a burst is worked through the screen is painted once, not after every key. Nothing
here is timed: a barrier that can no longer arrive (its widget was removed before it got there) is noticed by
a watchdog that looks for closed widgets, not for slow ones.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from textual import events, messages
from textual.app import App, ScreenStackError
from textual.message_pump import MessagePump
from textual.worker import Worker

MAX_DRAIN_ROUNDS = 8
"""How often a barrier waits behind a queue that still holds messages before moving on (a widget that
receives messages all the time, an animation, must not hold the keys forever)."""

MAX_WALKS = 8
"""How many walks one key may cause before its barrier stops waiting for the focus and the screens to settle
(a widget that receives messages all the time must not hold the keys forever)."""

INERT = (messages.Update, messages.Layout, messages.UpdateScroll, messages.Prompt, events.Idle)
"""Messages that paint or wake a widget, and never move the focus: a barrier does not wait behind them."""

WATCHDOG_SECONDS = 0.5
"""How often a pending barrier checks that the widget it waits in is still there (not a time-out: a slow
widget is waited for)."""


class _Barrier:
    """One key's barrier: where it is, and what it is waiting for."""

    def __init__(self) -> None:
        self.node: MessagePump | None = None
        """The widget, screen or app whose queue holds the barrier now."""
        self.screen = None
        """The screen that was on top when the barrier set out (a change means walking the new one)."""
        self.walks = 0
        self.dirty = False
        """This walk waited behind something somewhere: walk once more from what has the focus now."""
        self.arrived = False
        """At the app, waiting only for held workers to finish."""
        self.waiting_for = None
        """The widget the next key is for, which is not ready for it (`make_keys_wait`)."""


class KeysInOrderApp(App):
    """An `App` that hands each key out only once the key before it has had all its effects."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._held_input: deque[events.Event] = deque()
        """Input that arrived while a key was still being dealt with, in arrival order."""
        self._barrier: _Barrier | None = None
        """Not `None` while keys are held."""
        self._holding_workers: set[Worker] = set()
        """Workers that keys wait for (`hold_keys_until_done`)."""
        self._worker_waits: set[asyncio.Task] = set()
        self._watchdog_timer = None
        self._painting_held = False
        """Whether this app holds the screen's repaints (`App._begin_batch`) while a burst is worked through."""
        self._key_waits: dict[object, Callable[[], bool]] = {}
        """Widget -> whether keys for it must wait now (`make_keys_wait`)."""

    @property
    def keys_waiting(self) -> int:
        """How many keys (and other input) wait for the one before them to land; 0 when all have landed."""
        return len(self._held_input) + (self._barrier is not None)

    # --- the gate ---------------------------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if not self._is_user_input(event):
            await super().on_event(event)
            return
        if self._barrier is None:
            await self._hand_out(event)
        elif self._never_waits(event):
            await super().on_event(event)  # out of turn, and without holding what follows
        else:
            self._held_input.append(event)
            self._hold_painting()

    @staticmethod
    def _is_user_input(event: events.Event) -> bool:
        return isinstance(event, (events.Key, events.Paste, events.MouseEvent)) and not event.is_forwarded

    def _never_waits(self, event: events.Event) -> bool:
        """Quit does not depend on the focus, and must work while keys wait (for a slow worker, say)."""
        if not isinstance(event, events.Key):
            return False
        bindings = self._bindings.key_to_bindings.get(event.key, ())
        return any(binding.priority and binding.action in ("quit", "app.quit") for binding in bindings)

    async def _hand_out(self, event: events.Event) -> None:
        """Give `event` to Textual's own dispatch; after a key or a paste, hold what follows until it landed."""
        if not isinstance(event, (events.Key, events.Paste)):
            await super().on_event(event)
            return
        try:
            screen = self.screen
        except ScreenStackError:  # closing down: no screen is left to type into
            return
        target = screen.focused or screen
        barrier = self._barrier = _Barrier()
        barrier.screen = screen
        self._arm_watchdog()
        if (must_wait := self._key_waits.get(target)) is not None and must_wait():
            barrier.waiting_for = target
            self._held_input.appendleft(event)  # first in line once the widget is ready
            self._hold_painting()
            return
        await super().on_event(event)
        if barrier is not self._barrier:
            return  # the key's own handling already ended the wait (hold_keys_until_done on a finished worker)
        # Not forwarded: a priority binding took the key here, at the app; what it did is on the screen now.
        self._walk(barrier, target if event.is_forwarded else self.screen)

    def _release(self) -> None:
        """The key landed: hand out what was held, up to the next key (which holds the rest again)."""
        self._barrier = None
        if self._watchdog_timer is not None:
            self._watchdog_timer.pause()
        if self._held_input:
            self.call_next(self._hand_out_held)
        else:
            self._hold_painting()

    async def _hand_out_held(self) -> None:
        while self._barrier is None and self._held_input:
            await self._hand_out(self._held_input.popleft())
        self._hold_painting()

    def _hold_painting(self) -> None:
        """Paint once a burst has been worked through, not after each of its keys.

        Each key of a burst now waits for the one before it, so the screen would be laid out and drawn
        between every two keys (tens of milliseconds each: a 200-key paste took seconds). While keys are
        held and the one ahead is merely being handled (not waiting for a worker or a loading table, when
        the screen must show progress), repaints wait, as in `App.batch_update`.
        """
        barrier = self._barrier
        hold = bool(self._held_input) and barrier is not None and not barrier.arrived and barrier.waiting_for is None
        if hold and not self._painting_held:
            self._painting_held = True
            self._begin_batch()
        elif not hold and self._painting_held:
            self._painting_held = False
            self._end_batch()
            if not self._batch_count and self._screen_stack:
                self.screen.refresh()

    # --- the barrier ------------------------------------------------------------------------------------------

    def _walk(self, barrier: _Barrier, node: MessagePump) -> None:
        """Send `barrier` from `node` up to the app, waiting at each queue until it is empty."""
        self._queue_at(barrier, node, 0)

    def _walk_again(self, barrier: _Barrier) -> None:
        """Walk from the top screen, then (`dirty`) from what has the focus: a new phase of waiting."""
        barrier.walks = 0
        barrier.dirty = True
        barrier.screen = self.screen
        self._walk(barrier, self.screen)

    def _queue_at(self, barrier: _Barrier, node: MessagePump, rounds: int) -> None:
        if barrier is not self._barrier:
            return
        barrier.node = node
        if self._busy(node):
            barrier.dirty = True
        if not node.call_later(self._arrive, barrier, node, rounds):
            # Closed or closing: nothing more it handles can move the focus.
            self._move_on(barrier, node)

    def _arrive(self, barrier: _Barrier, node: MessagePump, rounds: int) -> None:
        """Runs in `node`'s own task: everything queued there before the barrier has been handled."""
        if barrier is not self._barrier:
            return
        if self._busy(node) and rounds < MAX_DRAIN_ROUNDS:
            self._queue_at(barrier, node, rounds + 1)  # behind what handling those messages posted
        else:
            self._move_on(barrier, node)

    def _move_on(self, barrier: _Barrier, node: MessagePump) -> None:
        if node is self:
            self._at_app(barrier)
        else:
            self._queue_at(barrier, node._parent or self, 0)

    @staticmethod
    def _busy(node: MessagePump) -> bool:
        """Whether `node` holds a message that could still move the focus (painting and idling cannot).

        Waiting behind every repaint would draw the screen once per key of a burst: tens of milliseconds each.
        `_pending_message` is the one message Textual has already taken from the queue to peek at it; the
        queue is Textual's own `_queue.Queue` (Textual is pinned, see pyproject.toml).
        """
        pending = getattr(node, "_pending_message", None)
        if pending is not None and not isinstance(pending, INERT):
            return True
        queued = getattr(node._message_queue, "values", None)
        if queued is None:
            return node.message_queue_size > 0
        return any(not isinstance(message, INERT) for message in queued)

    def _at_app(self, barrier: _Barrier) -> None:
        if (barrier.dirty or self.screen is not barrier.screen) and barrier.walks < MAX_WALKS:
            # Handling the key made more work (a binding ran here and posted `Input.Submitted` back down to
            # the input, whose handler moves the focus; a dialog opened and is still being mounted): walk
            # again from what has the focus now, until a walk finds every queue on the way empty.
            barrier.walks += 1
            barrier.dirty = False
            barrier.screen = self.screen
            self._walk(barrier, self.screen.focused or self.screen)
            return
        if self._holding_workers:
            barrier.arrived = True
            self._hold_painting()
            return  # `_worker_finished` walks again when they are done
        self._release()

    # --- holding keys for a dialog's short work --------------------------------------------------------------

    def hold_keys_until_done(self, worker: Worker) -> None:
        """Hold the keys that arrive from now on until `worker` has finished and its messages are handled.

        For short work that decides where the next keys go (a dialog that closes when its contact is added):
        never for a send or an import, which escape must be able to cancel or that take long.
        """
        if worker.is_finished:
            return
        self._holding_workers.add(worker)
        if self._barrier is None:
            self._barrier = _Barrier()
            self._barrier.screen = self.screen
            self._barrier.arrived = True
            self._arm_watchdog()
        self._hold_painting()
        task = asyncio.create_task(self._wait_for(worker))
        self._worker_waits.add(task)
        task.add_done_callback(self._worker_waits.discard)

    async def _wait_for(self, worker: Worker) -> None:
        try:
            await worker.wait()
        except Exception:  # failed or cancelled: finished either way
            pass
        self.call_later(self._worker_finished, worker)

    def _worker_finished(self, worker: Worker) -> None:
        self._holding_workers.discard(worker)
        barrier = self._barrier
        if barrier is None or not barrier.arrived or self._holding_workers:
            return
        # What the worker posted (its result, a dismiss) lands before the keys go on.
        barrier.arrived = False
        self._walk_again(barrier)

    # --- widgets that are not ready for keys yet ---------------------------------------------------------------

    def make_keys_wait(self, widget: object, while_: Callable[[], bool]) -> None:
        """Keys for `widget` (it has the focus when their turn comes) wait while `while_()` is true.

        For a widget whose keys act on data it is still loading (the table after a search: space would select
        the row that was there before). The widget's owner calls `keys_may_continue` when it may be ready.
        """
        self._key_waits[widget] = while_

    def keys_may_continue(self) -> None:
        """Look again at the widget the next key waits for (it may have finished loading)."""
        barrier = self._barrier
        if barrier is None or barrier.waiting_for is None:
            return
        must_wait = self._key_waits.get(barrier.waiting_for)
        if must_wait is None or not must_wait():
            self._release()

    # --- the watchdog -----------------------------------------------------------------------------------------

    def _arm_watchdog(self) -> None:
        if self._watchdog_timer is None:
            self._watchdog_timer = self.set_interval(WATCHDOG_SECONDS, self._watchdog, name="keys-in-order")
        else:
            self._watchdog_timer.resume()

    def _watchdog(self) -> None:
        barrier = self._barrier
        if barrier is not None and barrier.waiting_for is not None:
            self.keys_may_continue()  # the owner may have missed saying so (a load that failed)
            return
        if barrier is None or barrier.arrived:
            return
        node = barrier.node
        if node is not None and node is not self and (node._closing or node._closed):
            # The barrier was queued in a widget that went away before handling it: walk the top screen.
            self._walk_again(barrier)
