"""Where uploaded bytes live. Storage knows ticket IDs and bytes, nothing of HTTP or sockets.

Two kinds: :class:`~incoming.storage.filesystem.FileSystemStorage` (a local or
shared directory) and :class:`~incoming.storage.s3.S3Storage` (S3-compatible
object storage). The office, the faces and the service know them only as
:class:`Storage` and :class:`Partial`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from twisted.internet.defer import Deferred

    from incoming.storage.direct import Landing, Piece
    from incoming.storage.filesystem import StoredFile


class Partial(Protocol):
    """The bytes of one upload so far, appended in order and hashed on the way in."""

    offset: int
    """Bytes safely taken (what may be acknowledged); changes on the reactor thread only."""

    def open(self) -> Deferred[int]:
        """Find (or begin) the upload; fires with the offset to resume from."""

    def reopen(self) -> Deferred[int]:
        """Forget a failure and start again from what is safe."""

    def write(self, offset: int, pieces: Sequence[bytes | Piece],
              buffers: list[Any] | None = None) -> Deferred[int]:
        """Append at ``offset``; fires with the new offset once the bytes are safe."""

    def complete(self) -> Deferred[StoredFile]:
        """Every byte is in: put the file in its place; fires with what was stored."""

    def close(self) -> Deferred[None]:
        """The client went away: let go of what is open; the bytes stay."""

    def idle(self) -> Deferred[Any]:
        """Fires once every queued operation has run."""


class Storage(Protocol):
    """Where the office keeps uploads: partial ones, and stored files by their ``path``."""

    root: str
    """The local directory whose free space matters (files, or the spool of parts)."""

    def landing(self, offset: int) -> Landing:
        """Where a connection's bytes for ``offset`` onwards may land before a write."""

    def partial(self, ticket_id: str, size: int | None = None) -> Partial:
        """A handle on the ticket's upload; ``size``: the declared size, when known."""

    def partial_size(self, ticket_id: str) -> int:
        """Bytes of the ticket's upload so far, as far as this instance knows without waiting."""

    def remove(self, path: str) -> Deferred[None]:
        """Delete a stored file (its ``StoredFile.path``) if it exists."""

    def remove_partial(self, ticket_id: str) -> Deferred[None]:
        """Delete whatever an unfinished upload left (abandoned: cancelled or expired)."""
