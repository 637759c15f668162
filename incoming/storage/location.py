"""Where an object lives in S3-compatible storage: ``s3://BUCKET/KEY``.

Knows nothing of botocore, so the configuration and the handover can name
objects without importing it.
"""

from __future__ import annotations

import re

import attrs

SCHEME = "s3://"
# S3's rules for new buckets (3–63 characters of a-z 0-9 . -); older ones may have capitals.
_BUCKET = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-_]{1,62}")


@attrs.frozen
class S3Location:
    """A bucket and the prefix of every key Incoming!! writes there (empty, or ending in /)."""

    bucket: str
    prefix: str = ""

    @classmethod
    def parse(cls, text: str) -> S3Location:
        """``s3://BUCKET`` or ``s3://BUCKET/PREFIX``; a PREFIX is a folder (a ``/`` is added)."""
        if not text.startswith(SCHEME):
            raise ValueError(f"{text!r} is not an s3://BUCKET/PREFIX URL")
        bucket, _, prefix = text[len(SCHEME):].partition("/")
        if not _BUCKET.fullmatch(bucket):
            raise ValueError(f"{bucket!r} is not a bucket name")
        prefix = prefix.strip("/")
        return cls(bucket, prefix + "/" if prefix else "")

    def key(self, ticket_id: str) -> str:
        """The object key of a ticket's file: the whole key, prefix included."""
        return self.prefix + ticket_id

    def url(self, key: str) -> str:
        return f"{SCHEME}{self.bucket}/{key}"


def split_object_url(path: str) -> tuple[str, str] | None:
    """``(bucket, key)`` of an ``s3://BUCKET/KEY`` path; None for a local file's path."""
    if not path.startswith(SCHEME):
        return None
    bucket, _, key = path[len(SCHEME):].partition("/")
    return (bucket, key) if bucket and key else None
