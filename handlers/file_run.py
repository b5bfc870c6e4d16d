"""One object version processed within one invocation: claim, read, write, and how it ends.

``FileRun.run`` claims the file in the ledger, streams it through reader -> validation -> items from its
saved offset, writes the items in batches and ends the file with one ``FileOutcome``: COMPLETED, a
DUPLICATE (a re-delivery of a finished version, or a re-upload of the bytes of a COMPLETED one), FAILED
(one DLQ message, ledger FAILED) or RETRY (progress saved, the lease given up, the message redelivered).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from enum import Enum
from functools import cache
from typing import TYPE_CHECKING, NamedTuple

from handlers import clock, formats, ledger, objects, writer
from handlers.contracts import LedgerStatus, Reason, ledger_id
from handlers.failures import DeadLetter, FileFailure, RetryLater
from handlers.items import FileSource, ItemFactory, Sharding
from handlers.ledger import Claim, ClaimResult, LeaseLost, Ledger, Progress
from handlers.observability import count, failed_by_reason, in_current_trace, logger, milliseconds, tracer
from handlers.pipeline import FileItems, Outcome
from handlers.schemas import registry
from handlers.writer import Batch, BatchWriter, TableUnavailable, WriteStats

if TYPE_CHECKING:
    from handlers.events import ObjectRef
    from handlers.processor import Invocation

LEASE_EXTRA_MS = 60_000  # the lease outlasts the invocation by this much: a crash frees it only after that


class FileOutcome(Enum):
    """How the processing of one object version (or one SQS message, the worst of its objects) ended."""

    COMPLETED = "completed"
    DUPLICATE = "duplicate"  # already COMPLETED or FAILED, or the same bytes as a COMPLETED version
    FAILED = "failed"  # dead-lettered: the message is acknowledged
    RETRY = "retry"  # the message must be delivered again
    SKIPPED = "skipped"  # nothing to process (a test event, a message naming no created object)


class Original(NamedTuple):
    """The COMPLETED version whose bytes a re-upload repeats."""

    ledger_id: str
    progress: Progress


@cache
def _executor(workers: int) -> ThreadPoolExecutor | writer.InlineExecutor:
    """The table-write threads, shared by every invocation of the container (0: write inline)."""
    if workers == 0:
        return writer.InlineExecutor()
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="table-write")


class FileRun:
    """Processing of one object version within one invocation."""

    def __init__(self, invocation: Invocation, ref: ObjectRef, message_id: str) -> None:
        self.inv = invocation
        self.config = invocation.config
        self.ref = ref
        self.message_id = message_id
        self.lid = ledger_id(ref.key, ref.version_id, ref.etag)
        self.ledger = Ledger(invocation.table, self.config.table_name, f"{invocation.request_id}/{message_id}",
                             self.config.region)
        self.progress = Progress()
        self.started = time.monotonic()  # of this invocation's work on the file (ProcessingTime)
        self.unsaved_since = self.started  # start of the time not yet added to the ledger's durationMs
        self.new_processed = 0
        self.new_rejected = 0
        self.stream: objects.ObjectStream | None = None  # the open read of the object, once there is one
        self.bytes_counted = 0  # bytes of ``stream`` already added to ``progress.bytes``
        self.write_stats: WriteStats | None = None  # of the table writes, once they started
        self.content_key: str | None = None  # candidate content item (see ``ledger``), when S3 has a checksum
        self.sha256: str | None = None  # of the whole object, when it was read from byte 0 in one pass

    def run(self) -> FileOutcome:
        try:
            fmt: formats.Format | None = formats.format_for(self.ref.key)
        except FileFailure as exc:
            fmt, early_failure = None, exc
        else:
            early_failure = None
        claim = self._claim(fmt)
        if claim is None:  # the ledger cannot be reached
            count("FilesIncomplete")
            return FileOutcome.RETRY
        if claim.result is ClaimResult.BUSY:
            logger.info("another invocation is processing this file; retrying later")
            count("FilesIncomplete")
            return FileOutcome.RETRY
        if claim.result is ClaimResult.DONE:
            logger.info("file version already handled; duplicate delivery skipped",
                        extra={"ledgerStatus": claim.progress.status})
            count("FilesDuplicate")
            return FileOutcome.DUPLICATE
        self.progress = claim.progress
        logger.info("processing file", extra={"ledgerId": self.lid, "offset": self.progress.offset,
                                               "attempt": self.progress.attempts})
        try:
            if early_failure is not None:
                raise early_failure
            assert fmt is not None
            original = self.process(fmt)
        except FileFailure as exc:
            return self.failed(exc)
        except (RetryLater, TableUnavailable, LeaseLost) as exc:
            return self.stopped(exc)
        if original is not None:
            return self.duplicate(original)
        return self.completed()

    def _claim(self, fmt: formats.Format | None) -> Claim | None:
        """Take the file's lease in the ledger; ``None`` when the ledger cannot be reached."""
        now = clock.now()
        try:
            return self.ledger.claim(
                self.lid,
                {"bucket": self.ref.bucket, "objectKey": self.ref.key, "versionId": self.ref.version_id,
                 "etag": self.ref.etag, "objectSize": self.ref.size, "format": fmt.name if fmt else None},
                now_iso=clock.iso(now), now_ms=int(now.timestamp() * 1000),
                lease_ms=self.inv.remaining_ms() + LEASE_EXTRA_MS,
                expires_at=int(now.timestamp()) + self.config.record_ttl_days * 86400,
            )
        except Exception:
            logger.exception("claiming the file in the ledger failed; retrying later")
            self.inv.breaker.failure()
            return None

    # -- the pipeline -------------------------------------------------------------------------------------
    def process(self, fmt: formats.Format) -> Original | None:
        """Read, validate and write the file from its saved offset; raise to stop (see ``run``).

        Returns the COMPLETED version with identical bytes instead, having written nothing, when this
        version is a re-upload (checked only before any record is written)."""
        start = self.progress
        by_byte = fmt.resumable_by_byte and start.byte_offset > 0 and start.offset > 0
        pseudonymizer = self.inv.pseudonymizer()  # first: without its key no record may be stored
        stream = self._open(0 if not by_byte else start.byte_offset)
        try:
            if self.content_key is not None and start.offset == 0:
                original = self._same_content(stream)
                if original is not None:
                    return original
                if stream.bytes_read:  # hashed whole and different (a CRC collision): read it again
                    stream.close()
                    stream = self._open(0)
            records = self._records(fmt, stream, by_byte)
            source = FileSource(
                bucket=self.ref.bucket, key=self.ref.key, version_id=self.ref.version_id, ledger_id=self.lid,
                processed_at=start.started_at, region=self.config.region,
                expires_at=clock.expires_at(start.started_at, self.config.record_ttl_days),
            )
            position_name = "sourceIndex" if fmt.kind == "json" else "sourceLine"
            config = self.config
            sharding = Sharding(config.data_type_shards, config.rejected_shards, config.index_data_types)
            if pseudonymizer is None:
                factory = ItemFactory(source, position_name, sharding)
            else:
                from handlers.pseudonymize import PseudonymizingFactory

                factory = PseudonymizingFactory(source, position_name, pseudonymizer, sharding)
            file_items = FileItems(factory, fmt.kind, registry(), self.config.duplicate_window)
            outcomes = file_items.outcomes(records, skip=0 if by_byte else start.offset,
                                           first_index=start.offset if by_byte else 0)
            with tracer.provider.in_subsegment("## records"):
                self._write(outcomes, track_bytes=fmt.resumable_by_byte)
            self.sha256 = stream.sha256()
        finally:
            stream.close()
        return None

    def _open(self, start: int) -> objects.ObjectStream:
        """Open the object at byte ``start``; from byte 0 its bytes are hashed as they are read, and S3's
        stored checksum (if any) names the candidate content item."""
        if self.stream is not None:  # a second read: count the first one's bytes now
            self.progress.bytes += self._take_bytes()
            self.bytes_counted = 0
        with tracer.provider.in_subsegment("## s3 open") as segment:
            segment.put_annotation("key", self.ref.key[:250])
            stream = objects.open_object(self.inv.s3, self.ref, self.config.max_object_bytes, start=start)
        stream.hash_from_start()
        if stream.checksum is not None:
            self.content_key = ledger.content_id(self.ref.key, stream.size, *stream.checksum)
        self.stream = stream
        return stream

    def _same_content(self, stream: objects.ObjectStream) -> Original | None:
        """The COMPLETED version whose bytes this version repeats, or ``None``. The candidate comes from S3's
        checksum; a match is confirmed by hashing this object whole (no parsing, no writes), since a CRC
        collision must never drop a file. A failing lookup retries the file rather than risk a second copy."""
        assert self.content_key is not None
        try:
            content = self.ledger.content(self.content_key)
            if content is None or not content.sha256 or content.ledger_id == self.lid:
                return None
            if content.expires_at and content.expires_at <= time.time():  # the original's records are expiring
                return None
            original = self.ledger.read(content.ledger_id)
        except Exception as exc:
            self.inv.breaker.failure()
            raise RetryLater("CONTENT_LOOKUP", f"reading the content item failed: {exc}") from exc
        if original is None or original.status is not LedgerStatus.COMPLETED:
            return None
        with tracer.provider.in_subsegment("## s3 hash"):
            for _ in stream.chunks():
                if self.inv.time_left_ms() <= 0:
                    raise RetryLater("DEADLINE", "the deadline came while hashing a re-upload; retrying")
        if stream.sha256() != content.sha256:
            logger.warning("same key, size and S3 checksum as a completed file, but different bytes: processed",
                           extra={"candidateOf": content.ledger_id})
            count("ContentChecksumCollisions")
            return None
        return Original(content.ledger_id, original)

    def _records(self, fmt: formats.Format, stream: objects.ObjectStream, by_byte: bool) -> Iterator[formats.Record]:
        """The reader chain for the file's format, from byte 0 or (``by_byte``) from the saved byte offset."""
        start, config = self.progress, self.config
        return formats.records(fmt, stream.chunks(), stream.size, config.max_record_bytes,
                               config.max_decompression_ratio, first_line=start.line_offset + 1 if by_byte else 1,
                               first_byte=start.byte_offset if by_byte else 0)

    def _write(self, outcomes: Iterator[Outcome], track_bytes: bool) -> None:
        """Batch the items 25 at a time and write them; stop at the deadline, saving progress meanwhile."""
        config = self.config
        batch_writer = BatchWriter(
            self.inv.table, config.table_name, _executor(config.write_concurrency), self.inv.breaker,
            on_commit=self._commit, max_in_flight=max(1, 2 * config.write_concurrency),
            time_left_ms=self.inv.time_left_ms, wrap=in_current_trace,
        )
        self.write_stats = batch_writer.stats
        last_save = time.monotonic()
        batch = Batch()
        try:
            for index, position, end, key, item, accepted in outcomes:
                if key in batch.items:  # never two puts of one key in a request
                    batch_writer.submit(batch)
                    batch = Batch()
                batch.items[key] = item
                if accepted:
                    batch.processed += 1
                else:
                    batch.rejected += 1
                batch.checkpoint = (index, end, position) if track_bytes else (index, 0, 0)
                if len(batch.items) == writer.BATCH_SIZE:
                    batch_writer.submit(batch)
                    batch = Batch()
                    if self.inv.time_left_ms() <= 0:
                        raise RetryLater("DEADLINE", "the function's deadline is near; resuming next time")
                    if (time.monotonic() - last_save) * 1000 >= config.checkpoint_interval_ms:
                        self._checkpoint()
                        last_save = time.monotonic()
            if batch.items:
                batch_writer.submit(batch)
            batch_writer.flush()
        except BaseException:
            with contextlib.suppress(TableUnavailable):
                batch_writer.flush()  # whatever is in flight is written and counted before stopping
            raise

    def _checkpoint(self) -> None:
        """Save progress on the way, so even a crash (out of memory, a hard timeout) resumes near here."""
        try:
            self._save(LedgerStatus.IN_PROGRESS)
        except LeaseLost:
            raise
        except Exception:
            logger.warning("saving progress failed; carrying on", exc_info=True)

    def _commit(self, batch: Batch) -> None:
        """A batch and every batch before it are written: the file's progress may move past them."""
        progress = self.progress
        progress.processed += batch.processed
        progress.rejected += batch.rejected
        self.new_processed += batch.processed
        self.new_rejected += batch.rejected
        progress.offset, progress.byte_offset, progress.line_offset = batch.checkpoint

    # -- endings ----------------------------------------------------------------------------------------
    def _save(self, status: LedgerStatus, failure: tuple[Reason, str] | None = None, lease_until: int | None = None,
              duplicate_of: str | None = None) -> None:
        self.progress.bytes += self._take_bytes()
        now = time.monotonic()
        self.progress.duration_ms += int((now - self.unsaved_since) * 1000)
        self.unsaved_since = now
        self.ledger.save(self.lid, self.progress, clock.iso(clock.now()), status=status, failure=failure,
                         lease_until=lease_until, duplicate_of=duplicate_of)

    def _take_bytes(self) -> int:
        """The bytes read from S3 since the last call, for the ledger's running total."""
        current = self.stream.bytes_read if self.stream is not None else 0
        taken = current - self.bytes_counted
        self.bytes_counted = current
        return taken

    def _metrics(self) -> None:
        count("RecordsProcessed", self.new_processed)
        count("RecordsRejected", self.new_rejected)
        if self.write_stats is not None:
            count("WriteRequests", self.write_stats.requests)
            count("UnprocessedRetries", self.write_stats.unprocessed_retries)
        milliseconds("ProcessingTime", (time.monotonic() - self.started) * 1000)

    def _mark_completed(self, duplicate_of: str | None = None) -> bool:
        """Save the COMPLETED ledger item; False (the message is retried) when the lease or the table fails."""
        try:
            self._save(LedgerStatus.COMPLETED, duplicate_of=duplicate_of)
        except LeaseLost:
            logger.warning("lease lost before completion; another invocation finishes the file")
            return False
        except Exception:
            logger.exception("marking the file COMPLETED failed; the message will be retried")
            self.inv.breaker.failure()
            return False
        return True

    def completed(self) -> FileOutcome:
        self._metrics()
        if not self._mark_completed():
            return FileOutcome.RETRY
        count("FilesCompleted")
        self._record_content()
        latency = clock.since_ms(self.ref.event_time)
        if latency is not None:
            milliseconds("FileLatency", latency)
        logger.info("file completed", extra={"processed": self.progress.processed, "rejected": self.progress.rejected,
                                              "records": self.progress.records})
        return FileOutcome.COMPLETED

    def _record_content(self) -> None:
        """Leave the content item that lets a re-upload of these bytes be skipped. Best effort: the file is
        COMPLETED either way; without the item a re-upload is only processed again."""
        stream = self.stream
        if self.content_key is None or self.sha256 is None or stream is None or stream.checksum is None:
            return
        algorithm, checksum = stream.checksum
        try:
            self.ledger.record_content(
                self.content_key, self.lid, self.sha256, self.progress,
                {"objectKey": self.ref.key, "objectSize": stream.size, "checksumAlgorithm": algorithm,
                 "checksum": checksum},
                now_iso=clock.iso(clock.now()),
                expires_at=clock.expires_at(self.progress.started_at, self.config.record_ttl_days),
            )
        except Exception:
            logger.warning("recording the file's content identity failed; a re-upload is processed again",
                           exc_info=True)

    def duplicate(self, original: Original) -> FileOutcome:
        """Mark this version COMPLETED as a copy of the original: its counts, so that records in =
        processed + rejected holds per version, and nothing written but this ledger item."""
        progress, counts = self.progress, original.progress
        progress.processed, progress.rejected = counts.processed, counts.rejected
        progress.offset, progress.byte_offset, progress.line_offset = counts.records, 0, 0
        if not self._mark_completed(duplicate_of=original.ledger_id):
            return FileOutcome.RETRY
        logger.info("same bytes as a completed version; re-upload skipped as a duplicate",
                    extra={"duplicateOf": original.ledger_id, "records": counts.records})
        count("FilesDuplicate")
        milliseconds("ProcessingTime", (time.monotonic() - self.started) * 1000)
        return FileOutcome.DUPLICATE

    def failed(self, exc: FileFailure) -> FileOutcome:
        self._metrics()
        logger.error("file failed permanently", extra={"reason": exc.reason, "error": exc.message,
                                                        "processed": self.progress.processed,
                                                        "rejected": self.progress.rejected})
        letter = DeadLetter(
            reason=exc.reason, message=exc.message, region=self.config.region, s3_record=self.ref.s3_record,
            sqs_message_id=self.message_id, request_id=self.inv.request_id, bucket=self.ref.bucket,
            key=self.ref.key, version_id=self.ref.version_id, etag=self.ref.etag, size=self.ref.size,
            ledger_id=self.lid, processed=self.progress.processed, rejected=self.progress.rejected,
        )
        if self.inv.dead_letter(letter) is FileOutcome.RETRY:
            self._release()
            return FileOutcome.RETRY
        count("FilesFailed")
        failed_by_reason(exc.reason)
        try:
            self._save(LedgerStatus.FAILED, failure=(exc.reason, exc.message))
        except Exception:
            logger.exception("marking the file FAILED in the ledger failed (the DLQ message was sent)")
        return FileOutcome.FAILED

    def stopped(self, exc: Exception) -> FileOutcome:
        self._metrics()
        if isinstance(exc, LeaseLost):
            logger.warning("lease lost; another invocation continues the file")
            count("FilesIncomplete")
            return FileOutcome.RETRY
        if isinstance(exc, TableUnavailable):
            logger.error("table writes keep failing; stopping the file", extra={"error": str(exc)})
        else:
            logger.warning("stopping the file; it will be resumed", extra={"error": str(exc)})
        self._release()
        count("FilesIncomplete")
        return FileOutcome.RETRY

    def _release(self) -> None:
        """Save progress and give the lease up, so the retry (any invocation) resumes at the offset."""
        try:
            self._save(LedgerStatus.IN_PROGRESS, lease_until=0)
        except Exception:
            logger.exception("saving progress failed; the retry resumes from the last saved offset")
