"""A real terminal for the benchmarks: a command run in a pseudo-terminal, its output fed to a VT emulator.

What a user feels is the time from a key (or the launch) to the frame on their screen. So the benchmarks run the
real `client-portal` command in a pty of a fixed size, keep a screen model (`pyte`) of everything it wrote, and
time the moment the screen first shows what it should: each chunk of output is stamped when it is read, and the
chunk that makes the screen right is the frame the user sees.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import subprocess
import termios
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

    def send(self, data: str) -> float:
        """Type `data`; returns the moment it was written."""
        stamp = time.perf_counter()
        os.write(self.fd, data.encode("utf-8"))
        return stamp

    def wait_until(self, condition: Callable[[list[str]], bool], timeout: float = 30.0) -> float:
        """Read output until `condition(screen lines)` holds; returns the time the deciding chunk was read.

        Raises:
            TimeoutError: the screen never got there (with what it showed, to see why).
        """
        if condition(self.screen.display):
            return time.perf_counter()
        deadline = time.perf_counter() + timeout
        while True:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                raise TimeoutError("the screen never showed what was expected; it showed:\n" + self.text())
            ready, _, _ = select.select([self.fd], [], [], min(remaining, 0.5))
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                chunk = b""
            stamp = time.perf_counter()
            if not chunk:
                raise TimeoutError("the program ended; its screen:\n" + self.text())
            self.bytes_read += len(chunk)
            self.stream.feed(chunk)
            if condition(self.screen.display):
                return stamp

    def drain(self, quiet: float = 0.15) -> None:
        """Read until the program has written nothing for `quiet` seconds (a settled screen)."""
        while True:
            ready, _, _ = select.select([self.fd], [], [], quiet)
            if not ready:
                return
            try:
                chunk = os.read(self.fd, 1 << 16)
            except OSError:
                return
            if not chunk:
                return
            self.stream.feed(chunk)

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
        os.close(self.fd)

    def __enter__(self) -> "Terminal":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
