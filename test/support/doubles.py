"""Test doubles for the parts of the server that normally use threads and the network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.task import Clock
from twisted.python.failure import Failure


class ImmediateThreads:
    """Stands in for both the reactor's ``callFromThread`` and a ``ThreadPool``.

    Work "sent to a thread" runs at once on the calling thread, so storage
    operations complete synchronously and tests need no real threads.
    """

    def callFromThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        f(*args, **kwargs)

    def callInThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        f(*args, **kwargs)

    def callInThreadWithCallback(self, on_result: Callable[[bool, Any], None],
                                 f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            result = f(*args, **kwargs)
        except BaseException:
            on_result(False, Failure())
        else:
            on_result(True, result)


class HeldThreads(ImmediateThreads):
    """Like :class:`ImmediateThreads`, but work waits until the test calls :meth:`run`.

    Lets a test see what happens while writes are still in flight.
    """

    def __init__(self) -> None:
        self.held: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def callInThreadWithCallback(self, on_result: Callable[[bool, Any], None],
                                 f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.held.append((super().callInThreadWithCallback, (on_result, f, *args)))

    def callInThread(self, f: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        self.held.append((f, args))

    def run(self) -> int:
        """Run everything held, including work queued meanwhile; how many calls ran."""
        count = 0
        while self.held:
            call, args = self.held.pop(0)
            call(*args)
            count += 1
        return count


def clock_at(seconds: float = 1_000_000.0) -> Clock:
    clock = Clock()
    clock.advance(seconds)
    return clock


def fired(d: Any) -> Any:
    """What the Deferred ``d`` fired with (None: not yet); the result passes on untouched."""
    results: list[Any] = []

    def note(result: Any) -> Any:
        results.append(result)
        return result

    d.addBoth(note)
    return results[0] if results else None
