"""The ticket office: the one place where tickets change.

The backend API and the upload protocol both talk to a :class:`TicketOffice`;
neither touches the registry, the storage or the handover directly. The office
keeps the tickets it is working on in memory (``_Live``), saves every change
to the registry before telling anybody, and drives what follows a change:
completing the file, handing it over, removing bytes after a cancel.

The write path is transport-neutral: :meth:`TicketOffice.begin` gives an
:class:`Upload` that accepts "these bytes at this offset" and answers with the
acknowledged offset. The WebSocket protocol is one user of it; an HTTP face
can be another.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from typing import Any, Protocol

import attrs
from twisted.internet.defer import CancelledError, Deferred, inlineCallbacks, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from incoming.config import Config
from incoming.errors import ErrorCode, IncomingError
from incoming.handover import Handover
from incoming.lifecycle import Lifecycle, default_lifecycle, short_id
from incoming.registry import Registry
from incoming.storage.direct import Landing, Piece
from incoming.storage.filesystem import FileSystemStorage, PartialFile
from incoming.tickets import State, Ticket, advance, new_ticket_id, touch

MAX_FILENAME = 1024
MAX_REASON = 1024


class UploadListener(Protocol):
    """What a connected client hears from the office (the protocol implements it)."""

    def state_changed(self, ticket: Ticket) -> None:
        """The ticket moved to ``ticket.state``."""

    def cancelled(self, by: str, reason: str) -> None:
        """The upload was cancelled (``by`` is ``frontend`` or ``backend``)."""

    def failed(self, error: IncomingError) -> None:
        """This client must stop: taken over, storage failure, shutdown, handover failed."""


@attrs.define(eq=False)
class _Live:
    """A ticket the office is working on, with what only exists in this process."""

    ticket: Ticket
    partial: PartialFile | None = None
    listener: UploadListener | None = None
    upload: Upload | None = None
    completing: bool = False
    """The last byte is in: the file is being stored; it can no longer be cancelled."""
    abandoning: bool = False
    """Being cancelled or expired: it can no longer complete."""
    finish_requested: bool = False
    """``finish_upload`` arrived before the backend's ``wait`` did (it may race it)."""
    backend_call: Deferred[str] | None = None


class TicketOffice:
    log = Logger()

    def __init__(self, config: Config, registry: Registry, storage: FileSystemStorage,
                 handover: Handover, clock: IReactorTime,
                 lifecycle: Lifecycle | None = None) -> None:
        """``lifecycle``: where each step of a ticket is logged and counted (default: logged,
        and counted into metrics of its own that nobody serves)."""
        self._config = config
        self._registry = registry
        self._storage = storage
        self._handover = handover
        self._clock = clock
        self._lifecycle = lifecycle or default_lifecycle(clock)
        self._live: dict[str, _Live] = {}
        self._stopping = False

    # -- the backend's side -------------------------------------------------------------------

    def new_upload(self, signal_finish_url: str, backend_secret: str = "",
                   remove_file_when_finished: bool = True, dest_type: str = "file",
                   max_size: int | None = None) -> Deferred[Ticket]:
        now = self._clock.seconds()
        ticket = Ticket(
            id=new_ticket_id(), signal_finish_url=signal_finish_url, backend_secret=backend_secret,
            remove_file_when_finished=remove_file_when_finished, dest_type=dest_type,
            max_size=max_size, created_at=now, updated_at=now,
        )
        saved = self._registry.save(ticket)
        saved.addCallback(lambda _: self._lifecycle.created(ticket))
        return saved.addCallback(lambda _: ticket)

    @inlineCallbacks
    def cancel_by_backend(self, ticket_id: str, secret: str) -> Any:
        live = yield self._authorised(ticket_id, secret)
        yield self._abandon(live, State.CANCELLED, "backend", "cancelled by the backend")

    @inlineCallbacks
    def finish_upload(self, ticket_id: str, secret: str) -> Any:
        """The backend, having answered ``wait``, says it is done with the file."""
        live = yield self._authorised(ticket_id, secret)
        state = live.ticket.state
        if state is State.FINISHED:
            return  # repeated: the ticket is finished already, as asked
        if state is State.HANDING_OVER:
            live.finish_requested = True  # its "wait" is still on the way to us
            return
        if state is not State.WAITING_FOR_BACKEND:
            raise IncomingError(ErrorCode.WRONG_STATE,
                                f"ticket is {state.value}, not waiting_for_backend")
        yield self._finish(live)

    @inlineCallbacks
    def status(self, ticket_id: str, secret: str) -> Any:
        live = yield self._authorised(ticket_id, secret)
        return live.ticket.as_status(self._bytes_received(live))

    # -- the frontend's side ------------------------------------------------------------------

    def begin(self, ticket_id: str, size: int, filename: str,
              listener: UploadListener) -> Deferred[Upload]:
        """A client says hello: check it, take over from an older client, find the offset.

        Fires with an :class:`Upload` (whose ``offset`` is where to resume), or
        fails with an :class:`IncomingError` to send back.
        """
        begun = self._begin(ticket_id, size, filename, listener)
        begun.addCallback(self._welcomed)
        begun.addErrback(self._refused, ticket_id)
        return begun

    def _welcomed(self, upload: Upload) -> Upload:
        self._lifecycle.connected(upload.ticket, upload.offset)
        return upload

    def _refused(self, failure: Any, ticket_id: str) -> Any:
        if failure.check(IncomingError):
            self._lifecycle.refused(ticket_id, failure.value)
        return failure

    @inlineCallbacks
    def _begin(self, ticket_id: str, size: int, filename: str, listener: UploadListener) -> Any:
        if self._stopping:
            raise IncomingError(ErrorCode.SHUTTING_DOWN, "the server is shutting down")
        live = yield self._get(ticket_id)
        ticket = live.ticket
        if ticket.state.terminal:
            why = f" ({ticket.cancel_reason or ticket.failure})" if (
                ticket.cancel_reason or ticket.failure) else ""
            raise IncomingError(ErrorCode.TICKET_CLOSED, f"ticket is {ticket.state.value}{why}",
                                state=ticket.state.value)
        self._check_size(ticket, size)
        self._take_over(live, listener)
        if not ticket.state.accepts_bytes:
            return Upload(self, live, offset=size)  # all bytes are here; the client only listens
        now = self._clock.seconds()
        if ticket.size is None:
            ticket = attrs.evolve(ticket, size=size, filename_from_browser=filename[:MAX_FILENAME])
        if not ticket.started_at:
            ticket = attrs.evolve(ticket, started_at=now)  # the upload's time counts from here
        yield self._save(live, advance(ticket, State.UPLOADING, now),
                         notify=False)  # the client learns the state from its welcome
        offset = yield self._open_partial(live)
        if live.listener is not listener:
            raise _taken_over()
        if offset > size:
            raise IncomingError(ErrorCode.SIZE_MISMATCH, f"{offset} bytes are stored already")
        upload = live.upload = Upload(self, live, offset=offset)
        if offset == size:
            self._complete_soon(live)
        return upload

    def _check_size(self, ticket: Ticket, size: int) -> None:
        limit = min(self._config.max_upload_size, ticket.max_size or self._config.max_upload_size)
        if size > limit:
            raise IncomingError(ErrorCode.TOO_LARGE,
                                f"the file has {size} bytes, the limit is {limit}")
        if ticket.size is not None and size != ticket.size:
            raise IncomingError(ErrorCode.SIZE_MISMATCH,
                                f"the file was declared with {ticket.size} bytes, now {size}")

    def _take_over(self, live: _Live, listener: UploadListener) -> None:
        """The newest connection wins: a half-dead older one must not lock the client out."""
        older = live.listener
        _retire_upload(live)
        live.listener = listener
        if older is not None and older is not listener:
            older.failed(_taken_over())

    @inlineCallbacks
    def _open_partial(self, live: _Live) -> Any:
        """Bytes written for an older connection are waited for, so the offset is true."""
        if live.partial is None:
            live.partial = self._storage.partial(live.ticket.id)
            return (yield live.partial.open())
        yield live.partial.idle()
        try:
            return (yield live.partial.open())
        except IncomingError:
            return (yield live.partial.reopen())  # a failed write left it unusable: start again

    def write(self, upload: Upload, offset: int, pieces: Sequence[bytes | Piece],
              landing: Landing | None = None) -> Deferred[int]:
        """Queue ``pieces`` for writing at ``offset``; raises IncomingError, changing
        nothing, if the upload takes no such bytes. Pieces that lie in a ``landing`` take
        its buffers along (storage gives them back once written); refused, they stay."""
        live = upload.live
        if not upload.receiving or live.partial is None:
            raise IncomingError(ErrorCode.WRONG_STATE,
                                f"ticket is {live.ticket.state.value}, it takes no bytes now")
        if offset != upload.next_offset:
            raise IncomingError(ErrorCode.BAD_REQUEST,
                                f"bytes at offset {offset}, expected {upload.next_offset}")
        end = offset + sum(len(piece) for piece in pieces)
        if end > (live.ticket.size or 0):
            raise IncomingError(ErrorCode.BEYOND_SIZE,
                                f"bytes up to {end} go past the declared size {live.ticket.size}")
        upload.next_offset = end
        written = live.partial.write(offset, pieces, landing.seal() if landing else None)
        written.addCallback(self._written, live, upload)
        return written

    def landing(self, upload: Upload) -> Landing:
        return self._storage.landing(upload.next_offset)

    def _written(self, offset: int, live: _Live, upload: Upload) -> int:
        # Counted per connection from where it began: bytes an older connection had written
        # are counted once, by that connection.
        self._lifecycle.received(offset - upload.acknowledged)
        upload.acknowledged = max(upload.acknowledged, offset)
        if offset == live.ticket.size:
            self._complete_soon(live)
        return offset

    def pause(self, upload: Upload, paused: bool) -> Deferred[Ticket]:
        """Pause or unpause; fires with the ticket, whose state is the answer to the client.

        Once every byte is in, pausing means nothing and is not an error: the
        client may have pressed the button as the last byte arrived.
        """
        live = upload.live
        if not upload.receiving:
            return succeed(live.ticket)
        ticket = advance(live.ticket, State.PAUSED if paused else State.UPLOADING,
                         self._clock.seconds())
        moved = ticket.state is not live.ticket.state
        saved = self._save(live, ticket, notify=False)
        if moved:
            saved.addCallback(lambda _: self._lifecycle.paused(ticket, upload.acknowledged))
        return saved.addCallback(lambda _: ticket)

    def cancel_by_frontend(self, upload: Upload, reason: str) -> Deferred[None]:
        """Cancel for the client; too late once every byte is in, and then not an error.

        The client pressed cancel as its last byte arrived: the upload simply
        goes on to ``finished``, which the client hears as usual.
        """
        live = upload.live
        if live.completing or not live.ticket.state.accepts_bytes:
            return succeed(None)
        return self._abandon(live, State.CANCELLED, "frontend",
                             reason[:MAX_REASON] or "cancelled by the user")

    def detach(self, upload: Upload) -> None:
        """The client went away. Its bytes stay; the file is closed until it comes back."""
        live = upload.live
        if live.listener is not upload.listener:
            return  # taken over already: the newer client owns the ticket
        live.listener = None
        live.upload = None
        if live.partial is not None and live.ticket.state.accepts_bytes:
            live.partial.close()
            self._save(live, touch(live.ticket, self._clock.seconds(),
                                   bytes_received=live.partial.offset))

    # -- completing and handing over ------------------------------------------------------------

    def _complete_soon(self, live: _Live) -> None:
        # Not now: whoever wrote the last byte acknowledges it before "stored" is announced.
        if not live.completing and not live.abandoning:
            live.completing = True
            self._clock.callLater(0, self._complete, live)

    @inlineCallbacks
    def _complete(self, live: _Live) -> Any:
        if live.partial is None or live.abandoning or not live.ticket.state.accepts_bytes:
            live.completing = False
            return  # cancelled while the last bytes were being written
        try:
            stored = yield live.partial.complete()
        except IncomingError as e:
            live.completing = False
            self._tell_failed(live, e)
            return
        live.partial = None
        now = self._clock.seconds()
        ticket = advance(live.ticket, State.STORED, now, path=stored.path, sha256=stored.sha256,
                         bytes_received=stored.size, stored_at=now)
        yield self._save(live, ticket)
        self._lifecycle.stored(ticket)
        yield self._hand_over(live)

    @inlineCallbacks
    def _hand_over(self, live: _Live) -> Any:
        now = self._clock.seconds()
        if live.ticket.state is State.STORED:
            yield self._save(live, advance(live.ticket, State.HANDING_OVER, now))
        live.backend_call = self._handover.deliver(live.ticket, since=live.ticket.stored_at)
        try:
            answer = yield live.backend_call
        except CancelledError:
            return  # shutting down: the next start hands it over again
        except IncomingError as e:
            failed = advance(live.ticket, State.FAILED, self._clock.seconds(), failure=e.message)
            yield self._save(live, failed, notify=False)
            self._lifecycle.failed(failed)
            self._tell_failed(live, e)
            return
        finally:
            live.backend_call = None
        self._lifecycle.handed_over(live.ticket, answer)
        if answer == "wait" and not live.finish_requested:
            yield self._save(live, advance(live.ticket, State.WAITING_FOR_BACKEND,
                                           self._clock.seconds()))
        else:
            yield self._finish(live)

    @inlineCallbacks
    def _finish(self, live: _Live) -> Any:
        ticket = advance(live.ticket, State.FINISHED, self._clock.seconds(), backend_told=True)
        yield self._save(live, ticket)
        self._lifecycle.finished(ticket)
        self._forget(live)
        if ticket.remove_file_when_finished:
            yield self._storage.remove(ticket.path)

    # -- cancelling -------------------------------------------------------------------------------

    @inlineCallbacks
    def _abandon(self, live: _Live, state: State, by: str, reason: str) -> Any:
        """End an upload that will not complete (cancelled, expired): bytes go, backend is told.

        Once the last byte is in, the file is on its way to the backend and the
        upload can no longer be abandoned; and once it is being abandoned, it
        can no longer complete. Exactly one of the two happens.
        """
        if live.completing:
            raise IncomingError(ErrorCode.WRONG_STATE,
                                "every byte has arrived: the file is being handed over")
        if live.abandoning:
            raise IncomingError(ErrorCode.TICKET_CLOSED, "ticket is being cancelled already")
        advance(live.ticket, state, self._clock.seconds())  # refuses what the state forbids
        live.abandoning = True
        received = self._bytes_received(live)
        yield self._drop_bytes(live)
        ticket = advance(live.ticket, state, self._clock.seconds(),
                         cancelled_by=by, cancel_reason=reason)
        yield self._save(live, ticket, notify=False)
        self._lifecycle.abandoned(ticket, received)
        if live.listener is not None:
            live.listener.cancelled(by, reason)
        self._forget(live)
        self._tell_backend_of_end(ticket)

    @inlineCallbacks
    def _drop_bytes(self, live: _Live) -> Any:
        _retire_upload(live)
        if live.partial is not None:
            yield live.partial.idle()
            yield live.partial.close()
            live.partial = None
        yield self._storage.remove_partial(live.ticket.id)

    @inlineCallbacks
    def _tell_backend_of_end(self, ticket: Ticket) -> Any:
        """A cancel or an expiry: the backend hears of it (retried, like a handover)."""
        try:
            yield self._handover.deliver(ticket, since=ticket.updated_at)
        except (IncomingError, CancelledError) as e:
            self.log.warn("backend never heard that ticket {ticket} ended: {e}",
                          ticket=short_id(ticket.id), e=e)
            return
        yield self._registry.save(attrs.evolve(ticket, backend_told=True))

    # -- housekeeping ----------------------------------------------------------------------------

    @inlineCallbacks
    def recover(self) -> Any:
        """After a start: resume handovers and cancel notices that a stop interrupted."""
        tickets = yield self._registry.needing_attention()
        for ticket in tickets:
            if ticket.state in (State.STORED, State.HANDING_OVER):
                live = self._live.setdefault(ticket.id, _Live(ticket))
                self._hand_over(live)
            elif ticket.state in (State.CANCELLED, State.EXPIRED):
                self._tell_backend_of_end(ticket)

    @inlineCallbacks
    def expire_abandoned(self) -> Any:
        """Tickets whose upload saw no activity for ``ticket_lifetime`` expire; bytes removed."""
        cutoff = self._clock.seconds() - self._config.ticket_lifetime
        tickets = yield self._registry.needing_attention()
        for ticket in tickets:
            live = self._live.get(ticket.id)
            if live is not None and live.listener is not None:
                continue  # a client is connected right now
            if ticket.state.accepts_bytes and ticket.updated_at < cutoff:
                try:
                    yield self._abandon(live or _Live(ticket), State.EXPIRED, "server", "expired")
                except IncomingError:
                    continue  # it completed or was cancelled meanwhile

    @inlineCallbacks
    def shut_down(self) -> Any:
        """Close every client (they reconnect to the next process) and flush every file."""
        self._stopping = True
        for live in list(self._live.values()):
            if live.backend_call is not None:
                live.backend_call.cancel()
            self._tell_failed(live, IncomingError(ErrorCode.SHUTTING_DOWN,
                                                  "the server is restarting"))
            if live.partial is not None:
                yield live.partial.idle()
                yield live.partial.close()

    # -- plumbing ---------------------------------------------------------------------------------

    @inlineCallbacks
    def _get(self, ticket_id: str) -> Any:
        live = self._live.get(ticket_id)
        if live is not None:
            return live
        ticket = yield self._registry.load(ticket_id)
        if ticket is None:
            raise IncomingError(ErrorCode.UNKNOWN_TICKET, "no such ticket")
        if ticket.state.terminal:
            return _Live(ticket)  # nothing more will happen to it: not worth keeping
        # The load may have raced another for the same ticket: keep the first.
        return self._live.setdefault(ticket_id, _Live(ticket))

    @inlineCallbacks
    def _authorised(self, ticket_id: str, secret: str) -> Any:
        live = yield self._get(ticket_id)
        if not hmac.compare_digest(live.ticket.backend_secret.encode(), secret.encode()):
            if live.listener is None and live.partial is None:
                self._live.pop(ticket_id, None)
            raise IncomingError(ErrorCode.WRONG_SECRET, "backendSecret does not match the ticket")
        return live

    def _save(self, live: _Live, ticket: Ticket, notify: bool = True) -> Deferred[None]:
        """Record a change, then tell the client of a new state."""
        moved = ticket.state is not live.ticket.state
        live.ticket = ticket
        saved = self._registry.save(ticket)
        if notify and moved and live.listener is not None:
            listener = live.listener
            saved.addCallback(lambda _: listener.state_changed(ticket))
        return saved

    def _tell_failed(self, live: _Live, error: IncomingError) -> None:
        listener, live.listener = live.listener, None
        _retire_upload(live)
        if listener is not None:
            listener.failed(error)

    def _forget(self, live: _Live) -> None:
        live.listener = None
        _retire_upload(live)
        self._live.pop(live.ticket.id, None)

    def _bytes_received(self, live: _Live) -> int:
        if live.partial is not None:
            return live.partial.offset
        if live.ticket.state.accepts_bytes:
            return self._storage.partial_size(live.ticket.id)
        return live.ticket.bytes_received


def _retire_upload(live: _Live) -> None:
    """The client's write handle stops working (taken over, failed, ended)."""
    if live.upload is not None:
        live.upload.active = False
        live.upload = None


def _taken_over() -> IncomingError:
    return IncomingError(ErrorCode.TAKEN_OVER, "a newer connection took over this ticket")


@attrs.define(eq=False)
class Upload:
    """One client's right to write into one ticket, until it is taken over or ends."""

    office: TicketOffice
    live: _Live
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
        self.listener = self.live.listener

    @property
    def ticket(self) -> Ticket:
        return self.live.ticket

    @property
    def receiving(self) -> bool:
        return self.active and self.live.ticket.state.accepts_bytes

    def write(self, offset: int, pieces: Sequence[bytes | Piece],
              landing: Landing | None = None) -> Deferred[int]:
        """Write ``pieces`` at ``offset``; fires with the new acknowledged offset."""
        return self.office.write(self, offset, pieces, landing)

    def landing(self) -> Landing:
        """Where this connection's next bytes may land before they are written."""
        return self.office.landing(self)

    def pause(self, paused: bool) -> Deferred[Ticket]:
        return self.office.pause(self, paused)

    def cancel(self, reason: str) -> Deferred[None]:
        return self.office.cancel_by_frontend(self, reason)

    def detach(self) -> None:
        self.office.detach(self)

