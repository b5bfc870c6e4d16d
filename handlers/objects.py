"""Reading S3 objects: the one place that calls S3, and the mapping of its errors to outcomes.

An object is read as a stream of chunks (never whole), from a byte offset when resuming. Errors that
retrying cannot fix (the version is gone, access is denied, the object is archived) become ``FileFailure``;
everything else, including a connection that breaks mid-stream, is ``RetryLater``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from handlers import failures
from handlers.events import ObjectRef
from handlers.failures import FileFailure, RetryLater

CHUNK_BYTES = 1024 * 1024

_NOT_FOUND = {"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "404", "NotFound", "PreconditionFailed", "412"}
_DENIED = {"AccessDenied", "403", "Forbidden", "AllAccessDisabled", "InvalidToken", "AccountProblem"}
_ARCHIVED = {"InvalidObjectState"}


@dataclass(slots=True)
class ObjectStream:
    """An open object: its total size, and ``chunks()`` yielding its bytes from ``start``."""

    body: Any
    size: int
    start: int
    bytes_read: int = 0

    def chunks(self) -> Iterator[bytes]:
        """The object's bytes in chunks of up to 1 MiB; a broken connection becomes ``RetryLater``."""
        try:
            while True:
                chunk = self.body.read(CHUNK_BYTES)
                if not chunk:
                    return
                self.bytes_read += len(chunk)
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


def check_size(size: int | None, limit: int) -> None:
    if size is not None and size > limit:
        raise FileFailure(failures.TOO_LARGE, f"object is {size} bytes, over the limit of {limit} bytes")


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
    try:
        response = s3_client.get_object(**params)
    except Exception as exc:
        if start and _error_code(exc) == "InvalidRange":  # resuming exactly at the end: nothing left
            return ObjectStream(_Empty(), start, start)
        raise _classify(exc, ref) from exc
    total = _total_size(response)
    stream = ObjectStream(response["Body"], total, start)
    try:
        check_size(total, max_bytes)
    except FileFailure:
        stream.close()
        raise
    return stream


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
        return FileFailure(failures.OBJECT_NOT_FOUND, f"{what} no longer exists ({code or status})")
    if code in _DENIED or code.startswith("KMS.") or (not code and status == "403"):
        return FileFailure(failures.ACCESS_DENIED, f"reading {what} was denied ({code or status}): {exc}")
    if code in _ARCHIVED:
        return FileFailure(failures.OBJECT_ARCHIVED, f"{what} is in an archive storage class ({code})")
    return RetryLater("S3_GET", f"GetObject failed ({code or status}): {exc}")
