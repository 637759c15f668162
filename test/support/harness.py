"""An in-memory server for unit tests: the real office, storage and protocol, fake time and threads.

Connections are Autobahn's real protocol over a ``StringTransport``: tests
feed it the bytes a browser would send and read back the frames it writes.
"""

from __future__ import annotations

import base64
import json
import os
import struct
from pathlib import Path
from typing import Any

import attrs
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import StringTransport

from incoming.config import Config
from incoming.handover import BackendAnswer
from incoming.office import TicketOffice
from incoming.registry.memory import MemoryRegistry
from incoming.storage.filesystem import FileSystemStorage
from incoming.tickets import Ticket
from incoming.upload_protocol import UploadFactory
from test.support.doubles import ImmediateThreads, clock_at
from test.support.wsclient import OP_BINARY, OP_CLOSE, OP_TEXT, frame

SMALL = Config(chunk_size=8192, window_size=32768, max_upload_size=10**6, idle_timeout=30.0)


class FakeHandover:
    """Records each delivery; the test decides when and how the backend answers."""

    def __init__(self) -> None:
        self.calls: list[tuple[Ticket, Deferred[BackendAnswer]]] = []
        self.auto_answer: str | None = None

    def deliver(self, ticket: Ticket, since: float) -> Deferred[BackendAnswer]:
        if self.auto_answer is not None:
            self.calls.append((ticket, succeed(BackendAnswer(self.auto_answer))))
            return succeed(BackendAnswer(self.auto_answer))
        answer: Deferred[BackendAnswer] = Deferred()
        self.calls.append((ticket, answer))
        return answer

    def answer(self, text: str, index: int = -1, result: str = "") -> None:
        self.calls[index][1].callback(BackendAnswer(text, result))


@attrs.define
class Server:
    root: Path
    config: Config = SMALL
    clock: Any = attrs.Factory(clock_at)
    threads: Any = attrs.Factory(ImmediateThreads)
    registry: MemoryRegistry = attrs.Factory(MemoryRegistry)
    handover: FakeHandover = attrs.Factory(FakeHandover)
    lifecycle: Any = None
    """A :class:`~incoming.lifecycle.Lifecycle` for the office (None: the office's default)."""
    leases: Any = None
    """The office's :class:`~incoming.leases.Leases` (None: it is the only instance)."""
    office: TicketOffice = attrs.field(init=False)
    storage: FileSystemStorage = attrs.field(init=False)
    factory: UploadFactory = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self.storage = FileSystemStorage(str(self.root), self.threads, self.threads)
        self.office = TicketOffice(self.config, self.registry, self.storage, self.handover,
                                   self.clock, self.lifecycle, self.leases)
        self.factory = UploadFactory(self.office, self.config, self.clock)
        # Autobahn's own timers run on the global reactor: keep them out of unit tests.
        # (Every call of setProtocolOptions sets allowNullOrigin again: keep the server's.)
        self.factory.setProtocolOptions(autoPingInterval=0, openHandshakeTimeout=0,
                                        closeHandshakeTimeout=0, allowNullOrigin=True)

    def restarted(self) -> Server:
        """A new server process over the same registry and storage directory."""
        return Server(self.root, self.config, self.clock, self.threads, self.registry,
                      FakeHandover())

    def ticket(self, **kwargs: Any) -> Ticket:
        kwargs.setdefault("signal_finish_url", "http://backend.test/done")
        made = self.office.new_upload(**kwargs)
        return made.result  # type: ignore[attr-defined]

    def state(self, ticket_id: str) -> str:
        return self.registry.tickets[ticket_id].state.value

    def connect(self) -> Connection:
        protocol = self.factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 50000))
        transport = StringTransport()
        transport.bufferSize = 65536  # as a TCP transport has: the protocol sizes reads with it
        protocol.makeConnection(transport)
        key = base64.b64encode(os.urandom(16)).decode()
        protocol.dataReceived(
            f"GET /incoming/0.1/frontend/upload_ws HTTP/1.1\r\nHost: localhost\r\n"
            f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            f"Sec-WebSocket-Version: 13\r\n\r\n".encode())
        response = transport.value()
        assert response.startswith(b"HTTP/1.1 101"), response[:100]
        transport.clear()
        return Connection(protocol, transport)


class Connection:
    """One client connection: send like a browser, read what the server wrote."""

    def __init__(self, protocol: Any, transport: StringTransport) -> None:
        self.protocol = protocol
        self.transport = transport
        self.close_code: int | None = None

    def send(self, message: dict[str, Any]) -> None:
        self.protocol.dataReceived(frame(OP_TEXT, json.dumps(message).encode()))

    def send_text(self, raw: bytes) -> None:
        self.protocol.dataReceived(frame(OP_TEXT, raw))

    def send_bytes(self, data: bytes) -> None:
        self.protocol.dataReceived(frame(OP_BINARY, data))

    def hello(self, ticket: Ticket | str, size: int, filename: str = "a.bin") -> dict[str, Any]:
        ticket_id = ticket if isinstance(ticket, str) else ticket.id
        self.send({"type": "hello", "ticket": ticket_id, "size": size, "filename": filename})
        return self.messages()[-1]

    def messages(self) -> list[dict[str, Any]]:
        """Text messages the server wrote since the last call (close frames noted)."""
        data = self.transport.value()
        self.transport.clear()
        found = []
        while data:
            opcode, payload, data = _split_frame(data)
            if opcode == OP_TEXT:
                found.append(json.loads(payload))
            elif opcode == OP_CLOSE and len(payload) >= 2:
                self.close_code = struct.unpack("!H", payload[:2])[0]
        return found

    def lose(self) -> None:
        from twisted.internet.error import ConnectionLost
        from twisted.python.failure import Failure

        self.protocol.connectionLost(Failure(ConnectionLost()))


def _split_frame(data: bytes) -> tuple[int, bytes, bytes]:
    opcode, n = data[0] & 0x0F, data[1] & 0x7F
    at = 2
    if n == 126:
        n, at = struct.unpack("!H", data[2:4])[0], 4
    elif n == 127:
        n, at = struct.unpack("!Q", data[2:10])[0], 10
    return opcode, data[at:at + n], data[at + n:]


def stored_bytes(server: Server, ticket_id: str) -> bytes:
    for folder in ("partial", "complete"):
        path = server.root / folder / ticket_id
        if path.exists():
            return path.read_bytes()
    return b""
