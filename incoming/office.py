"""The ticket office: the one place where tickets change, one state machine per live ticket.

The backend API and the upload protocol both talk to a :class:`TicketOffice`;
neither touches the registry, the storage or the handover directly. For every
ticket it is working on, the office keeps one :class:`TicketMachine` in one
map (:meth:`TicketOffice._machine` is the only way to get one). Every input
of a ticket's life goes through its machine: a client's hello, its bytes,
the last byte, its digest, pause, a cancel from either side, expiry, the
storage's and the backend's answers, ``finish_upload``, shutdown. The
machine's :data:`TABLE` names, for each phase and each input, the one action
that answers it, so an input that no longer applies (a cancel after the last
byte, bytes after a cancel, a second ``finish_upload``) has a defined answer
instead of a race. Changes are saved to the registry before anybody is told.

The write path is transport-neutral: a hello gives an :class:`Upload` that
accepts "these bytes at this offset" and answers with the acknowledged offset.

Where several instances share the registry, a machine acts only while its
instance holds the ticket's lease (``incoming/leases.py``): getting a machine
to act on (:meth:`TicketOffice._machine`) acquires it, taking it over from
another instance; each save carries it (a stale one is refused); each write
batch and the completion check it first (``Leases.holds``: in memory while the
lease is sure to run); an instance that learns it lost a lease stops that
ticket's machine here (:meth:`TicketOffice.lease_lost`).
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Sequence
from typing import Any, Protocol, TypeGuard

import attrs
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    fail,
    inlineCallbacks,
    maybeDeferred,
    succeed,
)
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from incoming.config import Config
from incoming.errors import ErrorCode, IncomingError
from incoming.handover import BackendAnswer, Handover
from incoming.leases import Lease, Leases, SoleLeases
from incoming.lifecycle import Lifecycle, default_lifecycle, short_id
from incoming.registry import Registry
from incoming.storage import Partial, Storage
from incoming.storage.direct import Landing, Piece
from incoming.storage.filesystem import StoredFile
from incoming.tickets import State, Ticket, advance, new_ticket_id, touch

MAX_FILENAME = 1024
MAX_REASON = 1024
DIGEST_CHARACTERS = frozenset("0123456789abcdef")
DAMAGED = "the file's SHA-256 differs from the client's: damaged on the way"


class UploadListener(Protocol):
    """What a connected client hears from the office (the protocol implements it)."""

    def state_changed(self, ticket: Ticket) -> None:
        """The ticket moved to ``ticket.state``."""

    def cancelled(self, by: str, reason: str) -> None:
        """The upload was cancelled (``by`` is ``frontend``, ``backend`` or ``server``)."""

    def failed(self, error: IncomingError) -> None:
        """This client must stop: taken over, storage failure, shutdown, digest, handover."""


class Phase(enum.Enum):
    """Where a live ticket is; finer than its saved :class:`~incoming.tickets.State`."""

    RECEIVING = "receiving"
    """created, uploading or paused: bytes are welcome."""
    AWAITING_DIGEST = "awaiting digest"
    """Every byte is written; the client promised its digest and it has not come yet."""
    COMPLETING = "completing"
    """Every byte (and digest) is in; the storage flushes and moves the file into place."""
    HANDING_OVER = "handing over"
    """stored or handing_over: the backend is being called."""
    WAITING = "waiting"
    """waiting_for_backend: the backend answered ``wait``."""
    ABANDONING = "abandoning"
    """A cancel or expiry is removing the bytes; nothing can complete any more."""
    ENDED = "ended"
    """finished, cancelled, expired or failed. Late inputs are answered, nothing changes."""


def phase_of(state: State) -> Phase:
    """The phase a ticket loaded from the registry starts in."""
    if state.accepts_bytes:
        return Phase.RECEIVING
    if state in (State.STORED, State.HANDING_OVER):
        return Phase.HANDING_OVER
    if state is State.WAITING_FOR_BACKEND:
        return Phase.WAITING
    return Phase.ENDED


_AFTER_STORING = (Phase.HANDING_OVER, Phase.WAITING)
_LISTENING = (Phase.AWAITING_DIGEST, Phase.COMPLETING) + _AFTER_STORING

TABLE: dict[Phase, dict[str, str]] = {phase: {} for phase in Phase}
"""Phase → input → the action (a method ``_<action>`` of :class:`TicketMachine`)."""


def _rule(phases: Sequence[Phase] | Phase, input: str, action: str) -> None:
    for phase in (phases,) if isinstance(phases, Phase) else phases:
        TABLE[phase][input] = action


_rule(Phase.RECEIVING, "hello", "begin")
_rule(_LISTENING, "hello", "listen")
_rule(Phase.ABANDONING, "hello", "refuse_abandoning")
_rule(Phase.ENDED, "hello", "refuse_ended")

_rule(Phase.RECEIVING, "write", "write")
_rule(_LISTENING, "write", "refuse_write")
_rule((Phase.ABANDONING, Phase.ENDED), "write", "drop_write")

_rule(Phase.RECEIVING, "last_byte", "complete_or_await_digest")

_rule((Phase.RECEIVING, Phase.COMPLETING), "digest", "note_digest")
_rule(Phase.AWAITING_DIGEST, "digest", "note_digest_and_complete")
_rule(_AFTER_STORING + (Phase.ENDED,), "digest", "check_digest")

_rule(Phase.RECEIVING, "pause", "pause")
_rule([p for p in Phase if p is not Phase.RECEIVING], "pause", "answer_state")

_rule((Phase.RECEIVING, Phase.AWAITING_DIGEST), "cancel_frontend", "abandon")
_rule((Phase.COMPLETING,) + _AFTER_STORING, "cancel_frontend", "too_late_to_cancel")
_rule((Phase.RECEIVING, Phase.AWAITING_DIGEST), "cancel_backend", "abandon")
_rule((Phase.COMPLETING,) + _AFTER_STORING, "cancel_backend", "refuse_cancel_when_stored")
_rule(Phase.ABANDONING, "cancel_backend", "refuse_abandoning")
_rule(Phase.ENDED, "cancel_backend", "refuse_ended_cancel")

_rule((Phase.RECEIVING, Phase.AWAITING_DIGEST), "expire", "expire")

_rule(Phase.COMPLETING, "stored", "hand_over")
_rule(Phase.COMPLETING, "store_failed", "receive_again")
_rule(Phase.COMPLETING, "digest_differs", "abandon_damaged")
_rule(Phase.HANDING_OVER, "answered", "take_answer")
_rule(Phase.HANDING_OVER, "handover_failed", "fail")
_rule(Phase.ABANDONING, "bytes_removed", "end_abandoned")

_rule(Phase.HANDING_OVER, "finish", "finish_when_answered")
_rule(Phase.WAITING, "finish", "finish")
_rule(Phase.ENDED, "finish", "finish_again")
_rule((Phase.RECEIVING, Phase.AWAITING_DIGEST, Phase.COMPLETING, Phase.ABANDONING), "finish",
      "refuse_finish")

_rule([p for p in Phase if p is not Phase.ENDED], "shut_down", "stop")

INPUTS = ("hello", "write", "last_byte", "digest", "pause", "cancel_frontend",
          "cancel_backend", "expire", "stored", "store_failed", "digest_differs", "answered",
          "handover_failed", "bytes_removed", "finish", "shut_down")
for _phase in Phase:  # every input not named above is answered by doing nothing: it is late
    for _input in INPUTS:
        TABLE[_phase].setdefault(_input, "ignore")
assert all(TABLE[phase][input] != "ignore" for phase in Phase for input in (
    "hello", "write", "pause", "finish")), "inputs whose caller needs an answer get one"


class TicketMachine:
    """One live ticket: its record, its phase, what exists only in this process."""

    log = Logger()

    def __init__(self, office: TicketOffice, ticket: Ticket) -> None:
        self.office = office
        self.ticket = ticket
        self.phase = phase_of(ticket.state)
        self.partial: Partial | None = None
        self.listener: UploadListener | None = None
        self.upload: Upload | None = None
        self.backend_call: Deferred[BackendAnswer] | None = None
        self.finish_result: str | None = None
        """``finish_upload`` came before the backend's ``wait`` (its result, maybe empty)."""
        self.ending: tuple[State, str] | None = None
        """While abandoning: the state the ticket is ending in, and why."""
        self.lease: Lease | None = None
        """The right to act on the ticket; None: released (or lost) since."""
        self.last_token = 0
        """The token of the lease this machine held last."""
        self.lost = False
        """Another instance took the ticket: this machine saves and writes nothing more."""

    def handle(self, input: str, *args: Any) -> Any:
        """Feed one input; what its action answers (often a Deferred)."""
        return getattr(self, "_" + TABLE[self.phase][input])(*args)

    # -- hello ---------------------------------------------------------------------------------

    @inlineCallbacks
    def _begin(self, hello: Hello, listener: UploadListener) -> Any:
        """Take over from an older client, record the declared file, find where to resume."""
        self._check_hello(hello)
        self._take_over(listener)
        ticket = self.ticket
        now = self.office.clock.seconds()
        if ticket.size is None:
            ticket = attrs.evolve(ticket, size=hello.size,
                                  filename_from_browser=hello.filename[:MAX_FILENAME])
        if not ticket.started_at:
            ticket = attrs.evolve(ticket, started_at=now)  # the upload's time counts from here
        if hello.integrity:
            ticket = attrs.evolve(ticket, integrity=True)
        yield self._save(advance(ticket, State.UPLOADING, now), notify=False)
        if hello.sha256:
            self._note_digest(hello.sha256)
        offset = yield self._open_partial()
        if self.listener is not listener:
            raise _taken_over()
        if offset > hello.size:
            raise IncomingError(ErrorCode.SIZE_MISMATCH, f"{offset} bytes are stored already")
        upload = self.upload = Upload(self, offset=offset)
        if offset == hello.size:
            self.handle("last_byte")
        return upload

    def _listen(self, hello: Hello, listener: UploadListener) -> Deferred[Upload]:
        """Every byte is here: the client only listens (and may still send its digest)."""
        self._check_hello(hello)
        self._take_over(listener)
        upload = self.upload = Upload(self, offset=self.ticket.size or 0)
        if hello.sha256:
            self.handle("digest", hello.sha256)
        return succeed(upload)

    def _refuse_abandoning(self, *args: Any) -> Deferred[Any]:
        """The ticket is ending (its bytes are being removed): a client hears the news as if
        it had ended already (error 4 with the state it ends in, as after a reconnect), not
        an error that reads as if the upload were still going on."""
        assert self.ending is not None
        state, reason = self.ending
        return fail(IncomingError(ErrorCode.TICKET_CLOSED, f"ticket is {state.value} ({reason})",
                                  state=state.value))

    def _refuse_ended(self, hello: Hello, listener: UploadListener) -> Deferred[Any]:
        """A closed ticket: its news (finished, with the result), unless the file is another."""
        ticket = self.ticket
        if ticket.state is State.FINISHED:
            if ticket.size is not None and hello.size != ticket.size:
                return fail(IncomingError(ErrorCode.SIZE_MISMATCH,
                                          f"this ticket finished with a file of {ticket.size} "
                                          f"bytes, not {hello.size}"))
            if hello.sha256 and ticket.sha256 and hello.sha256 != ticket.sha256:
                return fail(IncomingError(ErrorCode.DIGEST_MISMATCH,
                                          "this ticket finished with another file"))
        why = ticket.cancel_reason or ticket.failure
        error = IncomingError(ErrorCode.TICKET_CLOSED,
                              f"ticket is {ticket.state.value}" + (f" ({why})" if why else ""),
                              state=ticket.state.value)
        if ticket.state is State.FINISHED:
            error.details = {"sha256": ticket.sha256, "result": ticket.result or None}
        return fail(error)

    def _check_hello(self, hello: Hello) -> None:
        config = self.office.config
        limit = min(config.max_upload_size, self.ticket.max_size or config.max_upload_size)
        if hello.size > limit:
            raise IncomingError(ErrorCode.TOO_LARGE,
                                f"the file has {hello.size} bytes, the limit is {limit}")
        if self.ticket.size is not None and hello.size != self.ticket.size:
            raise IncomingError(ErrorCode.SIZE_MISMATCH, f"the file was declared with "
                                f"{self.ticket.size} bytes, now {hello.size}")

    def _take_over(self, listener: UploadListener) -> None:
        """The newest connection wins: a half-dead older one must not lock the client out."""
        older = self.listener
        self._retire_upload()
        self.listener = listener
        if older is not None and older is not listener:
            older.failed(_taken_over())

    @inlineCallbacks
    def _open_partial(self) -> Any:
        """Bytes written for an older connection are waited for, so the offset is true."""
        if self.partial is None:
            self.partial = self.office.storage.partial(self.ticket.id, self.ticket.size)
            return (yield self.partial.open())
        yield self.partial.idle()
        try:
            return (yield self.partial.open())
        except IncomingError:
            return (yield self.partial.reopen())  # a failed write left it unusable: start again

    # -- bytes ---------------------------------------------------------------------------------

    def _write(self, upload: Upload, offset: int, pieces: Sequence[bytes | Piece],
               landing: Landing | None) -> Deferred[int]:
        if upload is not self.upload or self.partial is None:
            raise _taken_over()
        if offset != upload.next_offset:
            raise IncomingError(ErrorCode.BAD_REQUEST,
                                f"bytes at offset {offset}, expected {upload.next_offset}")
        end = offset + sum(len(piece) for piece in pieces)
        if end > (self.ticket.size or 0):
            raise IncomingError(ErrorCode.BEYOND_SIZE,
                                f"bytes up to {end} go past the declared size {self.ticket.size}")
        upload.next_offset = end
        sealed = landing.seal() if landing else None
        if self.office.leases.shared:
            assert self.lease is not None
            written = self.office.leases.holds(self.lease).addCallback(
                self._write_if_held, self.lease, offset, pieces, sealed)
        else:
            written = self.partial.write(offset, pieces, sealed)
        written.addCallbacks(self._written, self._write_failed, callbackArgs=(upload,))
        return written

    def _write_if_held(self, held: bool, lease: Lease, offset: int,
                       pieces: Sequence[bytes | Piece], sealed: list[Any] | None) -> Deferred[int]:
        """After the lease check: a writer whose lease another instance took appends nothing
        (its landed buffers are dropped, not given back: they are garbage now)."""
        if not held or self.lease != lease or self.partial is None:
            raise _taken_over()
        return self.partial.write(offset, pieces, sealed)

    def _write_failed(self, failure: Failure) -> Failure:
        if isinstance(failure.value, IncomingError):
            self.office.lifecycle.write_failed(self.ticket, failure.value)
        return failure  # the connection tells its client

    def _written(self, offset: int, upload: Upload) -> int:
        # Counted per connection from where it began: bytes an older connection had written
        # are counted once, by that connection.
        self.office.lifecycle.received(offset - upload.acknowledged)
        upload.acknowledged = max(upload.acknowledged, offset)
        if offset == self.ticket.size:
            self.handle("last_byte")  # from now on it can no longer be cancelled
        return offset

    def _drop_write(self, upload: Upload, *args: Any) -> Deferred[int]:
        """Bytes that were on their way when the upload was cancelled or expired: dropped, not
        acknowledged, and no error (the client hears ``cancelled``, not a failure)."""
        if self.lost:
            raise _taken_over()
        return succeed(upload.acknowledged)

    def _refuse_write(self, upload: Upload, *args: Any) -> Deferred[int]:
        if upload is not self.upload:
            raise _taken_over()
        if self.phase in _LISTENING:
            raise IncomingError(ErrorCode.BEYOND_SIZE, "every byte has arrived already")
        raise IncomingError(ErrorCode.TICKET_CLOSED, f"ticket is {self.ticket.state.value}",
                            state=self.ticket.state.value)

    def _complete_or_await_digest(self) -> None:
        if self.partial is None or self.partial.offset != self.ticket.size:
            return  # a late notice: the file was reopened since, its bytes are not all there
        if self.ticket.integrity and not self.ticket.client_sha256:
            self.phase = Phase.AWAITING_DIGEST
            return
        self._complete()

    def _complete(self) -> None:
        self.phase = Phase.COMPLETING
        # Not now: whoever wrote the last byte acknowledges it before "stored" is announced.
        self.office.clock.callLater(0, self._store)

    def _store(self) -> None:
        if self.lease is None or self.partial is None:
            return  # another instance took the ticket meanwhile: it completes the file
        held = self.office.leases.holds(self.lease)
        held.addCallbacks(self._store_if_held, self._store_failed, callbackArgs=(self.lease,))
        self._guard(held, "storing the file")

    def _store_if_held(self, held: bool, lease: Lease) -> None:
        if not held or self.lease != lease or self.partial is None:
            return  # taken over: the new holder completes the file
        completed = self.partial.complete()
        completed.addCallbacks(self._stored_or_damaged, self._store_failed)
        self._guard(completed, "storing the file")

    def _stored_or_damaged(self, stored: StoredFile) -> Deferred[Any] | None:
        expected = self.ticket.client_sha256
        if expected and expected != stored.sha256:
            return self.handle("digest_differs", stored)
        return self.handle("stored", stored)

    def _store_failed(self, failure: Failure) -> None:
        self.handle("store_failed", failure)

    def _receive_again(self, failure: Failure) -> None:
        """The file could not be stored: bytes stay, the client is told and comes back."""
        self.phase = Phase.RECEIVING
        error = failure.value if isinstance(failure.value, IncomingError) else IncomingError(
            ErrorCode.STORAGE_FAILED, "cannot store the file")
        self._tell_failed(error)

    # -- the client's digest -------------------------------------------------------------------

    def _note_digest(self, sha256: str) -> None:
        """Keep the client's digest; a different one later is another file: refused."""
        recorded = self.ticket.client_sha256
        if recorded and recorded != sha256:
            raise IncomingError(ErrorCode.DIGEST_MISMATCH,
                                "this ticket is being uploaded with another file")
        if not recorded:
            self._save(touch(self.ticket, self.office.clock.seconds(), client_sha256=sha256),
                       notify=False)

    def _note_digest_and_complete(self, sha256: str) -> None:
        self._note_digest(sha256)
        self._complete()

    def _check_digest(self, sha256: str) -> None:
        """After storing, a digest is only compared: the file in place is the file."""
        if self.ticket.sha256 and sha256 != self.ticket.sha256:
            raise IncomingError(ErrorCode.DIGEST_MISMATCH, "this ticket has another file")

    # -- pause ---------------------------------------------------------------------------------

    def _pause(self, upload: Upload, paused: bool) -> Deferred[Ticket]:
        ticket = advance(self.ticket, State.PAUSED if paused else State.UPLOADING,
                         self.office.clock.seconds())
        moved = ticket.state is not self.ticket.state
        saved = self._save(ticket, notify=False)
        if moved:
            saved.addCallback(lambda _: self.office.lifecycle.paused(ticket, upload.acknowledged))
        return saved.addCallback(lambda _: ticket)

    def _answer_state(self, upload: Upload, paused: bool) -> Deferred[Ticket]:
        """Once every byte is in, pausing means nothing and is not an error: the client
        may have pressed the button as the last byte arrived."""
        return succeed(self.ticket)

    # -- cancelling and expiring ---------------------------------------------------------------

    def _abandon(self, *args: Any) -> Deferred[None]:
        """Cancelled by the frontend (``upload, reason``) or the backend (no arguments)."""
        by, reason = ("frontend", args[1][:MAX_REASON] or "cancelled by the user") if args else (
            "backend", "cancelled by the backend")
        return self._start_abandoning(State.CANCELLED, by, reason)

    def _expire(self) -> Deferred[None]:
        if self.listener is not None:
            return succeed(None)  # a client is connected right now: not abandoned
        return self._start_abandoning(State.EXPIRED, "server", "expired")

    def _abandon_damaged(self, stored: StoredFile) -> Deferred[None]:
        """The stored file is not the client's: it goes, like a cancel by the server."""
        self.partial = None
        self._tell_failed(IncomingError(ErrorCode.DIGEST_MISMATCH, DAMAGED))
        return self._start_abandoning(State.CANCELLED, "server", DAMAGED, remove=stored.path)

    def _start_abandoning(self, state: State, by: str, reason: str,
                          remove: str = "") -> Deferred[None]:
        advance(self.ticket, state, self.office.clock.seconds())  # refuses what state forbids
        self.phase = Phase.ABANDONING
        self.ending = (state, reason)
        received = self.office.bytes_received(self)
        self._retire_upload()
        removed = self._remove_bytes(remove)
        removed.addCallback(lambda _: self.handle("bytes_removed", state, by, reason, received))
        return self._guard(removed, "removing the bytes")

    @inlineCallbacks
    def _remove_bytes(self, complete_path: str) -> Any:
        if self.partial is not None:
            yield self.partial.idle()
            yield self.partial.close()
            self.partial = None
        yield self.office.storage.remove_partial(self.ticket.id)
        if complete_path:
            yield self.office.storage.remove(complete_path)

    @inlineCallbacks
    def _end_abandoned(self, state: State, by: str, reason: str, received: int) -> Any:
        self.phase = Phase.ENDED
        ticket = advance(self.ticket, state, self.office.clock.seconds(),
                         cancelled_by=by, cancel_reason=reason)
        yield self._save(ticket, notify=False)
        self.office.lifecycle.abandoned(ticket, received)
        if self.listener is not None:
            self.listener.cancelled(by, reason)
        lease = self.lease
        self.office.forget(self, keep_lease=True)
        self.office.tell_backend_of_end(ticket, lease)

    def _too_late_to_cancel(self, *args: Any) -> Deferred[None]:
        """The client pressed cancel as its last byte arrived: the upload goes on to
        ``finished`` (an upload has exactly one outcome), which the client hears as usual."""
        return succeed(None)

    def _refuse_cancel_when_stored(self) -> Deferred[None]:
        return fail(IncomingError(ErrorCode.WRONG_STATE,
                                  "every byte has arrived: the file is being handed over"))

    def _refuse_ended_cancel(self) -> Deferred[None]:
        return fail(IncomingError(ErrorCode.TICKET_CLOSED, f"ticket is {self.ticket.state.value}",
                                  state=self.ticket.state.value))

    # -- handing over --------------------------------------------------------------------------

    @inlineCallbacks
    def _hand_over(self, stored: StoredFile | None = None) -> Any:
        if stored is not None:
            self.partial = None
            now = self.office.clock.seconds()
            ticket = advance(self.ticket, State.STORED, now, path=stored.path,
                             sha256=stored.sha256, bytes_received=stored.size, stored_at=now)
            self.phase = Phase.HANDING_OVER
            yield self._save(ticket)
            self.office.lifecycle.stored(ticket)
        if self.ticket.state is State.STORED:
            yield self._save(advance(self.ticket, State.HANDING_OVER,
                                     self.office.clock.seconds()))
        call = self.backend_call = self.office.handover.deliver(self.ticket,
                                                                 since=self.ticket.stored_at)
        call.addCallbacks(lambda answer: self.handle("answered", answer),
                          self._handover_failed)
        self._guard(call, "the handover")

    def _handover_failed(self, failure: Failure) -> None:
        if failure.check(CancelledError):
            return  # shutting down: the next start hands it over again
        self.handle("handover_failed", failure.value)

    @inlineCallbacks
    def _take_answer(self, answer: BackendAnswer) -> Any:
        self.backend_call = None
        self.office.lifecycle.handed_over(self.ticket, answer.state)
        result = answer.result or self.ticket.result
        if answer.state == "wait" and self.finish_result is None:
            self.phase = Phase.WAITING
            yield self._save(advance(self.ticket, State.WAITING_FOR_BACKEND,
                                     self.office.clock.seconds(), result=result))
            return
        yield self._finish(self.finish_result or result)

    @inlineCallbacks
    def _fail(self, error: Exception) -> Any:
        self.backend_call = None
        self.phase = Phase.ENDED
        message = error.message if isinstance(error, IncomingError) else str(error)
        failed = advance(self.ticket, State.FAILED, self.office.clock.seconds(), failure=message)
        yield self._save(failed, notify=False)
        self.office.lifecycle.failed(failed)
        self._tell_failed(IncomingError(ErrorCode.HANDOVER_FAILED, message))
        self.office.forget(self)

    def _finish_when_answered(self, result: str) -> Deferred[None]:
        """``finish_upload`` overtook the backend's own ``wait``: finish as soon as it comes."""
        self.finish_result = result
        return succeed(None)

    @inlineCallbacks
    def _finish(self, result: str) -> Any:
        self.phase = Phase.ENDED
        ticket = advance(self.ticket, State.FINISHED, self.office.clock.seconds(),
                         backend_told=True, result=result or self.ticket.result)
        yield self._save(ticket)
        self.office.lifecycle.finished(ticket)
        self.office.forget(self)
        if ticket.remove_file_when_finished:
            yield self.office.storage.remove(ticket.path)

    def _finish_again(self, result: str) -> Deferred[None]:
        if self.ticket.state is State.FINISHED:
            return succeed(None)  # repeated: the ticket is finished already, as asked
        return self._refuse_ended_cancel()

    def _refuse_finish(self, result: str) -> Deferred[None]:
        return fail(IncomingError(ErrorCode.WRONG_STATE, f"ticket is {self.ticket.state.value}, "
                                  "not waiting_for_backend"))

    # -- leaving -------------------------------------------------------------------------------

    @inlineCallbacks
    def _stop(self) -> Any:
        """Shutdown: clients are told to come back to the next process; files are flushed."""
        if self.backend_call is not None:
            self.backend_call.cancel()
        self._tell_failed(IncomingError(ErrorCode.SHUTTING_DOWN, "the server is restarting"))
        if self.partial is not None:
            yield self.partial.idle()
            yield self.partial.close()

    def _ignore(self, *args: Any) -> Deferred[None]:
        return succeed(None)

    def detach(self, upload: Upload) -> None:
        """The client went away. Its bytes stay; the file is closed until it comes back."""
        if self.listener is not upload.listener:
            return  # taken over already: the newer client owns the ticket
        self.listener = None
        self.upload = None
        if self.partial is not None and self.phase is Phase.RECEIVING:
            # A failed write fails the close too; the next hello starts from what is on disk.
            self.partial.close().addErrback(lambda _: None)
            saved = self._save(touch(self.ticket, self.office.clock.seconds(),
                                     bytes_received=self.partial.offset))
            if self.office.leases.shared:
                saved.addCallback(lambda _: self._release_lease())
            self._guard(saved, "recording where the upload stopped")

    def _release_lease(self) -> None:
        """Nobody is connected here: any instance may take the ticket at once. The machine
        stays, so that a client coming back here resumes without rehashing the file if
        nobody else had the ticket meanwhile (:meth:`TicketOffice._acquired`)."""
        if self.listener is None and self.lease is not None:
            self.office.leases.release(self.lease)
            self.lease = None

    def lose(self, why: str) -> Deferred[None]:
        """Another instance took the ticket: stop acting on it, close the connection and the
        file; fires once nothing more will be written here."""
        self.lease = None
        self.lost = True
        self.phase = Phase.ENDED  # late inputs here change nothing
        if self.backend_call is not None:
            self.backend_call.cancel()  # the new holder hands over (again: at least once)
        self._tell_failed(_taken_over() if why == "client" else IncomingError(
            ErrorCode.SHUTTING_DOWN, "the ticket moved to another instance: connect again"))
        partial, self.partial = self.partial, None
        if partial is None:
            return succeed(None)
        closed = partial.idle().addCallback(lambda _: partial.close())
        return closed.addErrback(lambda _: None)  # a failed write: nothing more goes anyway

    # -- plumbing ------------------------------------------------------------------------------

    def _save(self, ticket: Ticket, notify: bool = True) -> Deferred[None]:
        """Record a change, then tell the client of a new state."""
        if self.lost:
            return fail(_taken_over())
        moved = ticket.state is not self.ticket.state
        self.ticket = ticket
        saved = self.office.registry.save(ticket, self.lease)
        saved.addErrback(self._save_failed, self.lease)
        if notify and moved and self.listener is not None:
            listener = self.listener
            saved.addCallback(lambda _: listener.state_changed(ticket))
        return saved

    def _save_failed(self, failure: Failure, lease: Lease | None) -> Failure:
        error = failure.value
        if isinstance(error, IncomingError) and error.code is ErrorCode.TAKEN_OVER \
                and lease is not None and self.lease == lease:
            self.office.lease_lost(self.ticket.id, "")  # the registry knew before we did
        return failure

    def _tell_failed(self, error: IncomingError) -> None:
        listener, self.listener = self.listener, None
        self._retire_upload()
        if listener is not None:
            listener.failed(error)

    def _retire_upload(self) -> None:
        """The client's write handle stops working (taken over, failed, ended)."""
        if self.upload is not None:
            self.upload.active = False
            self.upload = None

    def _guard(self, started: Deferred[Any], what: str) -> Deferred[Any]:
        """Nothing started is left without an errback: a failure is one log line, and the
        ticket stays in the phase it reached (its saved state leads the next start)."""
        def report(failure: Failure) -> None:
            self.log.warn("ticket {ticket}: {what} failed: {error}",
                          ticket=short_id(self.ticket.id), what=what,
                          error=failure.getErrorMessage())
        return started.addErrback(report)


@attrs.frozen
class Hello:
    """What a client declares about its file."""

    size: int
    filename: str = ""
    sha256: str = ""
    integrity: bool = False


class TicketOffice:
    log = Logger()

    def __init__(self, config: Config, registry: Registry, storage: Storage,
                 handover: Handover, clock: IReactorTime,
                 lifecycle: Lifecycle | None = None,
                 leases: Leases | SoleLeases | None = None) -> None:
        """``lifecycle``: where each step of a ticket is logged and counted (default: logged,
        and counted into metrics of its own that nobody serves). ``leases``: shared with
        other instances (default: this instance is the only one)."""
        self.config = config
        self.registry = registry
        self.storage = storage
        self.handover = handover
        self.clock = clock
        self.lifecycle = lifecycle or default_lifecycle(clock)
        self.leases = leases or SoleLeases()
        self.leases.on_lost = self.lease_lost
        self._machines: dict[str, TicketMachine] = {}
        self._telling: dict[str, Lease | None] = {}
        """Tickets whose end the backend is being told of, with the lease held meanwhile."""
        self._stopping = False
        self._recovering = False

    # -- the backend's side -------------------------------------------------------------------

    def new_upload(self, signal_finish_url: str, backend_secret: str = "",
                   remove_file_when_finished: bool = True, dest_type: str = "file",
                   max_size: int | None = None) -> Deferred[Ticket]:
        now = self.clock.seconds()
        ticket = Ticket(
            id=new_ticket_id(), signal_finish_url=signal_finish_url, backend_secret=backend_secret,
            remove_file_when_finished=remove_file_when_finished, dest_type=dest_type,
            max_size=max_size, created_at=now, updated_at=now,
        )
        saved = self.registry.save(ticket)
        saved.addCallback(lambda _: self.lifecycle.created(ticket))
        return saved.addCallback(lambda _: ticket)

    @inlineCallbacks
    def cancel_by_backend(self, ticket_id: str, secret: str) -> Any:
        machine = yield self._authorised(ticket_id, secret)
        yield machine.handle("cancel_backend")

    @inlineCallbacks
    def finish_upload(self, ticket_id: str, secret: str, result: str = "") -> Any:
        """The backend, having answered ``wait``, says it is done with the file."""
        machine = yield self._authorised(ticket_id, secret)
        yield machine.handle("finish", result)

    @inlineCallbacks
    def status(self, ticket_id: str, secret: str) -> Any:
        ticket, status = yield self.peek(ticket_id)
        _check_secret(ticket, secret)
        return status

    @inlineCallbacks
    def peek(self, ticket_id: str) -> Any:
        """The ticket and its live status, for a face that already holds the ticket (its
        ID is the capability): no secret, nothing changed, no lease taken. Fires with
        ``(ticket, status)``; fails with unknown_ticket."""
        machine = self._machines.get(ticket_id)
        if machine is not None and machine.lease is not None:
            return machine.ticket, machine.ticket.as_status(self.bytes_received(machine))
        ticket = yield self._record(ticket_id)  # served elsewhere, or by nobody: as saved
        return ticket, ticket.as_status(self._bytes_not_served_here(ticket))

    # -- the frontend's side ------------------------------------------------------------------

    def begin(self, ticket_id: str, hello: Hello,
              listener: UploadListener) -> Deferred[Upload]:
        """A client says hello: check it, take over from an older client, find the offset.

        Fires with an :class:`Upload` (whose ``offset`` is where to resume), or
        fails with an :class:`IncomingError` to send back.
        """
        if self._stopping:
            begun: Deferred[Upload] = fail(IncomingError(ErrorCode.SHUTTING_DOWN,
                                                         "the server is shutting down"))
        else:
            begun = self._machine(ticket_id, "client").addCallback(self._hello, hello, listener)
        begun.addCallback(self._welcomed)
        begun.addErrback(self._refused, ticket_id)
        return begun

    def _hello(self, machine: TicketMachine, hello: Hello,
               listener: UploadListener) -> Deferred[Upload]:
        def with_state(failure: Failure) -> Failure:
            if isinstance(failure.value, IncomingError) and failure.value.state is None:
                failure.value.state = machine.ticket.state.value  # the client's news too
            return failure
        return maybeDeferred(machine.handle, "hello", hello, listener).addErrback(with_state)

    def _welcomed(self, upload: Upload) -> Upload:
        self.lifecycle.connected(upload.ticket, upload.offset)
        return upload

    def _refused(self, failure: Failure, ticket_id: str) -> Failure:
        if isinstance(failure.value, IncomingError):
            self.lifecycle.refused(ticket_id, failure.value)
        return failure

    # -- housekeeping --------------------------------------------------------------------------

    def recover(self) -> Deferred[None]:
        """Resume handovers and cancel notices that nobody is working on: after a start
        (a stop interrupted them), and every ``lease_time`` (30 s at most) where instances
        share the registry (an instance died: its leases lapsed). Never fails: a failure is one log
        line (the next round tries again)."""
        if self._stopping or self._recovering:
            return succeed(None)  # the round under way will do
        self._recovering = True
        found = self.registry.awaiting_backend().addCallback(self._unattended)
        taken = found.addCallback(self._take_on)
        taken.addErrback(lambda f: self.log.warn(
            "looking for tickets to hand over failed: {error}", error=f.getErrorMessage()))
        return taken.addBoth(self._recovered)

    def _recovered(self, _: object) -> None:
        self._recovering = False

    def _unattended(self, tickets: list[Ticket]) -> Deferred[list[Ticket]]:
        """Those of ``tickets`` that no instance holds a lease on."""
        mine = [t for t in tickets if t.id not in self._machines and t.id not in self._telling]
        free = self.leases.free(t.id for t in mine)
        return free.addCallback(lambda ids: [t for t in mine if t.id in set(ids)])

    @inlineCallbacks
    def _take_on(self, tickets: list[Ticket]) -> Any:
        for ticket in tickets:
            if ticket.state in (State.STORED, State.HANDING_OVER):
                yield self._free_machine(ticket.id)  # acquiring it resumes the handover
            elif ticket.id not in self._telling:
                lease = yield self.leases.acquire(ticket.id, only_if_free=True)
                if lease is None:
                    continue  # another instance was quicker
                fresh = yield self.registry.load(ticket.id)
                if fresh is not None and fresh.awaits_backend:
                    self.tell_backend_of_end(fresh, lease)
                else:
                    self.leases.release(lease)

    @inlineCallbacks
    def expire_abandoned(self) -> Any:
        """Tickets whose upload saw no activity for ``ticket_lifetime`` expire; bytes removed.
        Where instances share the registry, one instance at a time does this."""
        got = yield self.leases.lock("janitor", JANITOR_LOCK_TIME)
        if not got:
            return
        cutoff = self.clock.seconds() - self.config.ticket_lifetime
        tickets = yield self.registry.needing_attention()
        for ticket in tickets:
            if ticket.state.accepts_bytes and ticket.updated_at < cutoff:
                machine = yield self._free_machine(ticket.id)
                if machine is not None and machine.ticket.updated_at < cutoff:
                    yield machine.handle("expire")

    def tell_backend_of_end(self, ticket: Ticket, lease: Lease | None = None) -> None:
        """A cancel or an expiry: the backend hears of it (retried, like a handover). The
        ticket's ``lease`` is held until then, so no other instance tells it too."""
        self._telling[ticket.id] = lease
        told = self.handover.deliver(ticket, since=ticket.updated_at)
        told.addCallback(lambda _: self.registry.save(attrs.evolve(ticket, backend_told=True),
                                                      lease))
        told.addErrback(lambda f: self.log.warn(
            "backend never heard that ticket {ticket} ended: {error}",
            ticket=short_id(ticket.id), error=f.getErrorMessage()))
        told.addBoth(lambda _: self._told(ticket.id, lease))

    def _told(self, ticket_id: str, lease: Lease | None) -> None:
        if self._telling.get(ticket_id, lease) == lease:
            self._telling.pop(ticket_id, None)
        self.leases.release(lease)

    @inlineCallbacks
    def shut_down(self) -> Any:
        """Close every client (they reconnect to the next process) and flush every file;
        then give up every lease, so that other instances take the tickets at once."""
        self._stopping = True
        for machine in list(self._machines.values()):
            yield machine.handle("shut_down")
        yield self.leases.release_all()

    def lease_lost(self, ticket_id: str, why: str) -> None:
        """Another instance took the ticket (``why``: ``client``, a newer connection; else
        the backend or a sweep): its machine here stops; the new holder then goes on."""
        machine = self._machines.get(ticket_id)
        if machine is None or machine.lease is None:
            self.leases.lost_done(ticket_id)
            return
        del self._machines[ticket_id]
        machine.lose(why).addBoth(lambda _: self.leases.lost_done(ticket_id))

    # -- plumbing ------------------------------------------------------------------------------

    def _machine(self, ticket_id: str, why: str = "") -> Deferred[TicketMachine]:
        """The ticket's one live machine, holding the ticket's lease: from the map, or loaded
        and put there (taking the lease over from another instance, told ``why``: ``client``
        for a client's hello). Nothing else makes machines."""
        machine = self._machines.get(ticket_id)
        if machine is not None and machine.lease is not None:
            return succeed(machine)
        # The record first: an unknown ID takes no lease.
        found = self._record(ticket_id).addCallback(
            lambda _: self.leases.acquire(ticket_id, why=why))
        return found.addCallback(self._acquired, ticket_id)

    @inlineCallbacks
    def _free_machine(self, ticket_id: str) -> Any:
        """Like :meth:`_machine`, but None where another instance holds the lease (a sweep
        leaves alone what is being served)."""
        machine = self._machines.get(ticket_id)
        if machine is not None and machine.lease is not None:
            return machine
        lease = yield self.leases.acquire(ticket_id, only_if_free=True)
        return None if lease is None else (yield self._acquired(lease, ticket_id))

    def _acquired(self, lease: Lease | None, ticket_id: str) -> Deferred[TicketMachine]:
        assert lease is not None
        machine = self._machines.get(ticket_id)
        if machine is not None:
            if machine.lease is not None or lease.token == machine.last_token + 1:
                machine.lease = lease  # nobody else had the ticket since: carry on as it was
                machine.last_token = lease.token
                return succeed(machine)
            del self._machines[ticket_id]  # another instance had it since: start afresh
            machine.lose("")
        return self.registry.load(ticket_id).addCallback(self._loaded, ticket_id, lease)

    def _loaded(self, ticket: Ticket | None, ticket_id: str, lease: Lease) -> TicketMachine:
        if ticket is None:
            self.leases.release(lease)
            raise IncomingError(ErrorCode.UNKNOWN_TICKET, "no such ticket")
        # The load may have raced another for the same ticket: keep the first.
        machine = self._machines.setdefault(ticket_id, TicketMachine(self, ticket))
        if machine.lease is None or machine.lease.token < lease.token:
            machine.lease = lease
            machine.last_token = lease.token
        if machine.phase is Phase.ENDED:
            self.forget(machine)  # nothing more will happen to it
        elif machine.phase is Phase.HANDING_OVER and machine.backend_call is None:
            machine._guard(machine._hand_over(), "the handover")  # its holder stopped
        return machine

    def _record(self, ticket_id: str) -> Deferred[Ticket]:
        """The ticket's record as saved; fails with unknown_ticket."""
        def known(ticket: Ticket | None) -> Ticket:
            if ticket is None:
                raise IncomingError(ErrorCode.UNKNOWN_TICKET, "no such ticket")
            return ticket
        return self.registry.load(ticket_id).addCallback(known)

    @inlineCallbacks
    def _authorised(self, ticket_id: str, secret: str) -> Any:
        """The machine, once the secret matches (a wrong one takes no lease)."""
        machine = self._machines.get(ticket_id)
        _check_secret(machine.ticket if machine else (yield self._record(ticket_id)), secret)
        return (yield self._machine(ticket_id))

    def forget(self, machine: TicketMachine, keep_lease: bool = False) -> None:
        """The machine is done: out of the map; its lease goes unless ``keep_lease``."""
        machine.listener = None
        machine._retire_upload()
        if self._machines.get(machine.ticket.id) is machine:
            del self._machines[machine.ticket.id]
        if not keep_lease:
            self.leases.release(machine.lease)
        machine.lease = None

    def bytes_received(self, machine: TicketMachine) -> int:
        if machine.partial is not None:
            return machine.partial.offset
        return self._bytes_not_served_here(machine.ticket)

    def _bytes_not_served_here(self, ticket: Ticket) -> int:
        """The bytes of a ticket no connection of this instance is writing: while it takes
        bytes, a shared partial file's size where storage knows it without waiting (object
        storage answers 0), else the count saved when its last client left."""
        if ticket.state.accepts_bytes:
            return max(self.storage.partial_size(ticket.id), ticket.bytes_received)
        return ticket.bytes_received


JANITOR_LOCK_TIME = 300.0
"""Seconds the janitor's lock is held once taken (not released): shorter than the janitor's
interval, so that each round the first instance to run takes it, and the others skip."""


def _check_secret(ticket: Ticket, secret: str) -> None:
    if not hmac.compare_digest(ticket.backend_secret.encode(), secret.encode()):
        raise IncomingError(ErrorCode.WRONG_SECRET, "backendSecret does not match the ticket")


def _taken_over() -> IncomingError:
    return IncomingError(ErrorCode.TAKEN_OVER, "a newer connection took over this ticket")


def valid_digest(text: object) -> TypeGuard[str]:
    return isinstance(text, str) and len(text) == 64 and set(text) <= DIGEST_CHARACTERS


@attrs.define(eq=False)
class Upload:
    """One client's right to write into one ticket, until it is taken over or ends."""

    machine: TicketMachine
    offset: int
    """Where the client resumes: every byte before it is stored."""
    active: bool = True
    acknowledged: int = attrs.field(init=False)
    """Offset just past the last byte written for this connection (counted as received)."""
    next_offset: int = attrs.field(init=False)
    """Where the next bytes go: ``offset`` plus everything written or queued since."""
    listener: UploadListener | None = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.next_offset = self.offset
        self.acknowledged = self.offset
        self.listener = self.machine.listener

    @property
    def ticket(self) -> Ticket:
        return self.machine.ticket

    @property
    def receiving(self) -> bool:
        return self.active and self.machine.phase is Phase.RECEIVING

    def write(self, offset: int, pieces: Sequence[bytes | Piece],
              landing: Landing | None = None) -> Deferred[int]:
        """Write ``pieces`` at ``offset``; fires with the new acknowledged offset. Raises
        IncomingError, changing nothing, if the ticket takes no such bytes. Pieces that lie
        in a ``landing`` take its buffers along (storage gives them back once written)."""
        result: Deferred[int] = self.machine.handle("write", self, offset, pieces, landing)
        return result

    def landing(self) -> Landing:
        """Where this connection's next bytes may land before they are written."""
        return self.machine.office.storage.landing(self.next_offset)

    def digest(self, sha256: str) -> None:
        """The client's SHA-256 of its file; raises IncomingError if it is another file."""
        self.machine.handle("digest", sha256)

    def pause(self, paused: bool) -> Deferred[Ticket]:
        """Pause or unpause; fires with the ticket, whose state is the answer to the client."""
        if not self.active:
            return succeed(self.machine.ticket)
        answer: Deferred[Ticket] = self.machine.handle("pause", self, paused)
        return answer

    def cancel(self, reason: str) -> Deferred[None]:
        if not self.active:
            return succeed(None)
        result: Deferred[None] = self.machine.handle("cancel_frontend", self, reason)
        return result

    def detach(self) -> None:
        self.machine.detach(self)


