"""The upload protocol over WebSocket (Autobahn). ``docs/protocol.rst`` is its specification.

Messages, in short (text messages are JSON objects with a ``type``)::

    client → server   hello {ticket, size, filename}   first message, always
                      <binary>                         file bytes, in order, ≤ chunkSize each,
                                                       at most `window` bytes beyond the last ack
                      pause | unpause                  stop / resume sending
                      cancel {reason}                  abandon the upload
    server → client   welcome {offset, chunkSize, window, state}
                      ack {offset}                     every byte before offset is stored
                      state {state}                    paused, uploading, stored, handing_over,
                                                       waiting_for_backend, finished
                      cancelled {by, reason}           then close 1000
                      error {code, message, state}     then close 4000 + code

This module only parses and checks what arrives and renders what leaves; the
:class:`~incoming.office.TicketOffice` decides. File bytes are not gathered
into whole messages (that reassembly was a quarter of the server's CPU time,
see docs/performance.rst): on a TCP connection each binary frame's payload is read
from the socket straight into storage's buffers, still masked
(``unmasking.py``), and goes to storage in batches.
"""

from __future__ import annotations

import enum
import json
import socket
from collections.abc import Callable
from typing import Any, Protocol, cast

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.types import ConnectionDeny, ConnectionRequest
from twisted.internet import main, tcp
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.internet.interfaces import IReactorTime, ITransport
from twisted.logger import Logger
from twisted.python.failure import Failure

from incoming.config import Config
from incoming.errors import ErrorCode, IncomingError
from incoming.ingest import IdleTimer, Intake, WriteBudget
from incoming.limits import ConnectionLimits, Refusal, RefusalLog, client_address, printable
from incoming.limits import CountedConnection, unwrapped
from incoming.office import MAX_FILENAME, MAX_REASON, Hello, TicketOffice, Upload, valid_digest
from incoming.tickets import State, Ticket
from incoming.storage.direct import Landing
from incoming.internals import FastPath, probe
from incoming.unmasking import MaskedBytes, pass_through_masker, turned

MAX_TEXT_MESSAGE = 16 * 1024
MAX_TICKET_ID = 256
MAX_WAITING_MESSAGES = 8
"""Text messages a client may send after its hello before the welcome (they wait for it)."""
CLOSE_HANDSHAKE_TIMEOUT = 10.0
"""Seconds a client has to answer our close before the connection is dropped."""
HEADER_READ = 14
"""The longest header of a client frame: 2 bytes, 8 of length, 4 of mask."""
MAX_READ = 1 << 20
"""The most one read of a frame's payload takes through Twisted (a frame may claim 2**63)."""
READS_PER_WAKEUP = 8
"""At most this many reads of one frame's payload per readable event (fairness)."""

CLIENT_STATES = frozenset({State.UPLOADING, State.PAUSED, State.STORED, State.HANDING_OVER,
                           State.WAITING_FOR_BACKEND, State.FINISHED})


class Phase(enum.Enum):
    AWAITING_HELLO = "awaiting hello"
    BEGINNING = "beginning"
    """The hello is being checked; other text messages wait, binary ones are refused."""
    OPEN = "open"
    CLOSING = "closing"


log = Logger()
"""Ours; Autobahn's ``self.log`` filters its own (per-read) debug messages and must stay."""


class _SizedReads(Protocol):
    """What we use of a transport that reads ``bufferSize`` bytes at a time (onOpen)."""

    bufferSize: int


class _SocketReads(Protocol):
    """What we use of Twisted's TCP transport (``tcp.Connection``) to read payloads ourselves."""

    socket: socket.socket
    doRead: Callable[[], object]  # replaced per frame; ``del`` brings back the class's


class UploadProtocol(WebSocketServerProtocol):
    factory: UploadFactory
    transport: ITransport  # set by makeConnection, before any of these methods runs

    def __init__(self) -> None:
        super().__init__()
        self._phase = Phase.AWAITING_HELLO
        self._upload: Upload | None = None
        self._waiting_messages: list[dict[str, Any]] = []
        self._message_binary = False
        self._message_size = 0
        self._text_parts: list[bytes] = []
        self._intake: Intake | None = None
        """This connection's bytes on their way into the upload, once welcomed."""
        self._paused = False
        self._cancelling = False
        """The client sent cancel: bytes behind it are ignored."""
        self._sized_reads = False
        self._socket_reads = False
        self._landing: Landing | None = None
        """Where this connection's file bytes land until they are written."""
        self._frame_left = 0
        """Bytes of the current frame still to read straight from the socket."""
        self._frame_key = b""
        self._idle: IdleTimer | None = None
        self._address: str | None = None
        """The client address this connection counts against, once admitted."""
        self._counter: CountedConnection | None = None
        """What our transport delivers to, if not to us (see makeConnection)."""

    # -- connection ----------------------------------------------------------------------------

    def makeConnection(self, transport: Any) -> None:
        """Talk to the transport under the public listeners' connection counter, as if it
        were not there: Autobahn reads TLS details only off Twisted's own TLS protocol, and
        file bytes are read straight from Twisted's TCP transport (see onOpen). What
        arrives still passes through the counter, and so does the end of the connection,
        which is all it needs."""
        self._counter = transport if isinstance(transport, CountedConnection) else None
        super().makeConnection(unwrapped(transport))

    def onConnect(self, request: ConnectionRequest) -> None:
        """Refuse the handshake of a page from a foreign origin (403), or of a client over its
        connection limits (429), before any upload state exists; one log line each, never a
        traceback."""
        config = self.factory.config
        peer = getattr(self.transport.getPeer(), "host", "")
        address = client_address(peer, request.headers.get("x-forwarded-for"),
                                 config.trusted_proxy)
        origin = (request.origin or "").strip().lower()
        # Browsers always send Origin; a program that sends none is no web page (and could
        # send any Origin it liked): the check guards users' browsers, not the server.
        if config.allowed_origin and origin and origin not in config.allowed_origin:
            self._refuse(address, Refusal(403, "origin not allowed"), origin)
        refusal = self.factory.limits.admit(address)
        if refusal is not None:
            self._refuse(address, refusal, origin)
        self._address = address

    def _refuse(self, address: str, refusal: Refusal, origin: str) -> None:
        self.factory.refusal_log.refused(
            "refused an upload connection from {address} (origin {origin}): {status} {reason}",
            address=address, origin=printable(origin) or "none", status=refusal.status,
            reason=refusal.reason)
        raise ConnectionDeny(refusal.status, refusal.reason)

    def onOpen(self) -> None:
        # Twisted's TCP transport reads bufferSize bytes at a time (TLS wrappers pass the
        # attribute on, harmlessly).
        self._sized_reads = hasattr(self.transport, "bufferSize")
        # Only from Twisted's own TCP transport do we read ourselves: a TLS wrapper also
        # answers to .socket, but what comes off that socket is ciphertext.
        self._socket_reads = (isinstance(self.transport, tcp.Connection)
                              and self.transport.protocol is (self._counter or self)
                              and self.factory.fast_path.socket_reads)
        self._idle = IdleTimer(self.factory.clock, self.factory.config.idle_timeout,
                               self._waiting, self._idle_timeout)
        self._idle.start()

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self._phase = Phase.CLOSING
        if self._address is not None:
            self.factory.limits.release(self._address)
            self._address = None
        self.factory.write_budget.forget(self.transport)
        if self._idle is not None:
            self._idle.stop()
        self._let_go()

    # -- frames as they arrive (instead of Autobahn's whole-message onMessage) -------------------

    def onMessageBegin(self, isBinary: bool) -> None:
        self._message_binary = isBinary
        self._message_size = 0
        self._text_parts = []
        if isBinary and self._phase is not Phase.OPEN and self._phase is not Phase.CLOSING:
            self._fail(IncomingError(ErrorCode.BAD_REQUEST, "file bytes before the welcome"))

    def onMessageFrameBegin(self, length: int) -> None:
        if self._phase is not Phase.CLOSING:
            self._message_size += length
            if not self._message_binary:
                if self._message_size > MAX_TEXT_MESSAGE:
                    self._fail(IncomingError(ErrorCode.BAD_REQUEST, "text message too long"))
                return
            self._check_binary_frame(length)  # first: a refused frame is never read for real
        if self._socket_reads and not self.data and length and self.current_frame.mask:
            self._read_payload_from_socket(length)  # into the landing, or discarded if closing
            return
        if self._phase is not Phase.CLOSING and self._message_binary:
            self._leave_masked()
        self._read_to_frame_end(length)

    def _leave_masked(self) -> None:
        """Swap Autobahn's masker for this frame for one that leaves the unmasking to storage
        (see unmasking.py)."""
        frame = self.current_frame
        if (frame is not None and frame.mask and frame.length
                and self.factory.fast_path.unmask_in_storage):
            masker = pass_through_masker(cast(bytes, frame.mask))  # Autobahn says str
            if masker is not None:
                self.current_frame_masker = masker

    def _read_to_frame_end(self, length: int) -> None:
        """Size the next reads to end exactly where this frame ends, then read one header.

        Autobahn copies its buffer whenever a read holds the end of one frame
        and the start of the next (and again when it strips a header from a
        large buffer). Reads that stop at frame boundaries hand each payload on
        as it came from the socket: two copies per MiB fewer, for one small
        read per frame. Twisted's default (64 KiB per read) would also mean
        sixteen trips through Autobahn per MiB.
        """
        if self._sized_reads:
            sized = cast(_SizedReads, self.transport)
            sized.bufferSize = max(min(length - len(self.data), MAX_READ), HEADER_READ)

    def _read_payload_from_socket(self, length: int) -> None:
        """Read this frame's payload ourselves, straight into the landing: no bytes object
        per read, nothing for Autobahn to slice, nothing left to copy (docs/performance.rst).

        Twisted's TCP transport reads by calling its ``doRead``; until the frame
        ends, that is :meth:`_read_payload`. Autobahn parsed the header and
        reads the next one, as before; the frame's end is reported to it as its
        own parser would.
        """
        self._frame_left = length
        self._frame_key = cast(bytes, self.current_frame.mask)  # Autobahn says str
        cast(_SocketReads, self.transport).doRead = self._read_payload

    def _read_payload(self) -> ConnectionDone | ConnectionLost | None:
        """The transport's ``doRead`` while a frame's payload comes straight in.

        It reads on while the socket fills every space it is given (up to
        :data:`READS_PER_WAKEUP` times): a 1 MiB frame spans several buffers,
        and one trip through the reactor per buffer cost more than the reads.
        """
        for _ in range(READS_PER_WAKEUP):
            done = self.current_frame.length - self._frame_left
            if self._landing is not None and self._phase is not Phase.CLOSING:
                space = self._landing.space(self._frame_left)
            else:  # closing: read on to the close frame, keep nothing
                space = memoryview(bytearray(min(self._frame_left, 1 << 16)))
            try:
                count = cast(_SocketReads, self.transport).socket.recv_into(space)
            except BlockingIOError:
                return None
            except OSError:
                return main.CONNECTION_LOST
            if not count:
                return main.CONNECTION_DONE
            self._frame_left -= count
            if self._landing is not None and self._phase is not Phase.CLOSING:
                self._landing.landed(count)
                self._take_bytes([MaskedBytes(space[:count], turned(self._frame_key, done))])
            if not self._frame_left:
                del cast(_SocketReads, self.transport).doRead  # Twisted's own again
                self.onFrameEnd()  # Autobahn's, as if its parser had read the payload
                return None
            if count < len(space) or self.factory.write_budget.holds(self.transport):
                return None
        return None

    def _check_binary_frame(self, length: int) -> None:
        upload, intake = self._upload, self._intake
        assert upload is not None and intake is not None
        config = self.factory.config
        if self._message_size > config.chunk_size:
            self._fail(IncomingError(ErrorCode.CHUNK_TOO_LARGE,
                                     f"message of {self._message_size} bytes or more is larger "
                                     f"than the chunk size {config.chunk_size}"))
        elif intake.received + length > (upload.ticket.size or 0):
            self._fail(IncomingError(ErrorCode.BEYOND_SIZE,
                                     f"bytes up to {intake.received + length} go past the "
                                     f"declared size {upload.ticket.size}"))
        elif intake.received + length - intake.acked > config.window_size:
            self._fail(IncomingError(ErrorCode.WINDOW_EXCEEDED,
                                     f"{intake.received + length - intake.acked} bytes beyond the "
                                     f"last acknowledgement, the window is {config.window_size}"))

    def onMessageFrameData(self, payload: bytes | MaskedBytes) -> None:
        if self._phase is Phase.CLOSING:
            return
        if self._message_binary:
            self._take_bytes(self._land(payload))
            return
        self._note_activity()
        self._text_parts.append(cast(bytes, payload))  # only binary frames are left masked

    def _land(self, payload: bytes | MaskedBytes) -> list[Any]:
        """Copy bytes Autobahn parsed into the landing (still masked, if they are)."""
        assert self._landing is not None
        if not isinstance(payload, MaskedBytes):
            return self._landing.put(payload)
        return payload.moved_to(self._landing.put(payload.data))

    def _take_bytes(self, pieces: list[Any]) -> None:
        """File bytes, landed; they go to storage in batches."""
        if self._phase is Phase.CLOSING or self._cancelling or self._intake is None:
            return
        self._note_activity()  # a slow client may take long over one message
        self._intake.take(pieces)

    def onMessageFrameEnd(self) -> None:
        if self._sized_reads:
            cast(_SizedReads, self.transport).bufferSize = HEADER_READ

    def onMessageEnd(self) -> None:
        if self._phase is Phase.CLOSING:
            return
        self._note_activity()
        if self._message_binary:
            if self._intake is not None and not self._cancelling:
                self._intake.message_end()
            return
        self._receive_text(b"".join(self._text_parts))

    # -- text messages ----------------------------------------------------------------------------

    def _receive_text(self, raw: bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            self._fail(IncomingError(ErrorCode.BAD_REQUEST, "text message is not JSON"))
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self._fail(IncomingError(ErrorCode.BAD_REQUEST,
                                     "text message is not a JSON object with a type"))
            return
        if self._phase is Phase.BEGINNING:
            if len(self._waiting_messages) >= MAX_WAITING_MESSAGES:
                self._fail(IncomingError(ErrorCode.BAD_REQUEST,
                                         "too many messages before the welcome"))
                return
            self._waiting_messages.append(message)  # handled once the welcome is out
            return
        self._dispatch(message)

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "hello" and self._phase is Phase.AWAITING_HELLO:
            self._hello(message)
        elif kind == "hello":
            self._fail(IncomingError(ErrorCode.BAD_REQUEST, "a second hello"))
        elif self._phase is Phase.AWAITING_HELLO:
            self._fail(IncomingError(ErrorCode.BAD_REQUEST, f"{kind!r} before hello"))
        elif kind in ("pause", "unpause"):
            self._pause(kind == "pause")
        elif kind == "cancel":
            self._cancel(message)
        elif kind == "digest":
            self._digest(message)
        else:
            self._fail(IncomingError(ErrorCode.BAD_REQUEST, f"unknown message type {kind!r}"))

    def _hello(self, message: dict[str, Any]) -> None:
        try:
            ticket_id, hello = _parse_hello(message)
        except IncomingError as e:
            self._fail(e)
            return
        self._phase = Phase.BEGINNING
        begun = self.factory.office.begin(ticket_id, hello, self)
        begun.addCallbacks(self._welcome, self._fail_from)

    def _welcome(self, upload: Upload) -> None:
        if self._phase is Phase.CLOSING:
            upload.detach()  # the client left while we were checking its hello
            return
        self._upload = upload
        self._landing = upload.landing()
        self._intake = Intake(upload, self._landing, self.factory.write_budget, self.transport,
                              self._acknowledge, self._fail_from)
        self._phase = Phase.OPEN
        config = self.factory.config
        self._tell({"type": "welcome", "offset": upload.offset, "chunkSize": config.chunk_size,
                    "window": config.window_size, "state": upload.ticket.state.value})
        waiting, self._waiting_messages = self._waiting_messages, []
        for message in waiting:
            if self._phase is Phase.OPEN:
                self._dispatch(message)

    def _pause(self, paused: bool) -> None:
        assert self._upload is not None
        self._paused = paused
        self._note_activity()
        self._upload.pause(paused).addCallbacks(self._tell_state, self._fail_from)

    def _cancel(self, message: dict[str, Any]) -> None:
        assert self._upload is not None
        reason = message.get("reason", "")
        if not isinstance(reason, str) or len(reason) > MAX_REASON:
            self._fail(IncomingError(ErrorCode.BAD_REQUEST,
                                     f"reason must be a string of at most {MAX_REASON} characters"))
            return
        # Bytes still on their way behind the cancel are not wanted: drop what was gathered
        # and ignore what comes (a cancelled upload must end as cancelled, not as an error).
        self._cancelling = True
        if self._intake is not None:
            self._intake.close()
        self._upload.cancel(reason).addErrback(self._fail_from)

    def _digest(self, message: dict[str, Any]) -> None:
        assert self._upload is not None
        sha256 = message.get("sha256")
        if not valid_digest(sha256):
            self._fail(IncomingError(ErrorCode.BAD_REQUEST,
                                     "sha256 must be 64 lower-case hex digits"))
            return
        try:
            self._upload.digest(sha256)
        except IncomingError as e:
            self._fail(e)

    # -- file bytes -------------------------------------------------------------------------------

    def _acknowledge(self, offset: int) -> None:
        if self._phase is Phase.OPEN:
            self._tell({"type": "ack", "offset": offset})

    # -- what the office tells us (UploadListener) ------------------------------------------------

    def state_changed(self, ticket: Ticket) -> None:
        if ticket.state is State.FINISHED and ticket.result:
            self._tell({"type": "state", "state": "finished", "result": json.loads(ticket.result)})
        else:
            self._tell_state(ticket)
        if ticket.state is State.FINISHED:
            self._close(1000, "finished")

    def cancelled(self, by: str, reason: str) -> None:
        self._tell({"type": "cancelled", "by": by, "reason": reason})
        self._close(1000, "cancelled")

    def failed(self, error: IncomingError) -> None:
        self._fail(error)

    # -- sending ----------------------------------------------------------------------------------

    def _tell_state(self, ticket: Ticket) -> None:
        if ticket.state in CLIENT_STATES:
            self._tell({"type": "state", "state": ticket.state.value})

    def _tell(self, message: dict[str, Any]) -> None:
        # Autobahn's own state too: after the client's close frame, it is closed before
        # onClose tells us, and a write that completes in between has nothing to ack.
        if self._phase is not Phase.CLOSING and self.state == self.STATE_OPEN:
            self.sendMessage(json.dumps(message).encode(), isBinary=False)

    def _fail(self, error: IncomingError) -> None:
        """Tell the client what went wrong, then close with 4000 + code."""
        if self._phase is Phase.CLOSING:
            return
        message: dict[str, Any] = {"type": "error", "code": int(error.code),
                                   "message": error.message}
        if error.state is not None:
            message["state"] = error.state
        elif self._upload is not None:
            message["state"] = self._upload.ticket.state.value
        message.update(error.details)
        self._tell(message)
        self._close(4000 + int(error.code), error.code.wire_name)

    def _fail_from(self, failure: Failure) -> None:
        if isinstance(failure.value, IncomingError):
            self._fail(failure.value)
            return
        # A bug of ours. Autobahn refuses 1011 as a server's close code; error 12 tells the
        # client what 1011 would have: the bytes acknowledged are safe, connect again.
        log.failure("upload connection failed", failure)
        self._fail(IncomingError(ErrorCode.STORAGE_FAILED, "internal server error"))

    def _close(self, code: int, reason: str) -> None:
        if self._phase is Phase.CLOSING:
            return
        self._phase = Phase.CLOSING
        self._let_go()
        self.factory.write_budget.release(self.transport)
        self.sendClose(code, reason)

    def _let_go(self) -> None:
        """Give up the upload (another connection may take it) and the bytes gathered for it:
        their buffers, and their count in the write budget (at once: a closing handshake may
        take seconds, and the budget must not wait for it)."""
        if self._upload is not None:
            self._upload.detach()
            self._upload = None
        if self._intake is not None:
            self._intake.close()
        if self._landing is not None:
            self._landing.release()
            self._landing = None

    # -- idle timeout -----------------------------------------------------------------------------

    def _note_activity(self) -> None:
        if self._idle is not None:
            self._idle.activity()

    def _waiting(self) -> bool:
        """Paused, or waiting for the server (its disk, the handover): not idle."""
        return (self._paused or (self._upload is not None and not self._upload.receiving)
                or self.factory.write_budget.holds(self.transport))

    def _idle_timeout(self) -> None:
        timeout = self.factory.config.idle_timeout
        what = "no hello" if self._phase is not Phase.OPEN else "no bytes"
        self._fail(IncomingError(ErrorCode.IDLE_TIMEOUT, f"{what} for {timeout:g} seconds"))


def _parse_hello(message: dict[str, Any]) -> tuple[str, Hello]:
    ticket_id, size, filename = (message.get("ticket"), message.get("size"),
                                 message.get("filename", ""))
    integrity, sha256 = message.get("integrity"), message.get("sha256", "")
    if not isinstance(ticket_id, str) or not 0 < len(ticket_id) <= MAX_TICKET_ID:
        raise IncomingError(ErrorCode.BAD_REQUEST, "hello needs a ticket (a string)")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise IncomingError(ErrorCode.BAD_REQUEST, "hello needs a size (an integer, 0 or more)")
    if not isinstance(filename, str) or len(filename) > MAX_FILENAME:
        raise IncomingError(ErrorCode.BAD_REQUEST,
                            f"filename must be a string of at most {MAX_FILENAME} characters")
    if integrity not in (None, "sha256"):
        raise IncomingError(ErrorCode.BAD_REQUEST, 'integrity must be "sha256" when given')
    if sha256 != "" and not valid_digest(sha256):
        raise IncomingError(ErrorCode.BAD_REQUEST, "sha256 must be 64 lower-case hex digits")
    return ticket_id, Hello(size=size, filename=filename, sha256=sha256,
                            integrity=integrity == "sha256")


class UploadFactory(WebSocketServerFactory):
    # Autobahn's factory is a plain Factory[_ProtoWithFactory], not Factory[UploadProtocol],
    # so Twisted's stubs cannot match UploadProtocol.factory (an UploadFactory) to it.
    protocol = UploadProtocol  # type: ignore[assignment]

    def __init__(self, office: TicketOffice, config: Config, clock: IReactorTime,
                 limits: ConnectionLimits | None = None, fast_path: FastPath | None = None,
                 write_budget: WriteBudget | None = None, **kwargs: Any) -> None:
        """``fast_path``: which parts of the fast receive path to use (default: whatever
        :func:`incoming.internals.probe` finds working, as ``config.fast_receive`` allows)."""
        super().__init__(reactor=clock, **kwargs)
        self.office = office
        self.config = config
        self.clock = clock
        self.fast_path = fast_path or probe(config.fast_receive)
        self.limits = limits or ConnectionLimits(clock, config.max_connections_per_address,
                                                 config.connection_rate_per_address)
        """Open upload connections per client address, and their rate (shared with other
        faces that take uploads)."""
        self.refusal_log = RefusalLog(clock)
        self.write_budget = write_budget or WriteBudget(config.write_buffer_size)
        """Shared with every other face that takes upload bytes (service.py makes one)."""
        self.setProtocolOptions(
            autoPingInterval=config.ping_interval,
            # Autobahn's timers round to whole seconds: a second more spares answering peers.
            autoPingTimeout=config.ping_interval + 1.0,
            # The same rounding made Autobahn's 1 s default fire at once under load: the
            # connection was reset before a busy client had read "finished" and the close.
            closeHandshakeTimeout=CLOSE_HANDSHAKE_TIMEOUT,
            # The upgrade request's headers arrive under twisted.web's request deadline; this
            # bounds a handshake sent straight to this factory the same way.
            openHandshakeTimeout=config.request_timeout,
            # A frame that breaks RFC 6455 (unmasked, reserved opcode, a control frame over
            # 125 bytes, invalid UTF-8, ...) is answered with a close frame (1002, 1007)
            # instead of a silent drop: the client learns why.
            failByDrop=False,
            # Origins are checked in onConnect against allowed_origin (unset: any, "null"
            # of sandboxed and file: pages included), not by Autobahn's own rules.
            allowNullOrigin=True,
            # Sizes are checked per message by the protocol, with its own error codes.
            maxFramePayloadSize=0,
            maxMessagePayloadSize=0,
            perMessageCompressionAccept=lambda offers: None,
        )
