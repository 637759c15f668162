"""An upload client that carries on by itself, as the browser library does.

:class:`ResumingUpload` runs one upload in a thread of its own: it connects,
says hello, sends from ``welcome.offset`` within the window, and after a
disconnect or a retryable error (``docs/protocol.rst``) connects again after a
jittered, doubling delay (the browser's schedule, ``jslib/src/backoff.js``,
scaled down so that tests stay short). Every connection attempt is recorded as
an :class:`Attempt` with the times that matter for measuring a restart: when the
welcome came, when the first ack after it came.

The test's own thread meanwhile kills, restarts or starves the server, and
waits (bounded) for what it expects with :meth:`ResumingUpload.wait_until`.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from test.integration.wsupload import Connection
from test.support.server import IncomingServer
from test.support.wsclient import Closed

RETRYABLE = frozenset({10, 12, 13, 21})
"""Error codes after which a client connects again (the "retry" column of the table)."""


def reconnect_delay(failures: int, first: float, most: float, rng: random.Random) -> float:
    """The browser's schedule: ceiling doubles per failure up to ``most``; upper half of it."""
    ceiling = min(most, first * 2 ** failures)
    return ceiling * (1 + rng.random()) / 2


@dataclass
class Attempt:
    """One connection attempt, and what came of it."""

    started: float
    """``time.monotonic()`` when the connection was tried."""
    refused: bool = False
    """The TCP connection or the handshake failed (the server is down)."""
    welcome: dict[str, Any] | None = None
    welcome_at: float | None = None
    first_ack_at: float | None = None
    """When the first ack after the welcome arrived."""
    acked: int = 0
    """The last acknowledged offset this connection saw (the welcome's offset at least)."""
    sent: int = 0
    """Offset just past the last byte sent on this connection."""
    error: dict[str, Any] | None = None
    close_code: int | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    ended_at: float | None = None

    @property
    def offset(self) -> int | None:
        return None if self.welcome is None else self.welcome["offset"]

    @property
    def states(self) -> list[str]:
        return [m["state"] for m in self.messages if m.get("type") == "state"]


class ResumingUpload:
    """Uploads ``data`` for ``ticket`` until finished, a final error, or ``deadline`` seconds.

    ``pause_at``: on the first connection that gets there, stop sending once
    ``pause_at`` bytes are sent, set :attr:`paused_at_mark`, and only read
    (acks) until that connection ends: a test kills the server then, with
    bytes still in flight. Later connections send everything.
    """

    def __init__(self, server: IncomingServer, ticket: str, data: bytes,
                 filename: str = "resuming.bin", chunk: int = 256 * 1024,
                 first_delay: float = 0.1, most_delay: float = 1.0, deadline: float = 30.0,
                 pause_at: int | None = None, socket_timeout: float = 20.0,
                 seed: int = 0) -> None:
        self.server = server
        self.ticket = ticket
        self.data = data
        self.filename = filename
        self.chunk = chunk
        self.first_delay = first_delay
        self.most_delay = most_delay
        self.deadline = deadline
        self.pause_at = pause_at
        self.socket_timeout = socket_timeout
        self.attempts: list[Attempt] = []
        self.outcome: str | None = None
        """``finished`` (heard it, or error 4 with state finished), ``failed: …`` or
        ``gave up``."""
        self.paused_at_mark = threading.Event()
        self._changed = threading.Condition()
        self._stop = threading.Event()
        self._rng = random.Random(seed)
        self._conn: Connection | None = None
        self._thread = threading.Thread(target=self._run, name=f"upload-{ticket[:8]}",
                                        daemon=True)

    # -- the test's side ---------------------------------------------------------------------------

    def start(self) -> ResumingUpload:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Give up (the thread ends at its next step; a blocked read ends with the socket)."""
        self._stop.set()
        conn = self._conn
        if conn is not None:
            conn.close()
        self._thread.join(self.socket_timeout + 5)

    def __enter__(self) -> ResumingUpload:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_until(self, predicate: Any, timeout: float, what: str = "condition") -> Any:
        """Wait (bounded) until ``predicate(self)`` is truthy; its value."""
        end = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate(self)
                if value:
                    return value
                left = end - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}; "
                                         f"outcome {self.outcome}, attempts:\n{self.summary()}")
                self._changed.wait(min(left, 0.1))

    def wait_done(self, timeout: float) -> str:
        self.wait_until(lambda u: u.outcome is not None, timeout, "the upload to end")
        assert self.outcome is not None
        return self.outcome

    @property
    def welcomed(self) -> list[Attempt]:
        return [a for a in self.attempts if a.welcome is not None]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [a.error for a in self.attempts if a.error is not None]

    def summary(self) -> str:
        start = self.attempts[0].started if self.attempts else 0.0
        lines = []
        for n, a in enumerate(self.attempts):
            if a.refused:
                lines.append(f"  #{n} +{a.started - start:.3f}s refused")
                continue
            lines.append(f"  #{n} +{a.started - start:.3f}s offset={a.offset} acked={a.acked} "
                         f"sent={a.sent} states={a.states} error={a.error} "
                         f"close={a.close_code}")
        return "\n".join(lines)

    # -- the client's side (its own thread) ------------------------------------------------------

    def _note(self) -> None:
        with self._changed:
            self._changed.notify_all()

    def _run(self) -> None:
        end = time.monotonic() + self.deadline
        failures = 0
        try:
            while not self._stop.is_set():
                if time.monotonic() >= end:
                    self.outcome = "gave up"
                    return
                attempt = Attempt(started=time.monotonic())
                self.attempts.append(attempt)
                progressed = self._one_connection(attempt)
                attempt.ended_at = time.monotonic()
                self._note()
                if self.outcome is not None:
                    return
                failures = 0 if progressed else failures + 1
                self._stop.wait(reconnect_delay(failures, self.first_delay, self.most_delay,
                                                self._rng))
        except BaseException as e:  # a bug in the client: say so instead of hanging the test
            self.outcome = f"failed: client crashed: {e!r}"
            raise
        finally:
            if self.outcome is None:
                self.outcome = "gave up"
            self._note()

    def _one_connection(self, attempt: Attempt) -> bool:
        """One connection, to its end; whether it made progress (a working connection)."""
        try:
            conn = Connection(self.server, timeout=self.socket_timeout)
        except OSError:  # refused (server down), or the handshake failed
            attempt.refused = True
            return False
        self._conn = conn
        attempt.messages = conn.messages
        try:
            welcome = conn.hello(self.ticket, len(self.data), self.filename)
            if welcome["type"] != "welcome":
                conn.until_closed()
                return self._ended(attempt, conn, progressed=False)
            attempt.welcome = welcome
            attempt.welcome_at = time.monotonic()
            attempt.acked = attempt.sent = welcome["offset"]
            self._note()
            self._send(attempt, conn)
            while True:  # read to the end: states, acks, the close
                self._read(attempt, conn)
        except TimeoutError:
            pass  # the server went silent: give up on this connection
        except OSError:
            # A send failed (the server closed while bytes were on their way): what it said
            # before closing, an error most likely, may still wait to be read.
            with contextlib.suppress(Closed, OSError):
                conn.ws.sock.settimeout(2.0)
                conn.until_closed()
        except Closed:
            pass
        finally:
            conn.close()
            self._conn = None
        # a working connection: one that got bytes stored (resets the backoff, as in a browser)
        return self._ended(attempt, conn, progressed=attempt.welcome is not None
                           and attempt.acked > (attempt.offset or 0))

    def _send(self, attempt: Attempt, conn: Connection) -> None:
        while conn.sent < len(self.data):
            if self.pause_at is not None and conn.sent >= self.pause_at:
                self.pause_at = None
                self.paused_at_mark.set()
                self._note()
                return
            piece_end = min(conn.sent + self.chunk, len(self.data))
            if self.pause_at is not None:
                piece_end = min(piece_end, self.pause_at)
            while piece_end - conn.acked > conn.window:
                self._read(attempt, conn)
            conn.send_binary(self.data[conn.sent:piece_end])
            attempt.sent = conn.sent
            conn.drain()
            self._took(attempt, conn)

    def _read(self, attempt: Attempt, conn: Connection) -> None:
        try:
            conn.next()
        finally:
            self._took(attempt, conn)

    def _took(self, attempt: Attempt, conn: Connection) -> None:
        if conn.acked > attempt.acked:
            attempt.acked = conn.acked
            if attempt.first_ack_at is None:
                attempt.first_ack_at = time.monotonic()
        self._note()

    def _ended(self, attempt: Attempt, conn: Connection, progressed: bool) -> bool:
        attempt.close_code = conn.close_code
        errors = conn.of_type("error")
        if errors:
            attempt.error = errors[-1]
        if "finished" in attempt.states:
            self.outcome = "finished"
        elif attempt.error is not None:
            code = attempt.error["code"]
            if code == 4 and attempt.error.get("state") == "finished":
                self.outcome = "finished"  # the news it missed while away
            elif code not in RETRYABLE:
                self.outcome = f"failed: error {code} {attempt.error.get('message')}"
        elif any(m.get("type") == "cancelled" for m in conn.messages):
            self.outcome = "failed: cancelled"
        with contextlib.suppress(Exception):
            self._note()
        return progressed
