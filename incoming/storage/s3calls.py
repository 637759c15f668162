"""The S3 calls Incoming!! makes, through botocore, each failure turned into one clear error.

Blocking: call these in a pool thread only. The client is anything with
botocore's S3 method names (a botocore client, or a stub in tests).
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from incoming.errors import ErrorCode, IncomingError

MANIFEST_SUFFIX = ".upload.json"
"""The manifest of an unfinished upload lies beside its object: ``KEY.upload.json``."""


class S3Error(IncomingError):
    """An S3 call failed (retryable: acknowledged bytes stay spooled or in completed parts)."""

    def __init__(self, message: str, s3_code: str = "") -> None:
        super().__init__(ErrorCode.STORAGE_FAILED, message)
        self.s3_code = s3_code


@attrs.define
class Manifest:
    """What another instance needs to continue a multipart upload from its last part."""

    upload_id: str
    part_size: int
    etags: list[str]
    """Of parts 1, 2, …, each ``part_size`` bytes long."""
    hash_state: str
    """The SHA-256 state after the last completed part (``sha256state``)."""
    final_size: int = -1
    final_sha256: str = ""
    """Set just before the upload is completed: if completing succeeds but what follows
    does not, a retry finds the object in place and knows what it is."""

    @property
    def sent(self) -> int:
        """Bytes in completed parts."""
        return len(self.etags) * self.part_size

    def to_json(self) -> bytes:
        return json.dumps({"version": 1, "upload_id": self.upload_id,
                           "part_size": self.part_size, "etags": self.etags,
                           "sha256_state": self.hash_state, "final_size": self.final_size,
                           "final_sha256": self.final_sha256}).encode()

    @classmethod
    def from_json(cls, text: bytes) -> Manifest:
        try:
            data = json.loads(text)
            if data.get("version") != 1:
                raise ValueError(f"version {data.get('version')!r}")
            return cls(str(data["upload_id"]), int(data["part_size"]),
                       [str(etag) for etag in data["etags"]], str(data["sha256_state"]),
                       int(data.get("final_size", -1)), str(data.get("final_sha256", "")))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise S3Error(f"object storage: the upload's manifest is unreadable: {e}") from None


class S3Calls:
    """One bucket's calls. Every method raises :class:`S3Error` on failure."""

    def __init__(self, client: Any, bucket: str) -> None:
        self.client = client
        self.bucket = bucket

    def create_upload(self, key: str) -> str:
        answer = self._call("start the multipart upload", key, "create_multipart_upload",
                            Key=key)
        return str(answer["UploadId"])

    def upload_part(self, key: str, upload_id: str, number: int, path: str, size: int) -> str:
        with open(path, "rb") as body:
            answer = self._call(f"send part {number}", key, "upload_part", Key=key,
                                UploadId=upload_id, PartNumber=number, Body=body,
                                ContentLength=size)
        return str(answer["ETag"])

    def upload_exists(self, key: str, upload_id: str) -> bool:
        """Whether the multipart upload is still there (an abort or a lifecycle rule ends it)."""
        try:
            self._call("list the upload's parts", key, "list_parts", Key=key, UploadId=upload_id,
                       MaxParts=1)
        except S3Error as e:
            if e.s3_code == "NoSuchUpload":
                return False
            raise
        return True

    def complete(self, key: str, upload_id: str, etags: list[str], size: int) -> None:
        parts = [{"PartNumber": number, "ETag": etag} for number, etag in enumerate(etags, 1)]
        try:
            self._call("complete the multipart upload", key, "complete_multipart_upload",
                       Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts})
        except S3Error as e:
            # Completed before, and the answer was lost or what followed failed: it is there.
            if e.s3_code != "NoSuchUpload" or self.object_size(key) != size:
                raise

    def put_empty(self, key: str) -> None:
        self._call("store the empty file", key, "put_object", Key=key, Body=b"")

    def object_size(self, key: str) -> int | None:
        try:
            answer = self._call("look at the object", key, "head_object", Key=key)
        except S3Error as e:
            if e.s3_code in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return int(answer["ContentLength"])

    def abort_uploads(self, key: str) -> None:
        """Abort every multipart upload of ``key`` (the one the manifest names, and any whose
        manifest was never written)."""
        answer = self._call("list multipart uploads", key, "list_multipart_uploads", Prefix=key)
        for upload in answer.get("Uploads", []):
            if upload.get("Key") != key:
                continue
            try:
                self._call("abort the multipart upload", key, "abort_multipart_upload", Key=key,
                           UploadId=upload["UploadId"])
            except S3Error as e:
                if e.s3_code != "NoSuchUpload":
                    raise

    def read_manifest(self, key: str) -> Manifest | None:
        try:
            answer = self._call("read the upload's manifest", key + MANIFEST_SUFFIX,
                                "get_object", Key=key + MANIFEST_SUFFIX)
        except S3Error as e:
            if e.s3_code in ("NoSuchKey", "404"):
                return None
            raise
        with answer["Body"] as body:
            return Manifest.from_json(body.read())

    def write_manifest(self, key: str, manifest: Manifest) -> None:
        self._call("write the upload's manifest", key + MANIFEST_SUFFIX, "put_object",
                   Key=key + MANIFEST_SUFFIX, Body=manifest.to_json(),
                   ContentType="application/json")

    def delete(self, key: str) -> None:
        """Delete an object; one that is not there is no error (S3 says so too)."""
        self._call("delete the object", key, "delete_object", Key=key)

    def _call(self, what: str, key: str, method: str, **arguments: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError  # botocore only with S3
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **arguments)
        except ClientError as e:
            error = e.response.get("Error", {})
            code = str(error.get("Code", ""))
            detail = error.get("Message") or code
            raise S3Error(f"object storage: cannot {what} (s3://{self.bucket}/{key}): {code}: "
                          f"{detail}", code) from None
        except BotoCoreError as e:  # no connection, no credentials, a timeout…
            raise S3Error(f"object storage: cannot {what} (s3://{self.bucket}/{key}): "
                          f"{e}") from None
