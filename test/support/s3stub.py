"""An S3 client double: botocore's method names and errors, objects and uploads in memory."""

from __future__ import annotations

import hashlib
import io
from typing import Any

from botocore.exceptions import ClientError


def client_error(code: str, operation: str, message: str = "") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message or code}}, operation)


class StubS3:
    """One bucket. ``fail[method] = error`` makes the next call of ``method`` raise it."""

    def __init__(self, bucket: str = "bucket") -> None:
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.uploads: dict[str, tuple[str, dict[int, bytes]]] = {}  # id → (key, parts)
        self.calls: list[str] = []
        self.fail: dict[str, Exception] = {}
        self._next_id = 0

    def _enter(self, method: str, bucket: str) -> None:
        self.calls.append(method)
        assert bucket == self.bucket
        if method in self.fail:
            raise self.fail.pop(method)

    def _upload(self, upload_id: str, operation: str) -> tuple[str, dict[int, bytes]]:
        if upload_id not in self.uploads:
            raise client_error("NoSuchUpload", operation)
        return self.uploads[upload_id]

    def create_multipart_upload(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._enter("create_multipart_upload", Bucket)
        self._next_id += 1
        upload_id = f"upload-{self._next_id}"
        self.uploads[upload_id] = (Key, {})
        return {"UploadId": upload_id}

    def upload_part(self, Bucket: str, Key: str, UploadId: str, PartNumber: int, Body: Any,
                    ContentLength: int) -> dict[str, Any]:
        self._enter("upload_part", Bucket)
        key, parts = self._upload(UploadId, "UploadPart")
        assert key == Key
        data = Body.read()
        assert len(data) == ContentLength
        parts[PartNumber] = data
        return {"ETag": '"' + hashlib.md5(data).hexdigest() + '"'}

    def list_parts(self, Bucket: str, Key: str, UploadId: str, MaxParts: int) -> dict[str, Any]:
        self._enter("list_parts", Bucket)
        self._upload(UploadId, "ListParts")
        return {"Parts": []}

    def complete_multipart_upload(self, Bucket: str, Key: str, UploadId: str,
                                  MultipartUpload: dict[str, Any]) -> dict[str, Any]:
        self._enter("complete_multipart_upload", Bucket)
        key, parts = self._upload(UploadId, "CompleteMultipartUpload")
        body = b""
        for part in MultipartUpload["Parts"]:
            data = parts[part["PartNumber"]]
            assert part["ETag"] == '"' + hashlib.md5(data).hexdigest() + '"'
            body += data
        self.objects[key] = body
        del self.uploads[UploadId]
        return {}

    def abort_multipart_upload(self, Bucket: str, Key: str, UploadId: str) -> dict[str, Any]:
        self._enter("abort_multipart_upload", Bucket)
        self._upload(UploadId, "AbortMultipartUpload")
        del self.uploads[UploadId]
        return {}

    def list_multipart_uploads(self, Bucket: str, Prefix: str) -> dict[str, Any]:
        self._enter("list_multipart_uploads", Bucket)
        return {"Uploads": [{"Key": key, "UploadId": upload_id}
                            for upload_id, (key, _) in self.uploads.items()
                            if key.startswith(Prefix)]}

    def put_object(self, Bucket: str, Key: str, Body: bytes, **_: Any) -> dict[str, Any]:
        self._enter("put_object", Bucket)
        self.objects[Key] = bytes(Body)
        return {}

    def get_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._enter("get_object", Bucket)
        if Key not in self.objects:
            raise client_error("NoSuchKey", "GetObject")
        return {"Body": io.BytesIO(self.objects[Key])}

    def head_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._enter("head_object", Bucket)
        if Key not in self.objects:
            raise client_error("404", "HeadObject", "Not Found")
        return {"ContentLength": len(self.objects[Key])}

    def delete_object(self, Bucket: str, Key: str) -> dict[str, Any]:
        self._enter("delete_object", Bucket)
        self.objects.pop(Key, None)
        return {}
