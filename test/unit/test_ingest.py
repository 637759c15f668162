"""The transport-neutral ingest core: batches, acknowledgements, the budget, idle timers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock

from incoming.errors import ErrorCode, IncomingError
from incoming.ingest import (
    BATCH_BYTES,
    SMALL_WRITE,
    SMALL_WRITE_DELAY,
    IdleTimer,
    Intake,
    WriteBudget,
    small_write_for,
)


class FakeUpload:
    """Records writes; the test completes each when it likes."""

    def __init__(self, offset: int = 0, size: int | None = None) -> None:
        self.offset = offset
        self.ticket = SimpleNamespace(size=size)
        self.writes: list[tuple[int, int, Deferred[int]]] = []

    def write(self, offset: int, pieces: list[bytes], landing: Any) -> Deferred[int]:
        d: Deferred[int] = Deferred()
        self.writes.append((offset, sum(map(len, pieces)), d))
        return d

    def complete(self, index: int = 0) -> None:
        offset, size, d = self.writes[index]
        d.callback(offset + size)


class Holder:
    paused = False

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False


def make(offset: int = 0, limit: int = 64 << 20, clock: Clock | None = None,
         size: int | None = None):
    budget = WriteBudget(limit, clock, SMALL_WRITE if clock else 0)
    upload, holder = FakeUpload(offset, size), Holder()
    acks: list[int] = []
    failures: list[Any] = []
    intake = Intake(upload, None, budget, holder, acks.append, failures.append)
    return intake, upload, budget, holder, acks, failures


def test_a_message_goes_to_storage_at_its_end_and_is_acknowledged_once_written():
    """Bytes of one message are written when it ends; the ack reports the written offset."""
    intake, upload, budget, _, acks, _ = make(offset=100)
    intake.take([b"a" * 10, b"b" * 5])
    assert upload.writes == [] and budget.used == 15
    intake.message_end()
    assert [(o, n) for o, n, _ in upload.writes] == [(100, 15)]
    upload.complete()
    assert acks == [115] and budget.used == 0


def test_bytes_gather_while_a_write_is_under_way_and_follow_it():
    """While a write is under way the next messages gather, and go as one write after it."""
    intake, upload, _, _, acks, _ = make()
    intake.take([b"x" * 10])
    intake.message_end()
    intake.take([b"y" * 10])
    intake.message_end()
    intake.take([b"z" * 10])
    intake.message_end()
    assert len(upload.writes) == 1
    upload.complete(0)
    assert [(o, n) for o, n, _ in upload.writes] == [(0, 10), (10, 20)]
    upload.complete(1)
    assert acks == [10, 30]


def test_a_full_batch_goes_without_waiting_for_the_message_end():
    """A batch of BATCH_BYTES is handed to storage as soon as it is gathered."""
    intake, upload, _, _, _, _ = make()
    intake.take([b"\0" * BATCH_BYTES])
    assert [(o, n) for o, n, _ in upload.writes] == [(0, BATCH_BYTES)]


def test_over_the_budget_the_holder_stops_being_read():
    """Gathered bytes beyond the budget's limit pause the holder until they are written."""
    intake, upload, budget, holder, _, _ = make(limit=100)
    intake.take([b"a" * 150])
    assert holder.paused
    intake.message_end()
    upload.complete()
    assert not holder.paused and budget.used == 0


def test_closing_drops_what_was_gathered_and_acknowledges_nothing_more():
    """After close, gathered bytes are given back to the budget and a write that completes
    later is not acknowledged."""
    intake, upload, budget, _, acks, _ = make()
    intake.take([b"a" * 10])
    intake.message_end()
    intake.take([b"b" * 7])
    intake.close()
    assert budget.used == 10  # only the write under way
    upload.complete()
    assert acks == [] and budget.used == 0
    intake.take([b"c"])
    assert budget.used == 0


def test_a_refused_write_reaches_the_face_and_gives_its_bytes_back():
    """A write the upload refuses is reported to the face, and its bytes leave the budget."""
    intake, upload, budget, _, _, failures = make()
    upload.write = lambda *a: fail(IncomingError(ErrorCode.STORAGE_FULL, "full"))  # type: ignore
    intake.take([b"a" * 10])
    intake.message_end()
    assert [f.value.code for f in failures] == [ErrorCode.STORAGE_FULL]
    assert budget.used == 0


def test_idle_timer_fires_after_a_quiet_timeout():
    """With no activity for the timeout, the timer calls on_idle once."""
    clock, fired = Clock(), []
    timer = IdleTimer(clock, 10.0, lambda: False, lambda: fired.append(clock.seconds()))
    timer.start()
    clock.advance(5)
    timer.activity()
    clock.advance(9)
    assert fired == []
    clock.advance(1)
    assert fired == [15.0]


def test_an_excused_connection_is_looked_at_again_a_whole_timeout_later():
    """While excused (paused, waiting for the server) the timer does not fire, and does not
    spin: it looks again one timeout later."""
    clock, fired, excused = Clock(), [], [True]
    timer = IdleTimer(clock, 10.0, lambda: excused[0], lambda: fired.append(clock.seconds()))
    timer.start()
    clock.pump([1] * 35)
    assert fired == [] and len(clock.getDelayedCalls()) == 1
    excused[0] = False
    clock.pump([1] * 5)
    assert fired == [40.0]


def test_a_stopped_idle_timer_never_fires():
    """stop() cancels the timer."""
    clock, fired = Clock(), []
    timer = IdleTimer(clock, 1.0, lambda: False, lambda: fired.append(1))
    timer.start()
    timer.stop()
    clock.advance(5)
    assert fired == [] and clock.getDelayedCalls() == []


def test_small_messages_wait_for_more_and_go_together():
    """With a clock, a small message's bytes wait up to SMALL_WRITE_DELAY for more and then
    go as one write; a write under way meanwhile does not make them go earlier."""
    clock = Clock()
    intake, upload, _, _, acks, _ = make(clock=clock, size=1 << 30)
    for _ in range(3):
        intake.take([b"s" * 16384])
        intake.message_end()
        clock.advance(SMALL_WRITE_DELAY / 4)
    assert upload.writes == []
    clock.advance(SMALL_WRITE_DELAY / 4)
    assert [(o, n) for o, n, _ in upload.writes] == [(0, 3 * 16384)]
    intake.take([b"t" * 100])
    intake.message_end()
    upload.complete(0)
    assert acks == [3 * 16384] and len(upload.writes) == 1  # the 100 bytes wait their turn
    clock.advance(SMALL_WRITE_DELAY)
    assert [(o, n) for o, n, _ in upload.writes][1:] == [(3 * 16384, 100)]


def test_a_small_write_goes_at_once_when_large_enough_or_the_file_is_complete():
    """Gathered bytes go at the message end once they reach SMALL_WRITE, and the last bytes
    of the file never wait."""
    clock = Clock()
    intake, upload, _, _, _, _ = make(clock=clock, size=SMALL_WRITE + 10)
    intake.take([b"a" * (SMALL_WRITE - 1)])
    intake.message_end()
    assert upload.writes == []
    intake.take([b"b"])
    intake.message_end()
    assert [(o, n) for o, n, _ in upload.writes] == [(0, SMALL_WRITE)]
    upload.complete(0)
    intake.take([b"c" * 10])
    intake.message_end()
    assert [(o, n) for o, n, _ in upload.writes][1:] == [(SMALL_WRITE, 10)]
    assert not clock.getDelayedCalls()


def test_closing_forgets_a_waiting_small_write():
    """A connection closed while small bytes wait writes nothing later and leaves no timer."""
    clock = Clock()
    intake, upload, budget, _, _, _ = make(clock=clock, size=1 << 30)
    intake.take([b"x" * 10])
    intake.message_end()
    intake.close()
    assert not clock.getDelayedCalls()
    clock.advance(SMALL_WRITE_DELAY)
    assert upload.writes == [] and budget.used == 0


def test_a_small_window_makes_small_writes_smaller():
    """Writes wait only below half the window: a client that stopped at its window must not
    wait SMALL_WRITE_DELAY for every window's worth of acknowledgements."""
    assert small_write_for(16 << 20) == SMALL_WRITE
    assert small_write_for(64 << 10) == 32 << 10
    clock = Clock()
    upload, holder, acks = FakeUpload(0, 1 << 20), Holder(), []
    budget = WriteBudget(64 << 20, clock, small_write_for(64 << 10))
    intake = Intake(upload, None, budget, holder, acks.append, lambda failure: None)
    intake.take([b"w" * (32 << 10)])
    intake.message_end()
    assert [(o, n) for o, n, _ in upload.writes] == [(0, 32 << 10)]


def test_without_a_small_write_size_nothing_waits():
    """A budget given a clock but no small-write size writes every message as it ends."""
    clock = Clock()
    upload, holder = FakeUpload(0, 1 << 20), Holder()
    intake = Intake(upload, None, WriteBudget(64 << 20, clock), holder, lambda o: None,
                    lambda failure: None)
    intake.take([b"x"])
    intake.message_end()
    assert len(upload.writes) == 1 and not clock.getDelayedCalls()
