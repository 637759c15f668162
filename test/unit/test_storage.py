"""File-system storage: order, hashing, atomic completion, failures, and the registries."""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from incoming.errors import ErrorCode, IncomingError
from incoming.registry.memory import MemoryRegistry
from incoming.registry.sqlite import SQLiteRegistry
from incoming.storage import filesystem
from incoming.storage.filesystem import FileSystemStorage, Lane
from incoming.tickets import State, Ticket
from test.support.doubles import HeldThreads, ImmediateThreads


def storage(tmp_path, threads=None):
    threads = threads or ImmediateThreads()
    return FileSystemStorage(str(tmp_path), threads, threads)


def value(d):
    results = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def test_bytes_land_in_order_under_the_ticket_name(tmp_path):
    """Writes queued back to back land in order in partial/<ticket id>."""
    threads = HeldThreads()
    partial = storage(tmp_path, threads).partial("T1")
    partial.open()
    offsets = [partial.write(0, [b"ab", b"c"]), partial.write(3, [b"def"])]
    assert not offsets[0].called
    threads.run()
    assert [value(d) for d in offsets] == [3, 6]
    assert (tmp_path / "partial" / "T1").read_bytes() == b"abcdef"


def test_complete_moves_the_file_and_reports_its_hash(tmp_path):
    """complete() moves the file to complete/<ticket id> and returns its size and SHA-256."""
    data = os.urandom(100_000)
    partial = storage(tmp_path).partial("T2")
    partial.open()
    partial.write(0, [data[:60_000]])
    partial.write(60_000, [data[60_000:]])
    stored = value(partial.complete())
    assert stored.path == str(tmp_path / "complete" / "T2") and stored.size == len(data)
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    assert not (tmp_path / "partial" / "T2").exists()


def appended(store, ticket, data):
    """Opens the ticket's partial file with a fresh handle, appends ``data`` at its end and
    closes it (an upload's visit to one instance); the size before."""
    partial = store.partial(ticket)
    size = value(partial.open())
    partial.write(size, [data])
    value(partial.close())
    return size


def test_reopening_rehashes_what_is_on_disk(tmp_path):
    """A fresh handle (as after a restart) resumes at the file's size with the right hash."""
    store = storage(tmp_path)
    appended(store, "T3", b"x" * 1000)
    second = store.partial("T3")
    assert value(second.open()) == 1000
    second.write(1000, [b"y" * 10])
    assert value(second.complete()).sha256 == hashlib.sha256(b"x" * 1000 + b"y" * 10).hexdigest()


def test_a_failed_write_fails_the_rest_until_reopened(tmp_path, monkeypatch):
    """After a write error every queued operation fails with storage_failed; reopen recovers."""
    partial = storage(tmp_path).partial("T4")
    partial.open()
    partial.write(0, [b"good"])
    monkeypatch.setattr(os, "pwritev", lambda *a: (_ for _ in ()).throw(OSError(5, "I/O error")))
    failed = value(partial.write(4, [b"bad"]))
    assert isinstance(failed.value, IncomingError)
    assert failed.value.code is ErrorCode.STORAGE_FAILED
    assert isinstance(value(partial.write(7, [b"more"])).value, IncomingError)
    monkeypatch.undo()
    assert value(partial.reopen()) == 4


def test_a_lane_runs_what_is_queued_meanwhile_in_the_same_pool_call():
    """A lane goes from one job to the next in its pool thread, without the reactor."""
    threads = HeldThreads()
    lane = Lane(threads, threads)
    results = [lane.submit(lambda n=n: n) for n in range(3)]
    assert threads.run() == 1
    assert [value(d) for d in results] == [0, 1, 2]


def open_descriptors_on(path) -> int:
    fds = os.listdir("/proc/self/fd")
    return sum(1 for fd in fds if os.path.realpath(f"/proc/self/fd/{fd}") == str(path))


def test_closing_waits_for_writes_still_being_taken_in(tmp_path):
    """close() queued behind a write that is still in the intake lane closes after it: the
    write must not open the file again behind the close."""
    threads = HeldThreads()
    partial = storage(tmp_path, threads).partial("T7")
    partial.open()
    threads.run()
    partial.write(0, [b"abc"])
    closed = partial.close()
    threads.run()
    assert closed.called
    assert (tmp_path / "partial" / "T7").read_bytes() == b"abc"
    assert open_descriptors_on(tmp_path / "partial" / "T7") == 0


def test_a_failed_intake_is_forgotten_by_the_next_open(tmp_path, monkeypatch):
    """After a failure while taking bytes in (the hash may hold part of the batch), the next
    open starts again from the disk, and the stored hash is right."""
    partial = storage(tmp_path).partial("T8")
    partial.open()
    partial.write(0, [b"x" * 5000])
    real_take_in = filesystem.take_in

    def fail_after_hashing_some(pieces, buffers, offset, taken):
        taken(memoryview(b"garbage"))
        raise OSError("out of memory, say")

    monkeypatch.setattr(filesystem, "take_in", fail_after_hashing_some)
    failed = value(partial.write(5000, [b"y" * 10]))
    assert isinstance(failed.value, IncomingError)
    monkeypatch.setattr(filesystem, "take_in", real_take_in)
    assert value(partial.open()) == 5000
    partial.write(5000, [b"z" * 10])
    stored = value(partial.complete())
    assert stored.sha256 == hashlib.sha256(b"x" * 5000 + b"z" * 10).hexdigest()


def test_idle_waits_for_queued_work(tmp_path):
    """idle() fires only once every queued operation has run."""
    threads = HeldThreads()
    partial = storage(tmp_path, threads).partial("T5")
    partial.open()
    idle = partial.idle()
    assert not idle.called
    threads.run()
    assert idle.called


def sample(ticket_id="A", state=State.UPLOADING, **changes):
    return Ticket(id=ticket_id, signal_finish_url="http://b.test/", state=state, **changes)


@pytest.fixture(params=["memory", "sqlite"])
def registry(request, tmp_path):
    if request.param == "memory":
        return MemoryRegistry()
    return SQLiteRegistry(str(tmp_path / "t.sqlite3"))


def test_registry_round_trips_every_field(registry):
    """A saved ticket loads back equal, field for field."""
    ticket = sample(size=10, max_size=20, sha256="aa", filename_from_browser="ü.txt",
                    created_at=1.5, remove_file_when_finished=False)
    value(registry.save(ticket))
    assert value(registry.load("A")) == ticket
    assert value(registry.load("missing")) is None


def test_registry_lists_what_needs_attention(registry):
    """needing_attention lists open tickets and untold cancels, not finished ones."""
    for ticket in [sample("open"), sample("done", State.FINISHED, backend_told=True),
                   sample("untold", State.CANCELLED, cancelled_by="backend"),
                   sample("told", State.CANCELLED, backend_told=True)]:
        registry.save(ticket)
    assert sorted(t.id for t in value(registry.needing_attention())) == ["open", "untold"]


def test_sqlite_registry_survives_reopening(tmp_path):
    """Tickets saved by one process are there for the next."""
    first = SQLiteRegistry(str(tmp_path / "t.sqlite3"))
    first.save(sample("keep"))
    first.close()
    assert value(SQLiteRegistry(str(tmp_path / "t.sqlite3")).load("keep")).id == "keep"


def reads_by(monkeypatch):
    """Counts the bytes the storage reads back from disk (to hash them)."""
    read = []
    real = os.pread
    monkeypatch.setattr(os, "pread", lambda fd, n, at: read.append(n) or real(fd, n, at))
    return read


def test_taking_a_file_back_hashes_only_what_another_wrote_since(tmp_path, monkeypatch):
    """An instance that closed a partial file (another instance took the ticket) and opens it
    again after the other appended to it reads back only the other's bytes, and the hash
    is the whole file's."""
    here, elsewhere = storage(tmp_path), storage(tmp_path)  # two instances, one directory
    appended(here, "T5", b"a" * 5000)
    assert appended(elsewhere, "T5", b"b" * 300) == 5000
    read = reads_by(monkeypatch)
    again = here.partial("T5")
    assert value(again.open()) == 5300
    assert sum(read) == 300
    again.write(5300, [b"c"])
    assert value(again.complete()).sha256 == hashlib.sha256(
        b"a" * 5000 + b"b" * 300 + b"c").hexdigest()


def test_a_partial_file_made_anew_is_hashed_from_its_start(tmp_path, monkeypatch):
    """What was kept of a file that was removed and made again (another inode) is not used."""
    store = storage(tmp_path)
    appended(store, "T6", b"a" * 5000)
    path = tmp_path / "partial" / "T6"
    path.rename(tmp_path / "elsewhere")  # keeps the old inode in use: the new one differs
    path.write_bytes(b"z" * 6000)
    read = reads_by(monkeypatch)
    again = store.partial("T6")
    assert value(again.open()) == 6000
    assert sum(read) == 6000
    assert value(again.complete()).sha256 == hashlib.sha256(b"z" * 6000).hexdigest()


@pytest.mark.parametrize("on_device", [False, True], ids=["acknowledge=kernel",
                                                          "acknowledge=device"])
def test_each_acknowledge_mode_syncs_the_file_and_its_move_before_stored(tmp_path, monkeypatch,
                                                                          on_device):
    """Whether writes go through the page cache or around it (O_DIRECT only when asked),
    the stored bytes are the ones written, and complete() fdatasyncs the file, then moves it
    and fsyncs the directory, before it answers."""
    events, real = [], {name: getattr(os, name) for name in ("open", "fdatasync", "rename",
                                                              "fsync")}
    monkeypatch.setattr(os, "open", lambda path, flags, *mode: (
        events.append(("direct open", path)) if flags & os.O_DIRECT else None,
        real["open"](path, flags, *mode))[1])
    for name in ("fdatasync", "rename", "fsync"):
        monkeypatch.setattr(os, name, lambda *args, name=name: (
            events.append((name,)), real[name](*args))[1])
    data = os.urandom(3 * (1 << 20) + 12_345)
    partial = FileSystemStorage(str(tmp_path), ImmediateThreads(), ImmediateThreads(),
                                on_device=on_device).partial("T9")
    partial.open()
    for start, end in ((0, 5000), (5000, 2 << 20), (2 << 20, len(data))):
        assert value(partial.write(start, [data[start:end]])) == end
    stored = value(partial.complete())
    assert (tmp_path / "complete" / "T9").read_bytes() == data
    assert stored.sha256 == hashlib.sha256(data).hexdigest()
    direct_opens = [event for event in events if event[0] == "direct open"]
    assert bool(direct_opens) == on_device
    assert [event for event in events if event[0] != "direct open"] == [
        ("fdatasync",), ("rename",), ("fsync",)]


def test_renames_completed_together_share_one_directory_fsync(tmp_path, monkeypatch):
    """Callers arriving while the directory's fsync runs wait for the next one, which covers
    them all; none returns before an fsync that started after its call."""
    fsyncs, release = [], threading.Event()

    def slow_fsync(path):
        fsyncs.append(path)
        if len(fsyncs) == 1:
            assert release.wait(30)

    monkeypatch.setattr(filesystem, "_fsync_directory", slow_fsync)
    sync = filesystem.DirectorySync(str(tmp_path))
    done: list[int] = []
    threads = [threading.Thread(target=lambda n=n: (sync.sync(), done.append(n)))
               for n in range(3)]
    threads[0].start()
    while not fsyncs:
        threading.Event().wait(0.01)
    for thread in threads[1:]:
        thread.start()
    while sync._asked < 3:
        threading.Event().wait(0.01)
    assert done == []
    release.set()
    for thread in threads:
        thread.join(30)
    assert sorted(done) == [0, 1, 2] and len(fsyncs) == 2


def test_a_failed_directory_fsync_is_run_again_for_the_next_caller(tmp_path, monkeypatch):
    """An fsync that fails raises to its caller and covers nobody: the next caller runs one."""
    calls = []

    def failing_once(path):
        calls.append(path)
        if len(calls) == 1:
            raise OSError(5, "I/O error")

    monkeypatch.setattr(filesystem, "_fsync_directory", failing_once)
    sync = filesystem.DirectorySync(str(tmp_path))
    with pytest.raises(OSError):
        sync.sync()
    sync.sync()
    assert len(calls) == 2
