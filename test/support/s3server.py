"""A real S3-compatible server for tests: moto's standalone server (``moto_server``), as a
subprocess on a free loopback port, with a bucket, and the ``AWS_*`` environment that points
any AWS tool (and ``twistd incoming``) at it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

SMALL_PART = 256 << 10
"""Parts this small keep test files small; moto allows them with S3_UPLOAD_PART_MIN_SIZE."""
_RUNNING = re.compile(r"Running on http://127\.0\.0\.1:(\d+)")


class MotoServer:
    def __init__(self, log_file: Path, bucket: str = "uploads",
                 smallest_part: int = SMALL_PART) -> None:
        self.bucket = bucket
        self.log_file = log_file
        self.smallest_part = smallest_part
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def environment(self) -> dict[str, str]:
        """The standard AWS environment for this server, and nothing from this machine's
        ~/.aws."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def start(self, timeout: float = 20.0) -> MotoServer:
        moto = Path(sys.executable).with_name("moto_server")
        env = dict(os.environ, S3_UPLOAD_PART_MIN_SIZE=str(self.smallest_part),
                   PYTHONUNBUFFERED="1")
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen([str(moto), "-H", "127.0.0.1", "-p", "0"],
                                            stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + timeout
        while not self.port:
            match = _RUNNING.search(self.log_file.read_text(errors="replace"))
            if match:
                self.port = int(match.group(1))
            elif self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"moto_server did not start:\n{self.log_file.read_text()}")
            else:
                time.sleep(0.05)
        self.client().create_bucket(Bucket=self.bucket)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def client(self) -> Any:
        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1")

    # -- what tests look at ----------------------------------------------------------------------

    def read(self, key: str) -> bytes:
        body: bytes = self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read()
        return body

    def object_keys(self) -> list[str]:
        listing = self.client().list_objects_v2(Bucket=self.bucket)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def multipart_uploads(self) -> list[tuple[str, str]]:
        """(key, upload ID) of every multipart upload not completed or aborted."""
        listing = self.client().list_multipart_uploads(Bucket=self.bucket)
        return [(upload["Key"], upload["UploadId"]) for upload in listing.get("Uploads", [])]

    def parts(self, key: str, upload_id: str) -> int:
        listing = self.client().list_parts(Bucket=self.bucket, Key=key, UploadId=upload_id)
        return len(listing.get("Parts", []))


@contextmanager
def moto_server(directory: Path) -> Iterator[MotoServer]:
    server = MotoServer(directory / "moto.log").start()
    try:
        yield server
    finally:
        server.stop()
