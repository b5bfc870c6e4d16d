"""Reading S3 objects: the one place that calls S3, and the mapping of its errors to outcomes.

An object is read as a stream of chunks (never whole), from a byte offset when resuming. Errors that
retrying cannot fix (the version is gone, access is denied, the object is archived) become ``FileFailure``;
everything else, including a connection that breaks mid-stream, is ``RetryLater``.

A read from byte 0 asks S3 for the object's stored checksum (``ChecksumMode=ENABLED``: no extra request,
and botocore verifies the bytes against it as they stream) and can hash the raw bytes with SHA-256 as they
pass (per 1 MiB chunk, not per record): together they are the file's content identity (see ``ledger``).
A ranged read (a resumed file) gets neither, since S3 returns no whole-object checksum for a range.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from handlers.contracts import Reason
from handlers.events import ObjectRef
from handlers.failures import FileFailure, RetryLater

CHUNK_BYTES = 1024 * 1024

_NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404", "NotFound", "PreconditionFailed", "412"}
_DENIED = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "InvalidToken", "AccountProblem"}
_ARCHIVED = {"InvalidObjectState"}
# Strongest first: when S3 holds more than one, the one least likely to collide names the content.
CHECKSUM_ALGORITHMS = ("SHA256", "SHA1", "CRC64NVME", "CRC32C", "CRC32")


@dataclass(slots=True)
class ObjectStream:
    """An open object: its total size, and ``chunks()`` yielding its bytes from ``start``.

    ``checksum`` is S3's stored checksum of the whole object as ``(algorithm, base64 value)``, or ``None``
    (none stored, or a ranged read). ``digest``, when set before reading, is fed every chunk read.
    """

    body: Any
    size: int
    start: int
    bytes_read: int = 0
    checksum: tuple[str, str] | None = None
    digest: Any = None

    def chunks(self) -> Iterator[bytes]:
        """The object's bytes in chunks of up to 1 MiB; a broken connection becomes ``RetryLater``."""
        try:
            while True:
                chunk = self.body.read(CHUNK_BYTES)
                if not chunk:
                    return
                self.bytes_read += len(chunk)
                if self.digest is not None:
                    self.digest.update(chunk)
                yield chunk
        except (OSError, ValueError) as exc:  # botocore and urllib3 read errors derive from these
            raise RetryLater("S3_READ", f"reading the object broke off: {exc}") from exc
        except Exception as exc:
            if type(exc).__module__.startswith(("botocore", "urllib3")):
                raise RetryLater("S3_READ", f"reading the object broke off: {exc}") from exc
            raise
        finally:
            self.close()

    def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection may fail again
            self.body.close()

    def hash_from_start(self) -> None:
        """Hash the bytes as they are read (SHA-256), if this stream starts at byte 0 and nothing is read yet."""
        if self.start == 0 and self.bytes_read == 0:
            self.digest = hashlib.sha256()

    def sha256(self) -> str | None:
        """The hex SHA-256 of the whole object, reading whatever the parser left unread (a JSON document's
        trailing whitespace); ``None`` when the stream was not hashed from byte 0 or cannot be finished."""
        if self.digest is None:
            return None
        if self.bytes_read < self.size:
            try:
                for _ in self.chunks():
                    pass
            except Exception:  # the records are written; only the content identity is given up
                return None
        return self.digest.hexdigest() if self.bytes_read == self.size else None


def check_size(size: int | None, limit: int) -> None:
    if size is not None and size > limit:
        raise FileFailure(Reason.TOO_LARGE, f"object is {size} bytes, over the limit of {limit} bytes")


def open_object(s3_client: Any, ref: ObjectRef, max_bytes: int, start: int = 0) -> ObjectStream:
    """GetObject for exactly the notified version (by version ID, else by ETag), from byte ``start``."""
    check_size(ref.size, max_bytes)
    params: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        params["VersionId"] = ref.version_id
    elif ref.etag:
        params["IfMatch"] = f'"{ref.etag}"'
    if start:
        params["Range"] = f"bytes={start}-"
    else:
        params["ChecksumMode"] = "ENABLED"
    try:
        response = s3_client.get_object(**params)
    except Exception as exc:
        if start and _error_code(exc) == "InvalidRange":  # resuming exactly at the end: nothing left
            return ObjectStream(_Empty(), start, start)
        raise _classify(exc, ref) from exc
    total = _total_size(response)
    stream = ObjectStream(response["Body"], total, start, checksum=None if start else stored_checksum(response))
    try:
        check_size(total, max_bytes)
    except FileFailure:
        stream.close()
        raise
    return stream


def stored_checksum(response: dict[str, Any]) -> tuple[str, str] | None:
    """``(algorithm, value)`` of the object's checksum in a GetObject response, the strongest one present."""
    for algorithm in CHECKSUM_ALGORITHMS:
        value = response.get(f"Checksum{algorithm}")
        if isinstance(value, str) and value:
            return algorithm, value
    return None


def _total_size(response: dict[str, Any]) -> int:
    content_range = response.get("ContentRange")  # "bytes 100-199/200" for a ranged read
    if content_range and "/" in content_range:
        tail = content_range.rsplit("/", 1)[1]
        if tail.isdigit():
            return int(tail)
    return int(response.get("ContentLength", 0))


class _Empty:
    def read(self, _size: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        pass


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    return str(response.get("Error", {}).get("Code", "")) if isinstance(response, dict) else ""


def _classify(exc: Exception, ref: ObjectRef) -> Exception:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return RetryLater("S3_GET", f"GetObject failed: {exc}")
    code = str(response.get("Error", {}).get("Code", ""))
    status = str(response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
    what = f"s3://{ref.bucket}/{ref.key} version {ref.version_id or ref.etag or '(latest)'}"
    if code in _NOT_FOUND or (not code and status in _NOT_FOUND):
        return FileFailure(Reason.OBJECT_NOT_FOUND, f"{what} no longer exists ({code or status})")
    if code in _DENIED or code.startswith("KMS.") or (not code and status == "403"):
        return FileFailure(Reason.ACCESS_DENIED, f"reading {what} was denied ({code or status}): {exc}")
    if code in _ARCHIVED:
        return FileFailure(Reason.OBJECT_ARCHIVED, f"{what} is in an archive storage class ({code})")
    return RetryLater("S3_GET", f"GetObject failed ({code or status}): {exc}")
