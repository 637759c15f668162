"""A real twistd killed with SIGKILL at points of an upload, restarted on the same port and
storage: the upload carries on, the file is intact, and the ticket finishes exactly once.

Each test prints what the lead quotes (run with ``-q``; the lines are printed around pytest's
capture): the bytes the client had to send again after the restart, and how long the restart
took until the transfer was moving again (the first ack after the new welcome).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from test.integration.conftest import FAST_OPTIONS
from test.integration.wsupload import make_data, sha256
from test.support.backend import DONE, WAIT, BackendAPI, FakeBackend
from test.support.resuming import Attempt, ResumingUpload
from test.support.server import IncomingServer

MiB = 1 << 20

CLIENT = {"first_delay": 0.05, "most_delay": 0.5, "deadline": 25.0}
"""The client's backoff, as the browser's but 20 times faster: 25-50 ms, then doubling."""


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def report(capsys: pytest.CaptureFixture[str], text: str) -> None:
    """A line in the test output whatever pytest captures."""
    with capsys.disabled():
        print(f"\n[crash-restart] {text}")


def finished_lines(server: IncomingServer, ticket: str) -> list[str]:
    """The log's "ticket … finished" events for ``ticket``, across restarts."""
    return re.findall(rf"ticket {re.escape(ticket[:8])} finished:", server.log)


def restart(server: IncomingServer, upload: ResumingUpload) -> tuple[float, float]:
    """Start the killed server again on its port, once the client has noticed the kill;
    (when the restart began, when the server listened)."""
    port = server.port
    upload.wait_until(lambda u: u.attempts[-1].ended_at is not None, 10,
                      "the client to notice the kill")
    began = time.monotonic()
    server.start()
    assert server.port == port, "the restarted server listens on the same port"
    return began, time.monotonic()


def reconnected(upload: ResumingUpload, count: int = 2) -> Attempt:
    """The ``count``-th welcomed connection (the first after the restart, by default)."""
    return upload.wait_until(lambda u: len(u.welcomed) >= count and u.welcomed[count - 1], 10,
                             "the client to be welcomed after the restart")


@pytest.mark.time_limit(30)
def test_killed_during_the_transfer(make_server: Callable[..., IncomingServer],
                                    backend: FakeBackend,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """Killed with bytes in flight, the restarted server welcomes the client at or past its last
    ack, the client re-sends at most one window, and the stored file is byte-identical."""
    server = make_server(**FAST_OPTIONS, window_size="2MiB", chunk_size="256KiB")
    api = BackendAPI(server.api_url)
    data = make_data(12 * MiB, seed=71)
    ticket = api.new_upload(backend.callback_url(), remove_file_when_finished=False)
    with ResumingUpload(server, ticket, data, pause_at=5 * MiB, **CLIENT) as upload:
        assert upload.paused_at_mark.wait(15), upload.summary()
        server.kill()  # at once: up to a window of bytes is still on its way
        began, listening = restart(server, upload)
        assert upload.wait_done(15) == "finished", upload.summary()

    before, after = upload.welcomed[0], upload.welcomed[1]
    window = after.welcome["window"]
    assert window == 2 * MiB
    assert before.sent == 5 * MiB
    assert before.sent - before.acked <= window, "the client kept within the window"
    assert after.offset is not None and before.acked <= after.offset <= before.sent, (
        "welcome.offset after the restart is at least the last ack seen, at most what was sent",
        before.acked, after.offset, before.sent)
    resent = before.sent - after.offset
    assert resent <= window
    assert after.first_ack_at is not None
    report(capsys, f"killed during the transfer: last ack seen {before.acked}, sent "
                   f"{before.sent}, welcome.offset after restart {after.offset}: re-sent "
                   f"{resent} bytes ({resent / MiB:.2f} MiB; window {window}); restart to "
                   f"listening {listening - began:.3f} s, restart to first ack "
                   f"{after.first_ack_at - began:.3f} s (welcome to first ack "
                   f"{after.first_ack_at - after.welcome_at:.3f} s; the rest is the client's "
                   f"backoff)")

    assert file_sha256(server.complete_path(ticket)) == sha256(data)
    [callback] = backend.wait_for_callbacks(ticket)
    assert callback.form["sha256"] == sha256(data) and callback.file_sha256 == sha256(data)
    assert api.upload_status(ticket)["state"] == "finished"
    assert len(finished_lines(server, ticket)) == 1


@pytest.mark.time_limit(30)
def test_killed_while_the_callback_is_in_flight(make_server: Callable[..., IncomingServer],
                                                backend: FakeBackend,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Killed while the backend holds the callback, the restarted server calls again with the
    same values and the ticket finishes exactly once; the reconnected client hears finished."""
    server = make_server(**FAST_OPTIONS)
    api = BackendAPI(server.api_url)
    data = make_data(3 * MiB, seed=72)
    ticket = api.new_upload(backend.callback_url(), backend_secret="s")
    held = backend.hold(ticket, DONE)
    with ResumingUpload(server, ticket, data, **CLIENT) as upload:
        [first] = backend.wait_for_callbacks(ticket, timeout=10)
        upload.wait_until(lambda u: "handing_over" in u.attempts[0].states, 5,
                          "state handing_over")
        again = backend.hold(ticket, DONE)  # the call after the restart waits for the client
        server.kill()
        held.set()  # its answer goes to a dead connection
        began, listening = restart(server, upload)
        back = reconnected(upload)
        assert back.offset == len(data), back.welcome
        assert back.welcome["state"] in ("stored", "handing_over"), back.welcome
        calls = backend.wait_for_callbacks(ticket, count=2, timeout=10)
        called_again = calls[1].received_at
        again.set()
        assert upload.wait_done(10) == "finished", upload.summary()

    report(capsys, f"killed with the callback in flight: re-sent 0 bytes (welcome.offset "
                   f"{back.offset} = size); restart to listening {listening - began:.3f} s, "
                   f"restart to the client's welcome {back.welcome_at - began:.3f} s, "
                   f"restart to the second callback {called_again - began:.3f} s")
    second = calls[1]
    assert not second.cancelled
    assert second.form == first.form, "at least once: the second call is the first one again"
    assert second.file_sha256 == sha256(data), "the file is there for the second call"
    assert [s for a in upload.attempts for s in a.states].count("finished") == 1
    assert api.upload_status(ticket, "s")["state"] == "finished"
    assert len(finished_lines(server, ticket)) == 1
    # No third call: a finished ticket is not handed over again (retries come every 200 ms).
    with pytest.raises(AssertionError, match="timed out"):
        backend.wait_for_callbacks(ticket, count=3, timeout=1.0)


@pytest.mark.time_limit(30)
def test_killed_before_any_callback_got_through(make_server: Callable[..., IncomingServer],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Killed while the backend was unreachable, the restarted server hands the file over
    once the backend is up and the reconnected client hears finished."""
    server = make_server(**FAST_OPTIONS)
    api = BackendAPI(server.api_url)
    late = FakeBackend().start()
    late.stop()  # its port is known; nothing listens there yet
    data = make_data(2 * MiB, seed=73)
    try:
        ticket = api.new_upload(late.callback_url(), backend_secret="b")
        with ResumingUpload(server, ticket, data, **CLIENT) as upload:
            upload.wait_until(lambda u: "handing_over" in u.attempts[0].states, 10,
                              "state handing_over")
            server.wait_for_log(rf"ticket {re.escape(ticket[:8])} handover attempt 1: ")
            server.kill()
            late.start()
            began, listening = restart(server, upload)
            assert upload.wait_done(10) == "finished", upload.summary()
        [callback] = late.wait_for_callbacks(ticket, timeout=5)
    finally:
        late.stop()

    last = [a for a in upload.attempts if not a.refused][-1]
    report(capsys, f"killed before the callback got through: restart to listening "
                   f"{listening - began:.3f} s, restart to the callback "
                   f"{callback.received_at - began:.3f} s")
    assert callback.form["sha256"] == sha256(data) and not callback.cancelled
    assert callback.file_sha256 == sha256(data)
    # back before the handover: welcomed with every byte in; after it: error 4, state finished
    assert (last.offset == len(data) and "finished" in last.states) or (
        last.error is not None and last.error["code"] == 4
        and last.error["state"] == "finished"), upload.summary()
    assert api.upload_status(ticket, "b")["state"] == "finished"
    assert len(finished_lines(server, ticket)) == 1


@pytest.mark.time_limit(30)
def test_killed_while_waiting_for_the_backend(make_server: Callable[..., IncomingServer],
                                              backend: FakeBackend,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """Killed after the backend answered wait, the restarted server finishes the ticket on
    finish_upload, with the file intact and the reconnected client hearing finished."""
    server = make_server(**FAST_OPTIONS)
    api = BackendAPI(server.api_url)
    data = make_data(3 * MiB, seed=74)
    ticket = api.new_upload(backend.callback_url(), backend_secret="w",
                            remove_file_when_finished=False)
    backend.answer(ticket, WAIT)
    with ResumingUpload(server, ticket, data, **CLIENT) as upload:
        upload.wait_until(lambda u: "waiting_for_backend" in u.attempts[0].states, 10,
                          "state waiting_for_backend")
        server.kill()
        began, listening = restart(server, upload)
        back = reconnected(upload)
        assert back.offset == len(data), back.welcome
        assert back.welcome["state"] == "waiting_for_backend", back.welcome
        assert api.upload_status(ticket, "w")["state"] == "waiting_for_backend"
        assert api.finish_upload(ticket, "w") == "ok"
        assert upload.wait_done(10) == "finished", upload.summary()

    report(capsys, f"killed while waiting for the backend: restart to listening "
                   f"{listening - began:.3f} s, restart to the client's welcome "
                   f"{back.welcome_at - began:.3f} s; callbacks made: "
                   f"{len(backend.callbacks_for(ticket))}")
    assert file_sha256(server.complete_path(ticket)) == sha256(data)
    assert api.upload_status(ticket, "w")["state"] == "finished"
    assert api.finish_upload(ticket, "w") == "ok", "finish_upload again is harmless"
    assert len(finished_lines(server, ticket)) == 1
    assert all(c.form["sha256"] == sha256(data) for c in backend.callbacks_for(ticket))
