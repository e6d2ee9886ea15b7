"""A real terminal for the benchmarks: a command run in a pseudo-terminal, its output fed to a VT emulator.

What a user feels is the time from a key (or the launch) to the frame on their screen. So the benchmarks run the
real `client-portal` command in a pty of a fixed size, keep a screen model (`pyte`) of everything it wrote, and
time the moment the screen first shows what it should: each chunk of output is stamped when it arrives, and the
chunk that makes the screen right is the frame the user sees.

The chunks are read and stamped by a thread of their own, as soon as the program writes them, and the screen
model digests them afterwards. `pyte` is pure Python: it takes 3 to 15 ms to digest each 4 kB of escape codes,
where a terminal takes microseconds, and when the same loop read, stamped and digested, a large frame's last
chunk was stamped after the model had digested the ones before it (a 52 kB frame read 170 ms late on a loaded
machine). The program's own pace of writing is still timed: its writes block when the pty's buffer is full,
and the reading thread drains that buffer at once. How many bytes each wait read is kept (`bytes_waited`): what
a key costs on a slow link.
"""

from __future__ import annotations

import fcntl
import os
import queue
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable

import pyte


class Terminal:
    """`command` running in a pty of `columns` x `lines`; `screen` is what a person would see."""

    def __init__(self, command: list[str], columns: int = 120, lines: int = 40, env: dict | None = None) -> None:
        self.columns, self.lines = columns, lines
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
        environment = {**os.environ, "TERM": "xterm-256color", "COLORTERM": "truecolor", **(env or {})}
        environment.pop("TEXTUAL", None)
        self.launched = time.perf_counter()
        self.process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=environment,
                                        start_new_session=True, close_fds=True)
        os.close(slave)
        self.fd = master
        self.screen = pyte.Screen(columns, lines)
        self.stream = pyte.ByteStream(self.screen)
        self.bytes_read = 0
        self.bytes_waited = 0
        """Bytes digested by the last `wait_until` (the frames a key cost)."""
        # The reading thread must get the interpreter as soon as a read returns, not after the main thread's
        # next 5 ms slice of digesting: its stamps are the measurement.
        sys.setswitchinterval(0.0002)
        self._chunks: queue.SimpleQueue[tuple[float, bytes]] = queue.SimpleQueue()
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        """Read the pty as fast as the program writes, stamping each chunk; an empty chunk marks the end."""
        while True:
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                chunk = b""
            self._chunks.put((time.perf_counter(), chunk))
            if not chunk:
                return

    def _next(self, timeout: float) -> tuple[float, bytes] | None:
        """The next chunk and when it arrived (None if nothing came within `timeout`)."""
        try:
            return self._chunks.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def send(self, data: str) -> float:
        """Type `data`; returns the moment it was written."""
        stamp = time.perf_counter()
        os.write(self.fd, data.encode("utf-8"))
        return stamp

    def wait_until(self, condition: Callable[[list[str]], bool], timeout: float = 30.0) -> float:
        """Digest output until `condition(screen lines)` holds; returns when the deciding chunk arrived.

        Raises:
            TimeoutError: the screen never got there (with what it showed, to see why).
        """
        self.bytes_waited = 0
        if condition(self.screen.display):
            return time.perf_counter()
        deadline = time.perf_counter() + timeout
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("the screen never showed what was expected; it showed:\n" + self.text())
            got = self._next(min(remaining, 0.5))
            if got is None:
                continue
            stamp, chunk = got
            if not chunk:
                self._chunks.put(got)  # the end stays the end for any later wait
                raise TimeoutError("the program ended; its screen:\n" + self.text())
            self.bytes_read += len(chunk)
            self.bytes_waited += len(chunk)
            self.stream.feed(chunk)
            if condition(self.screen.display):
                return stamp

    def drain(self, quiet: float = 0.15) -> None:
        """Digest output until the program has written nothing for `quiet` seconds (a settled screen)."""
        while True:
            got = self._next(quiet)
            if got is None:
                return
            if not got[1]:
                self._chunks.put(got)
                return
            self.stream.feed(got[1])

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display)

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self._reader.join(timeout=5)  # the pty's end (EIO) ends it
        os.close(self.fd)

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
