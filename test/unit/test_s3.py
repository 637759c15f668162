"""Object storage with a stub S3 client: part sizing, the manifest and resuming from it, the
hash state, abort, removal, failures, and the callback's bucket and key."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from twisted.internet.testing import MemoryReactorClock

from incoming.config import Config, ConfigError
from incoming.errors import ErrorCode, IncomingError
from incoming.handover import callback_form
from incoming.service import make_service
from incoming.storage.location import S3Location
from incoming.storage.s3 import MAX_PARTS, MIN_PART_SIZE, UNSENT_PARTS, S3Storage, part_size
from incoming.storage.s3calls import MANIFEST_SUFFIX
from incoming.storage.s3parts import PARTS_AT_ONCE
from incoming.storage.sha256state import HashStateError, ResumableSha256
from incoming.tickets import State, Ticket
from test.support.doubles import HeldThreads, ImmediateThreads
from test.support.s3stub import StubS3, client_error

PART = 64 << 10
DATA = os.urandom(PART * 3 + 1000)
KEY = "in/T1"


def value(d):
    results = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def storage(tmp_path, stub, name="a", threads=None):
    threads = threads or ImmediateThreads()
    return S3Storage(S3Location.parse("s3://bucket/in"), str(tmp_path / name), stub, threads,
                     threads, smallest_part=PART)


def write_in_pieces(partial, data, start=0, piece=10_000):
    for offset in range(start, start + len(data), piece):
        value(partial.write(offset, [data[offset - start:offset - start + piece]]))


def manifest(stub):
    return json.loads(stub.objects[KEY + MANIFEST_SUFFIX])


def test_part_size_grows_with_the_file_to_stay_within_the_part_limit():
    """Small files get the smallest part; a huge one gets parts large enough for 10 000."""
    assert part_size(1 << 20, MIN_PART_SIZE) == MIN_PART_SIZE
    assert part_size(None, MIN_PART_SIZE) == MIN_PART_SIZE
    huge = 5 << 40  # 5 TiB, S3's largest object
    size = part_size(huge, MIN_PART_SIZE)
    assert size * MAX_PARTS >= huge and size % (64 << 10) == 0
    assert size < 2 * huge // MAX_PARTS


def test_an_upload_goes_up_in_parts_and_is_completed_with_its_sha256(tmp_path):
    """Bytes are sent part by part as they arrive; complete() sends the last, smaller part,
    completes the upload and removes the manifest and the spool."""
    stub = StubS3()
    partial = storage(tmp_path, stub).partial("T1", len(DATA))
    assert value(partial.open()) == 0
    write_in_pieces(partial, DATA)
    assert stub.calls.count("upload_part") == 3  # the full parts went while bytes arrived
    stored = value(partial.complete())
    assert stored.path == "s3://bucket/in/T1" and stored.size == len(DATA)
    assert stored.sha256 == hashlib.sha256(DATA).hexdigest()
    assert stub.objects == {KEY: DATA}
    assert stub.uploads == {}
    assert os.listdir(tmp_path / "a" / "s3-spool") == []


def test_the_manifest_after_each_part_holds_the_etags_and_the_hash_state(tmp_path):
    """After each part the manifest names the upload, the parts' ETags and the SHA-256
    state at the part's end, from which the file's digest can be finished elsewhere."""
    stub = StubS3()
    partial = storage(tmp_path, stub).partial("T1", len(DATA))
    value(partial.open())
    write_in_pieces(partial, DATA[:2 * PART + 5])
    saved = manifest(stub)
    assert saved["upload_id"] == "upload-1" and saved["part_size"] == PART
    assert len(saved["etags"]) == 2
    digest = ResumableSha256.restore(saved["sha256_state"])
    digest.update(DATA[2 * PART:])
    assert digest.hexdigest() == hashlib.sha256(DATA).hexdigest()


def test_another_instance_continues_the_same_upload_from_the_last_part(tmp_path):
    """An instance that never saw the upload (another spool) resumes at the last completed
    part and completes the same multipart upload, with the right SHA-256."""
    stub = StubS3()
    first = storage(tmp_path, stub, "a").partial("T1", len(DATA))
    value(first.open())
    write_in_pieces(first, DATA[:2 * PART + 5000])
    value(first.close())
    second = storage(tmp_path, stub, "b").partial("T1", len(DATA))
    assert value(second.open()) == 2 * PART
    write_in_pieces(second, DATA[2 * PART:], start=2 * PART)
    stored = value(second.complete())
    assert stored.sha256 == hashlib.sha256(DATA).hexdigest()
    assert stub.objects[KEY] == DATA
    assert stub.calls.count("create_multipart_upload") == 1


def test_after_a_restart_the_same_instance_resumes_from_its_spool(tmp_path):
    """A new process on the same storage directory takes in the spooled bytes again: the
    client resumes from its last acknowledged byte, not from the last part."""
    stub = StubS3()
    value(storage(tmp_path, stub).partial("T1", len(DATA)).open())
    partial = storage(tmp_path, stub).partial("T1", len(DATA))
    value(partial.open())
    write_in_pieces(partial, DATA[:PART + 777])
    restarted = storage(tmp_path, stub).partial("T1", len(DATA))
    assert value(restarted.open()) == PART + 777
    write_in_pieces(restarted, DATA[PART + 777:], start=PART + 777)
    assert value(restarted.complete()).sha256 == hashlib.sha256(DATA).hexdigest()
    assert stub.objects[KEY] == DATA


def test_a_stale_spool_is_dropped_when_another_instance_moved_on(tmp_path):
    """Spooled bytes that another instance has sent since are not sent again: the manifest
    decides where the upload stands."""
    stub = StubS3()
    first = storage(tmp_path, stub, "a").partial("T1", len(DATA))
    value(first.open())
    write_in_pieces(first, DATA[:PART + 10])
    value(first.close())
    second = storage(tmp_path, stub, "b").partial("T1", len(DATA))
    assert value(second.open()) == PART
    write_in_pieces(second, DATA[PART:2 * PART], start=PART)
    value(second.close())
    assert value(first.open()) == 2 * PART
    write_in_pieces(first, DATA[2 * PART:], start=2 * PART)
    assert value(first.complete()).sha256 == hashlib.sha256(DATA).hexdigest()
    assert stub.objects[KEY] == DATA


def test_a_failed_part_fails_the_write_and_loses_nothing(tmp_path):
    """An S3 error is a retryable storage_failed naming the call; after reopening, the part
    still in the spool is sent again and the file completes intact."""
    stub = StubS3()
    partial = storage(tmp_path, stub).partial("T1", len(DATA))
    value(partial.open())
    stub.fail["upload_part"] = client_error("SlowDown", "UploadPart", "Please reduce your rate")
    failed = value(partial.write(0, [DATA[:PART + 10]]))
    assert isinstance(failed.value, IncomingError)
    assert failed.value.code is ErrorCode.STORAGE_FAILED and failed.value.code.retryable
    assert "send part 1" in failed.value.message and "SlowDown" in failed.value.message
    assert value(partial.reopen()) == PART + 10
    write_in_pieces(partial, DATA[PART + 10:], start=PART + 10)
    assert value(partial.complete()).sha256 == hashlib.sha256(DATA).hexdigest()
    assert stub.objects[KEY] == DATA


def test_an_unreachable_store_refuses_the_hello_with_a_retryable_error(tmp_path):
    """No connection to the object store when a client says hello: storage_failed, naming
    what could not be done; the next hello tries again."""
    from botocore.exceptions import EndpointConnectionError

    stub = StubS3()
    stub.fail["get_object"] = EndpointConnectionError(endpoint_url="http://s3.example")
    partial = storage(tmp_path, stub).partial("T1", len(DATA))
    failed = value(partial.open())
    assert isinstance(failed.value, IncomingError)
    assert failed.value.code is ErrorCode.STORAGE_FAILED
    assert failed.value.message.startswith("object storage: cannot read the upload's manifest")
    assert "http://s3.example" in failed.value.message
    assert value(partial.open()) == 0


def test_writes_wait_when_the_sender_falls_behind(tmp_path):
    """PARTS_AT_ONCE parts go out at once and at most UNSENT_PARTS more wait for their turn;
    a write past that is acknowledged only once a part is sent."""
    stub = StubS3()
    threads = HeldThreads()
    partial = storage(tmp_path, stub, threads=threads).partial("T1", 10 * PART)
    partial.open()
    threads.run()
    room = PARTS_AT_ONCE + UNSENT_PARTS
    writes = [partial.write(n * PART, [DATA[:PART]]) for n in range(room + 1)]
    intake, threads.held = threads.held, []
    for call, args in intake:  # the intake runs; the parts it seals wait to be sent
        call(*args)
    assert stub.calls.count("upload_part") == 0
    acknowledged: list[int] = []
    for write in writes:
        write.addCallback(acknowledged.append)
    assert acknowledged == [(n + 1) * PART for n in range(room)]
    threads.run()
    assert acknowledged == [(n + 1) * PART for n in range(room + 1)]


def test_an_empty_file_is_stored_without_parts(tmp_path):
    """S3 completes no multipart upload without parts: an empty file is put as it is."""
    stub = StubS3()
    partial = storage(tmp_path, stub).partial("T1", 0)
    value(partial.open())
    stored = value(partial.complete())
    assert stored.sha256 == hashlib.sha256(b"").hexdigest()
    assert stub.objects == {KEY: b""} and stub.uploads == {}


def test_abandoning_aborts_the_upload_and_removes_manifest_and_spool(tmp_path):
    """remove_partial aborts every multipart upload of the key (even one whose manifest was
    never written), deletes the manifest and the spool."""
    stub = StubS3()
    store = storage(tmp_path, stub)
    partial = store.partial("T1", len(DATA))
    value(partial.open())
    write_in_pieces(partial, DATA[:PART + 10])
    value(partial.close())
    stub.create_multipart_upload(Bucket="bucket", Key=KEY)  # a stray one
    value(store.remove_partial("T1"))
    assert stub.uploads == {} and stub.objects == {}
    assert not (tmp_path / "a" / "s3-spool" / "T1").exists()


def test_remove_deletes_a_stored_object_and_refuses_others(tmp_path):
    """removeFileWhenFinished: the object goes; a path that is not ours is an error."""
    stub = StubS3()
    store = storage(tmp_path, stub)
    stub.objects[KEY] = b"x"
    value(store.remove("s3://bucket/in/T1"))
    assert stub.objects == {}
    refused = value(store.remove("s3://elsewhere/in/T1"))
    assert isinstance(refused.value, IncomingError)


@pytest.mark.parametrize("where", ["a", "b"], ids=["same-instance", "another-instance"])
def test_a_completion_that_failed_half_way_is_finished_by_the_next_attempt(tmp_path, where):
    """The manifest records the outcome before completing: when completing went through but
    its answer (or the cleanup) failed, the next attempt, here or on another instance, finds
    the object in place and stores it with the right SHA-256."""
    stub = StubS3()
    partial = storage(tmp_path, stub, "a").partial("T1", len(DATA))
    value(partial.open())
    write_in_pieces(partial, DATA)
    stub.fail["delete_object"] = client_error("InternalError", "DeleteObject")
    assert isinstance(value(partial.complete()).value, IncomingError)
    again = partial if where == "a" else storage(tmp_path, stub, "b").partial("T1", len(DATA))
    assert value(again.open()) == len(DATA)
    assert value(again.complete()).sha256 == hashlib.sha256(DATA).hexdigest()
    assert stub.objects == {KEY: DATA}


def test_an_upload_gone_from_the_store_starts_again_from_zero(tmp_path):
    """A manifest whose multipart upload was aborted (by a lifecycle rule, say) is no resume
    point: a new upload begins and the client sends from byte 0."""
    stub = StubS3()
    partial = storage(tmp_path, stub).partial("T1", len(DATA))
    value(partial.open())
    write_in_pieces(partial, DATA[:PART + 10])
    stub.uploads.clear()
    assert value(partial.reopen()) == 0
    write_in_pieces(partial, DATA)
    assert value(partial.complete()).sha256 == hashlib.sha256(DATA).hexdigest()


def test_the_hash_state_round_trips_at_any_point():
    """A state saved at any offset and restored elsewhere finishes to hashlib's digest."""
    for cut in (0, 1, 63, 64, 65, 4097, len(DATA)):
        first = ResumableSha256()
        first.update(DATA[:cut])
        second = ResumableSha256.restore(first.state())
        second.update(memoryview(bytearray(DATA[cut:])))
        assert second.hexdigest() == hashlib.sha256(DATA).hexdigest()
    with pytest.raises(HashStateError):
        ResumableSha256.restore("bm90IGEgc3RhdGU=")


def test_the_callback_names_bucket_and_key_of_an_object():
    """For an object, filename is s3://BUCKET/KEY and bucket and key come on their own."""
    ticket = Ticket(id="T1", signal_finish_url="http://b/", state=State.STORED,
                    path="s3://bucket/in/sub/T1")
    form = dict(callback_form(ticket))
    assert form["filename"] == "s3://bucket/in/sub/T1"
    assert (form["bucket"], form["key"]) == ("bucket", "in/sub/T1")
    assert "bucket" not in dict(callback_form(Ticket(id="T2", signal_finish_url="http://b/",
                                                     path="/var/f")))


def test_a_server_without_credentials_does_not_start(monkeypatch, tmp_path):
    """No AWS credentials anywhere: one line naming the option, and nothing created."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                 "AWS_PROFILE", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    config = Config.from_values({"storage": "s3://bucket/in",
                                 "storage_dir": str(tmp_path / "store")})
    with pytest.raises(ConfigError, match="^storage: cannot use s3://bucket/in: no AWS "
                       "credentials"):
        make_service(config, MemoryReactorClock())
    assert not (tmp_path / "store").exists()


def test_the_storage_option_takes_only_s3_urls():
    """--storage is empty or s3://BUCKET/PREFIX; anything else stops the server."""
    assert Config.from_values({"storage": "s3://bucket/a/b/"}).storage == "s3://bucket/a/b/"
    assert S3Location.parse("s3://bucket/a/b/").key("T") == "a/b/T"
    assert S3Location.parse("s3://bucket").key("T") == "T"
    for bad in ("/var/files", "s3://", "s3://x/p"):
        with pytest.raises(ConfigError, match="storage"):
            Config.from_values({"storage": bad})
