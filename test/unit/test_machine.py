"""The machine of a live ticket: its table, the races it closes, and random interleavings."""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import attrs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred

from incoming.errors import ErrorCode, IncomingError
from incoming.office import DAMAGED, INPUTS, TABLE, Phase, TicketMachine
from incoming.tickets import State
from test.support.doubles import HeldThreads
from test.support.harness import SMALL, Server

DATA = bytes(range(256)) * 80  # 20 480 bytes: three chunks of SMALL's 8 KiB
DIGEST = hashlib.sha256(DATA).hexdigest()


def settle(server: Server, rounds: int = 5) -> None:
    """Let held storage work and zero-delay calls run until nothing is left."""
    for _ in range(rounds):
        server.threads.run() if isinstance(server.threads, HeldThreads) else None
        server.clock.advance(0)


def upload_all(conn, data: bytes = DATA, start: int = 0) -> None:
    for at in range(start, len(data), SMALL.chunk_size):
        conn.send_bytes(data[at:at + SMALL.chunk_size])


def test_the_table_answers_every_input_in_every_phase():
    """Each phase names an action for each input, and each action exists: no input can meet
    a phase that has no answer for it."""
    for phase in Phase:
        assert set(TABLE[phase]) == set(INPUTS), phase
        for action in TABLE[phase].values():
            assert callable(getattr(TicketMachine, "_" + action, None)), action


def test_expiry_while_a_client_comes_back_has_one_outcome(tmp_path):
    """After a restart, a ticket expired by the janitor while its client reconnects ends
    expired: the client is refused, the backend hears "expired" and is never handed a file
    (the 0.1 office ended it both ways)."""
    first = Server(tmp_path)
    ticket = first.ticket()
    conn = first.connect()
    conn.hello(ticket, len(DATA))
    conn.send_bytes(DATA[:8192])
    conn.lose()
    server = attrs.evolve(first.restarted(), threads=HeldThreads())
    server.clock.advance(SMALL.ticket_lifetime + 1)
    server.office.expire_abandoned()  # bytes being removed: held in the storage threads
    again = server.connect()
    answer = again.hello(ticket, len(DATA))
    assert (answer["type"], answer["code"]) == ("error", ErrorCode.TICKET_CLOSED)
    upload_all(again, start=8192)
    settle(server)
    assert server.state(ticket.id) == "expired"
    assert [(t.cancelled_by, t.cancel_reason) for t, _ in server.handover.calls] == [
        ("server", "expired")]
    assert not any(list((tmp_path / folder).iterdir()) for folder in ("partial", "complete"))


def test_bytes_in_flight_behind_a_cancel_end_as_cancelled(tmp_path):
    """A client that cancels while its bytes flow hears cancelled, never an error: bytes that
    were still on their way are dropped (5 times in 8 the 0.1 server answered error 14)."""
    server = Server(tmp_path, threads=HeldThreads())
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": len(DATA)})
    settle(server)
    conn.send_bytes(DATA[:8192])
    conn.send({"type": "cancel", "reason": "changed my mind"})
    conn.send_bytes(DATA[8192:16384])
    settle(server)
    kinds = [m["type"] for m in conn.messages()]
    assert "error" not in kinds and kinds[-1] == "cancelled", kinds
    assert server.state(ticket.id) == "cancelled"
    assert [t.cancelled_by for t, _ in server.handover.calls] == ["frontend"]


def finished_ticket(server: Server, result: str = ""):
    ticket = server.ticket(remove_file_when_finished=False)
    conn = server.connect()
    conn.hello(ticket, len(DATA))
    upload_all(conn)
    settle(server)
    server.handover.answer("done", result=result)
    settle(server)
    return ticket, conn


def test_a_finished_ticket_refuses_another_file(tmp_path):
    """A finished ticket presented again with a file of another size or digest is refused
    with error 6 or 20; the same file hears the news (error 4, finished) with the digest and
    the backend's result."""
    server = Server(tmp_path)
    ticket, _ = finished_ticket(server, result='{"url":"/p/1"}')
    other = server.connect()
    assert other.hello(ticket, len(DATA) + 1)["code"] == ErrorCode.SIZE_MISMATCH
    other = server.connect()
    other.send({"type": "hello", "ticket": ticket.id, "size": len(DATA), "sha256": "0" * 64})
    assert other.messages()[-1]["code"] == ErrorCode.DIGEST_MISMATCH
    same = server.connect()
    same.send({"type": "hello", "ticket": ticket.id, "size": len(DATA), "sha256": DIGEST})
    news = same.messages()[-1]
    assert (news["code"], news["state"], news["sha256"], news["result"]) == (
        ErrorCode.TICKET_CLOSED, "finished", DIGEST, '{"url":"/p/1"}')


def test_the_backends_result_reaches_the_client_and_the_status(tmp_path):
    """A result in the backend's answer comes with "finished" and in upload_status."""
    server = Server(tmp_path)
    ticket, conn = finished_ticket(server, result='{"url":"/p/1"}')
    finished = [m for m in conn.messages() if m.get("state") == "finished"]
    assert finished == [{"type": "state", "state": "finished", "result": {"url": "/p/1"}}]
    assert server.office.status(ticket.id, "").result["result"] == {"url": "/p/1"}


def test_finish_upload_carries_a_result_after_wait(tmp_path):
    """finish_upload's result replaces nothing the backend did not say: it is the result."""
    server = Server(tmp_path)
    ticket = server.ticket()
    conn = server.connect()
    conn.hello(ticket, len(DATA))
    upload_all(conn)
    settle(server)
    server.handover.answer("wait")
    settle(server)
    server.office.finish_upload(ticket.id, "", '{"done":true}')
    assert conn.messages()[-1] == {"type": "state", "state": "finished",
                                   "result": {"done": True}}


def test_a_promised_digest_is_awaited_and_checked(tmp_path):
    """With integrity promised, the file is stored only when the client's digest has come
    and equals the server's."""
    server = Server(tmp_path)
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": len(DATA), "integrity": "sha256"})
    upload_all(conn)
    settle(server)
    assert server.state(ticket.id) == "uploading" and not server.handover.calls
    conn.send({"type": "digest", "sha256": DIGEST})
    settle(server)
    assert server.state(ticket.id) == "handing_over"
    assert server.handover.calls[0][0].sha256 == DIGEST


def test_a_damaged_file_is_cancelled_and_the_backend_told_why(tmp_path):
    """A client digest that differs from the stored file's: error 20, the bytes removed, and
    the backend hears cancelled=yes with the reason; no file is handed over."""
    server = Server(tmp_path)
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": len(DATA), "integrity": "sha256",
               "sha256": "f" * 64})
    upload_all(conn)
    settle(server)
    error = [m for m in conn.messages() if m["type"] == "error"]
    assert [(e["code"], e["message"]) for e in error] == [(ErrorCode.DIGEST_MISMATCH, DAMAGED)]
    assert server.state(ticket.id) == "cancelled"
    [(told, _)] = server.handover.calls
    assert (told.cancelled_by, told.cancel_reason) == ("server", DAMAGED)
    assert not any(list((tmp_path / folder).iterdir()) for folder in ("partial", "complete"))


def test_a_different_digest_for_an_upload_under_way_is_refused(tmp_path):
    """A second connection naming another digest than the first is another file: error 20,
    and the upload is left as it was."""
    server = Server(tmp_path)
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": len(DATA), "sha256": DIGEST})
    other = server.connect()
    other.send({"type": "hello", "ticket": ticket.id, "size": len(DATA), "sha256": "0" * 64})
    assert other.messages()[-1]["code"] == ErrorCode.DIGEST_MISMATCH
    assert server.state(ticket.id) == "uploading"


# -- random interleavings -------------------------------------------------------------------------

STEP_NAMES = (["connect"] * 3 + ["bytes"] * 8 + ["digest"] * 2 + ["storage"] * 4
              + ["pause", "unpause", "cancel", "lose", "backend_cancel", "expire", "answer_done",
                 "answer_wait", "answer_fail", "finish", "finish", "tick", "tick"])
STEPS = st.lists(st.sampled_from(STEP_NAMES), max_size=50)
"""Weighted so that every outcome is common: finished, failed, waiting, cancelled, expired,
and uploads left under way."""


class Interleaving:
    """Drives one ticket through random inputs, with storage and handover finishing at random
    moments, and remembers what it sent."""

    def __init__(self, root: Path) -> None:
        self.server = Server(root, threads=HeldThreads())
        self.ticket = self.server.ticket(remove_file_when_finished=False)
        self.conn = None
        self.sent = 0
        self.answered = 0

    def step(self, name: str) -> None:
        getattr(self, "_" + name)()

    def _connect(self) -> None:
        self.conn = self.server.connect()
        self.conn.send({"type": "hello", "ticket": self.ticket.id, "size": len(DATA),
                        "integrity": "sha256"})
        self.server.threads.run()
        welcome = [m for m in self.conn.messages() if m["type"] == "welcome"]
        self.sent = welcome[0]["offset"] if welcome else None

    def _bytes(self) -> None:
        if self.conn is not None and self.sent is not None and self.sent < len(DATA):
            chunk = DATA[self.sent:self.sent + SMALL.chunk_size]
            self.conn.send_bytes(chunk)
            self.sent += len(chunk)

    def _send(self, message: dict) -> None:
        if self.conn is not None:
            self.conn.send(message)

    def _digest(self) -> None:
        self._send({"type": "digest", "sha256": DIGEST})

    def _pause(self) -> None:
        self._send({"type": "pause"})

    def _unpause(self) -> None:
        self._send({"type": "unpause"})

    def _cancel(self) -> None:
        self._send({"type": "cancel", "reason": "random"})

    def _lose(self) -> None:
        if self.conn is not None:
            self.conn.lose()
            self.conn = None

    def _backend_cancel(self) -> None:
        self.server.office.cancel_by_backend(self.ticket.id, "").addErrback(_expected)

    def _expire(self) -> None:
        self.server.clock.advance(SMALL.ticket_lifetime + 1)
        self.server.office.expire_abandoned().addErrback(_expected)

    def _storage(self) -> None:
        self.server.threads.run()

    def _tick(self) -> None:
        self.server.clock.advance(0)

    def _pending_call(self) -> Deferred | None:
        for _, call in self.server.handover.calls:
            if not call.called:
                return call
        return None

    def _answer(self, how: str) -> None:
        from incoming.handover import BackendAnswer

        call = self._pending_call()
        if call is None:
            return
        if how == "fail":
            call.errback(IncomingError(ErrorCode.HANDOVER_FAILED, "never took it"))
        else:
            call.callback(BackendAnswer(how if how in ("done", "wait") else "ok"))

    def _answer_done(self) -> None:
        self._answer("done")

    def _answer_wait(self) -> None:
        self._answer("wait")

    def _answer_fail(self) -> None:
        self._answer("fail")

    def _finish(self) -> None:
        self.server.office.finish_upload(self.ticket.id, "").addErrback(_expected)

    def drain(self) -> None:
        """Let everything under way finish: storage, zero-delay calls, pending callbacks."""
        for _ in range(20):
            self.server.threads.run()
            self.server.clock.advance(0)
            call = self._pending_call()
            if call is not None:
                self._answer("done")


def _expected(failure):
    failure.trap(IncomingError)  # a refusal is an answer; anything else would fail the test


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(steps=STEPS)
def test_any_interleaving_ends_one_way_and_the_backend_hears_that_way(steps):
    """Whatever the order of inputs, with storage and handover finishing at random moments:
    the ticket reaches at most one outcome, the backend hears exactly that outcome, and the
    bytes are removed only when the ticket ends without a file."""
    with tempfile.TemporaryDirectory() as root:
        run = Interleaving(Path(root))
        for step in steps:
            run.step(step)
        run.drain()
        ticket = run.server.registry.tickets[run.ticket.id]
        files = [t for t, _ in run.server.handover.calls if not t.cancelled_by]
        notices = [t for t, _ in run.server.handover.calls if t.cancelled_by]
        stored = Path(root) / "complete" / run.ticket.id
        partial = Path(root) / "partial" / run.ticket.id
        if ticket.state in (State.CANCELLED, State.EXPIRED):
            assert not files and len(notices) == 1
            assert notices[0].state is ticket.state
            assert not stored.exists() and not partial.exists()
        elif ticket.state in (State.FINISHED, State.FAILED, State.WAITING_FOR_BACKEND):
            assert len(files) == 1 and not notices
            assert stored.read_bytes() == DATA
            assert files[0].sha256 == DIGEST
        else:
            assert ticket.state.accepts_bytes, ticket.state
            assert not files and not notices
            assert not stored.exists()
            assert DATA.startswith(partial.read_bytes() if partial.exists() else b"")


def test_a_json_result_is_kept_compact():
    """A result is stored as compact JSON text (what finish_upload and the callback give)."""
    assert json.loads('{"a": [1, 2]}') == {"a": [1, 2]}


def test_bytes_in_flight_behind_a_backend_cancel_end_as_cancelled(tmp_path):
    """The backend cancels while bytes flow: bytes still arriving are dropped, and the client
    hears cancelled, not "taken over" or any other error."""
    server = Server(tmp_path, threads=HeldThreads())
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": len(DATA)})
    settle(server)
    conn.send_bytes(DATA[:8192])
    server.office.cancel_by_backend(ticket.id, "")
    conn.send_bytes(DATA[8192:16384])
    settle(server)
    kinds = [m["type"] for m in conn.messages()]
    assert "error" not in kinds and kinds[-1] == "cancelled", kinds
    assert [t.cancelled_by for t, _ in server.handover.calls] == ["backend"]


def test_a_client_arriving_while_its_ticket_is_cancelled_hears_cancelled(tmp_path):
    """A hello while the bytes of a cancelled ticket are being removed is answered with the
    news (error 4, state cancelled, the reason), as a reconnect after the cancel would be."""
    server = Server(tmp_path, threads=HeldThreads())
    ticket = server.ticket()
    conn = server.connect()
    conn.send({"type": "hello", "ticket": ticket.id, "size": len(DATA)})
    settle(server)
    conn.send_bytes(DATA[:8192])
    settle(server)
    server.office.cancel_by_backend(ticket.id, "")  # bytes being removed: held
    again = server.connect()
    answer = again.hello(ticket, len(DATA))
    assert (answer["code"], answer["state"]) == (ErrorCode.TICKET_CLOSED, "cancelled")
    assert answer["message"] == "ticket is cancelled (cancelled by the backend)"
