"""Lambda entry point: ``handler(event, context)`` for SQS batches of S3 event notifications.

For each object version a notification names: claim it in the ledger (a COMPLETED or FAILED version is a
counted duplicate and changes nothing), stream it through reader -> validation -> items, write the items
in batches, and mark it COMPLETED. A new version whose bytes equal those of a COMPLETED version of the same
key (a re-upload; S3's stored checksum finds the candidate, SHA-256 confirms it, see ``ledger``) is marked
COMPLETED with ``duplicateOf`` and is a counted duplicate too: nothing else is written for it.
It returns ``{"batchItemFailures": [...]}`` with the messages to retry:

- a permanent file problem (``FileFailure``): one DLQ message, ledger FAILED, the SQS message acknowledged;
- a transient one (S3 read errors, the table failing after retries, another invocation holding the file,
  the deadline, the pseudonymization key unreadable): progress saved in the ledger, the message retried,
  processing resumed from the offset;
- the circuit breaker: once the table keeps failing, the remaining messages are returned unprocessed.

Environment (see ``settings``): ``TABLE_NAME``, ``DLQ_URL`` (required); ``RECORD_TTL_DAYS``,
``MAX_OBJECT_BYTES``, ``MAX_DECOMPRESSION_RATIO``, ``MAX_RECORD_BYTES``, ``WRITE_CONCURRENCY``,
``DEADLINE_MARGIN_MS``, ``DUPLICATE_WINDOW``, ``CHECKPOINT_INTERVAL_MS``, ``PSEUDONYMIZATION_SECRET_ID`` and
``PSEUDONYMIZE_FIELDS`` (optional); ``AWS_REGION`` from the runtime; ``POWERTOOLS_*`` for logs, metrics and
traces.

AWS calls (the IAM the function needs): s3:GetObject / s3:GetObjectVersion (plus kms:Decrypt for SSE-KMS
objects), dynamodb:BatchWriteItem, dynamodb:UpdateItem and dynamodb:GetItem on the table, sqs:SendMessage on
the DLQ (plus kms:GenerateDataKey for its encryption), secretsmanager:GetSecretValue on the pseudonymization
secret when it is configured (plus kms:Decrypt through Secrets Manager), and X-Ray and CloudWatch Logs
through the runtime.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from handlers import clients, events, failures, formats, ledger, objects, settings, writer
from handlers.events import InvalidNotification, ObjectRef
from handlers.failures import DeadLetter, FileFailure, RetryLater
from handlers.items import FileSource, ItemFactory
from handlers.ledger import LeaseLost, Ledger, Progress
from handlers.observability import count, failed_by_reason, logger, metrics, milliseconds, tracer
from handlers.pipeline import FileItems
from handlers.schemas import registry
from handlers.settings import Settings
from handlers.writer import Batch, BatchWriter, CircuitBreaker, TableUnavailable

if TYPE_CHECKING:
    from handlers.pseudonymize import Pseudonymizer

COMPLETED, DUPLICATE, FAILED, RETRY, SKIPPED = "completed", "duplicate", "failed", "retry", "skipped"
LEASE_EXTRA_MS = 60_000


@functools.cache
def _executor(workers: int) -> ThreadPoolExecutor | writer.InlineExecutor:
    """The table-write threads, shared by every invocation of the container (0: write inline)."""
    if workers == 0:
        return writer.InlineExecutor()
    return ThreadPoolExecutor(max_workers=workers, thread_name_prefix="table-write")


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(raise_on_empty_metrics=False)
def handler(event: dict[str, Any], context: Any) -> dict[str, list[dict[str, str]]]:
    """Process an SQS batch; return the messages SQS should deliver again."""
    return Invocation(settings.current(), context).run(event)


class Invocation:
    """One handler call: its deadline, circuit breaker and AWS clients."""

    def __init__(self, config: Settings, context: Any) -> None:
        self.config = config
        self.context = context
        self.request_id = str(getattr(context, "aws_request_id", "local"))
        remaining = self.remaining_ms()
        self.margin_ms = min(config.deadline_margin_ms, remaining // 4)
        self.breaker = CircuitBreaker()
        self.s3 = clients.s3(config.region)
        self.table = writer.install(clients.dynamodb(config.region))
        self._pseudonymizer: Pseudonymizer | None = None
        self._key_error: str | None = None

    def pseudonymizer(self) -> Pseudonymizer | None:
        """The ``pseudonymize.Pseudonymizer`` (``None`` when off); ``SecretUnavailable`` without its key.

        The key is read at the first file that needs it, not at the start: a batch of duplicates or test
        events needs none. After one failure the invocation's other files fail fast instead of each waiting
        out the SDK's retries again.
        """
        if not self.config.pseudonymize_fields:
            return None
        if self._pseudonymizer is None:
            from handlers import pseudonymize  # only functions that pseudonymize load it

            if self._key_error is not None:
                raise pseudonymize.SecretUnavailable(self._key_error)
            try:
                key = pseudonymize.secret_key(self.config.region, self.config.pseudonymization_secret_id)
            except pseudonymize.SecretUnavailable as exc:
                self._key_error = exc.message
                logger.error("the pseudonymization key is unavailable; files are retried, nothing is stored",
                             extra={"error": exc.message})
                count("PseudonymizationKeyUnavailable")
                raise
            self._pseudonymizer = pseudonymize.Pseudonymizer(key, dict(self.config.pseudonymize_fields))
        return self._pseudonymizer

    def remaining_ms(self) -> int:
        getter = getattr(self.context, "get_remaining_time_in_millis", None)
        return int(getter()) if getter else 15 * 60 * 1000

    def time_left_ms(self) -> int:
        """Milliseconds until processing must stop (the function's remaining time less the margin)."""
        return self.remaining_ms() - self.margin_ms

    def run(self, event: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
        retry: list[str] = []
        messages = events.sqs_messages(event)
        count("MessagesReceived", len(messages))
        for message_id, body in messages:
            if self.breaker.open or self.time_left_ms() <= 0:
                retry.append(message_id)
                continue
            try:
                outcome = self.message(message_id, body)
            except Exception:
                logger.exception("unexpected error; the message will be retried", extra={"messageId": message_id})
                outcome = RETRY
            if outcome == RETRY:
                retry.append(message_id)
        if self.breaker.open:
            count("CircuitBreakerOpen")
        return {"batchItemFailures": [{"itemIdentifier": m} for m in retry]}

    def message(self, message_id: str, body: str) -> str:
        """Process every object of one SQS message; RETRY if any of them must be tried again."""
        try:
            message = events.parse_message(message_id, body)
        except InvalidNotification as exc:
            logger.error("message is not an S3 notification", extra={"messageId": message_id, "error": str(exc)})
            letter = DeadLetter(
                reason=failures.INVALID_NOTIFICATION, message=str(exc), region=self.config.region,
                s3_record=body[:100_000], sqs_message_id=message_id, request_id=self.request_id,
            )
            return self._dead_letter(letter)
        if message.test_event:
            logger.info("skipping s3:TestEvent", extra={"messageId": message_id})
            count("TestEventsSkipped")
            return SKIPPED
        outcome = SKIPPED
        for ref in message.objects:
            if not ref.is_creation:
                logger.info("skipping non-creation event", extra={"eventName": ref.event_name, "key": ref.key})
                continue
            if self.breaker.open or self.time_left_ms() <= 0:
                return RETRY
            result = self.object(ref, message_id)
            if result == RETRY:
                outcome = RETRY
            elif outcome != RETRY:
                outcome = result
        return outcome

    def object(self, ref: ObjectRef, message_id: str) -> str:
        """Process one object version, with bucket, key and version on every log line meanwhile."""
        logger.append_keys(bucket=ref.bucket, key=ref.key, versionId=ref.version_id)
        try:
            return FileRun(self, ref, message_id).run()
        finally:
            logger.remove_keys(["bucket", "key", "versionId"])

    def _dead_letter(self, letter: DeadLetter) -> str:
        try:
            failures.send(clients.sqs(self.config.region), self.config.dlq_url, letter)
        except Exception:
            logger.exception("sending to the DLQ failed; the message will be retried")
            return RETRY
        count("DeadLetters")
        return FAILED


class FileRun:
    """Processing of one object version within one invocation."""

    def __init__(self, invocation: Invocation, ref: ObjectRef, message_id: str) -> None:
        self.inv = invocation
        self.config = invocation.config
        self.ref = ref
        self.message_id = message_id
        self.lid = ledger.ledger_id(ref.key, ref.version_id, ref.etag)
        self.ledger = Ledger(invocation.table, self.config.table_name, f"{invocation.request_id}/{message_id}",
                             self.config.region)
        self.progress = Progress()
        self.started = time.monotonic()  # of this invocation's work on the file (ProcessingTime)
        self.unsaved_since = self.started  # start of the time not yet added to the ledger's durationMs
        self.new_processed = 0
        self.new_rejected = 0
        self.content_key: str | None = None  # candidate content item (see ``ledger``), when S3 has a checksum
        self.sha256: str | None = None  # of the whole object, when it was read from byte 0 in one pass

    def run(self) -> str:
        try:
            fmt: formats.Format | None = formats.format_for(self.ref.key)
        except FileFailure as exc:
            fmt, early_failure = None, exc
        else:
            early_failure = None
        now = _now()
        try:
            claim = self.ledger.claim(
                self.lid,
                {"bucket": self.ref.bucket, "objectKey": self.ref.key, "versionId": self.ref.version_id,
                 "etag": self.ref.etag, "objectSize": self.ref.size, "format": fmt.name if fmt else None},
                now_iso=_iso(now), now_ms=int(now.timestamp() * 1000),
                lease_ms=self.inv.remaining_ms() + LEASE_EXTRA_MS,
                expires_at=int(now.timestamp()) + self.config.record_ttl_days * 86400,
            )
        except Exception:
            logger.exception("claiming the file in the ledger failed; retrying later")
            self.inv.breaker.failure()
            count("FilesIncomplete")
            return RETRY
        if claim.outcome == "done":
            logger.info("file version already handled; duplicate delivery skipped",
                        extra={"ledgerStatus": claim.progress.status})
            count("FilesDuplicate")
            return DUPLICATE
        if claim.outcome == "busy":
            logger.info("another invocation is processing this file; retrying later")
            count("FilesIncomplete")
            return RETRY
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
            return self.duplicate(*original)
        return self.completed()

    # -- the pipeline -------------------------------------------------------------------------------------
    def process(self, fmt: formats.Format) -> tuple[str, Progress] | None:
        """Read, validate and write the file from its saved offset; raise to stop (see ``run``).

        Returns ``(ledger id, progress)`` of a COMPLETED version with identical bytes instead, having
        written nothing, when this version is a re-upload (checked only before any record is written)."""
        start = self.progress
        by_byte = fmt.resumable_by_byte and start.byte_offset > 0 and start.offset > 0
        pseudonymizer = self.inv.pseudonymizer()  # first: without its key no record may be stored
        self.stream = self._open(0 if not by_byte else start.byte_offset)
        try:
            if self.content_key is not None and start.offset == 0:
                original = self._same_content()
                if original is not None:
                    return original
                if self.stream.bytes_read:  # hashed whole and different (a CRC collision): read it again
                    self.stream.close()
                    self.stream = self._open(0)
            records = self._records(fmt, self.stream, by_byte)
            source = FileSource(
                bucket=self.ref.bucket, key=self.ref.key, version_id=self.ref.version_id, ledger_id=self.lid,
                processed_at=start.started_at, region=self.config.region,
                expires_at=_expires_at(start.started_at, self.config.record_ttl_days),
            )
            position_name = "sourceIndex" if fmt.kind == "json" else "sourceLine"
            if pseudonymizer is None:
                factory = ItemFactory(source, position_name)
            else:
                from handlers.pseudonymize import PseudonymizingFactory

                factory = PseudonymizingFactory(source, position_name, pseudonymizer)
            file_items = FileItems(factory, fmt.kind, registry(), self.config.duplicate_window)
            outcomes = file_items.outcomes(records, skip=0 if by_byte else start.offset,
                                           first_index=start.offset if by_byte else 0)
            with tracer.provider.in_subsegment("## records"):
                self._write(outcomes, track_bytes=fmt.resumable_by_byte)
            self.sha256 = self.stream.sha256()
        finally:
            self.stream.close()
        return None

    def _open(self, start: int) -> objects.ObjectStream:
        """Open the object at byte ``start``; from byte 0 its bytes are hashed as they are read, and S3's
        stored checksum (if any) names the candidate content item."""
        if getattr(self, "stream", None) is not None:  # a second read: count the first one's bytes now
            self.progress.bytes += self._take_bytes()
            self._bytes_counted = 0
        with tracer.provider.in_subsegment("## s3 open") as segment:
            segment.put_annotation("key", self.ref.key[:250])
            stream = objects.open_object(self.inv.s3, self.ref, self.config.max_object_bytes, start=start)
        stream.hash_from_start()
        if stream.checksum is not None:
            self.content_key = ledger.content_id(self.ref.key, stream.size, *stream.checksum)
        return stream

    def _same_content(self) -> tuple[str, Progress] | None:
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
        if original is None or original.status != ledger.COMPLETED:
            return None
        with tracer.provider.in_subsegment("## s3 hash"):
            for _ in self.stream.chunks():
                if self.inv.time_left_ms() <= 0:
                    raise RetryLater("DEADLINE", "the deadline came while hashing a re-upload; retrying")
        sha256 = self.stream.sha256()
        if sha256 != content.sha256:
            logger.warning("same key, size and S3 checksum as a completed file, but different bytes: processed",
                           extra={"candidateOf": content.ledger_id})
            count("ContentChecksumCollisions")
            return None
        return content.ledger_id, original

    def _records(self, fmt: formats.Format, stream: objects.ObjectStream, by_byte: bool) -> Iterator[Any]:
        """The reader chain for the file's format: S3 chunks -> gunzip -> text check -> records."""
        config = self.config
        chunks: Iterator[bytes] = stream.chunks()
        if fmt.gzip:
            chunks = formats.gunzip(chunks, stream.size, config.max_decompression_ratio)
        if not by_byte:  # a resumed read starts mid-file: no byte-order mark there, and the start was checked
            chunks = formats.text_start(chunks)
        if fmt.kind == "jsonl":
            start = self.progress
            return formats.jsonl_records(chunks, config.max_record_bytes,
                                         first_line=start.line_offset + 1 if by_byte else 1,
                                         first_byte=start.byte_offset if by_byte else 0)
        if fmt.kind == "csv":
            return formats.csv_records(chunks, config.max_record_bytes)
        return formats.json_records(chunks)

    def _write(self, outcomes: Iterator[Any], track_bytes: bool) -> None:
        """Batch the items 25 at a time and write them; stop at the deadline, saving progress meanwhile."""
        config = self.config
        self.writer = BatchWriter(
            self.inv.table, config.table_name, _executor(config.write_concurrency), self.inv.breaker,
            on_commit=self._commit, max_in_flight=max(1, 2 * config.write_concurrency),
            time_left_ms=self.inv.time_left_ms, wrap=_traced,
        )
        last_save = time.monotonic()
        batch = Batch()
        try:
            for index, position, end, key, item, accepted in outcomes:
                if key in batch.items:  # never two puts of one key in a request
                    self.writer.submit(batch)
                    batch = Batch()
                batch.items[key] = item
                if accepted:
                    batch.processed += 1
                else:
                    batch.rejected += 1
                batch.checkpoint = (index, end, position) if track_bytes else (index, 0, 0)
                if len(batch.items) == writer.BATCH_SIZE:
                    self.writer.submit(batch)
                    batch = Batch()
                    if self.inv.time_left_ms() <= 0:
                        raise RetryLater("DEADLINE", "the function's deadline is near; resuming next time")
                    if (time.monotonic() - last_save) * 1000 >= config.checkpoint_interval_ms:
                        self._checkpoint()
                        last_save = time.monotonic()
            if batch.items:
                self.writer.submit(batch)
            self.writer.flush()
        except BaseException:
            with contextlib.suppress(TableUnavailable):
                self.writer.flush()  # whatever is in flight is written and counted before stopping
            raise

    def _checkpoint(self) -> None:
        """Save progress on the way, so even a crash (out of memory, a hard timeout) resumes near here."""
        try:
            self._save(ledger.IN_PROGRESS)
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
    def _save(self, status: str, failure: tuple[str, str] | None = None, lease_until: int | None = None,
              duplicate_of: str | None = None) -> None:
        self.progress.bytes += self._take_bytes()
        now = time.monotonic()
        self.progress.duration_ms += int((now - self.unsaved_since) * 1000)
        self.unsaved_since = now
        self.ledger.save(self.lid, self.progress, _iso(_now()), status=status, failure=failure,
                         lease_until=lease_until, duplicate_of=duplicate_of)

    def _take_bytes(self) -> int:
        stream = getattr(self, "stream", None)
        current = stream.bytes_read if stream is not None else 0
        taken = current - getattr(self, "_bytes_counted", 0)
        self._bytes_counted = current
        return taken

    def _metrics(self) -> None:
        count("RecordsProcessed", self.new_processed)
        count("RecordsRejected", self.new_rejected)
        stats = getattr(getattr(self, "writer", None), "stats", None)
        if stats is not None:
            count("WriteRequests", stats.requests)
            count("UnprocessedRetries", stats.unprocessed_retries)
        milliseconds("ProcessingTime", (time.monotonic() - self.started) * 1000)

    def _mark_completed(self, duplicate_of: str | None = None) -> bool:
        """Save the COMPLETED ledger item; False (the message is retried) when the lease or the table fails."""
        try:
            self._save(ledger.COMPLETED, duplicate_of=duplicate_of)
        except LeaseLost:
            logger.warning("lease lost before completion; another invocation finishes the file")
            return False
        except Exception:
            logger.exception("marking the file COMPLETED failed; the message will be retried")
            self.inv.breaker.failure()
            return False
        return True

    def completed(self) -> str:
        self._metrics()
        if not self._mark_completed():
            return RETRY
        count("FilesCompleted")
        self._record_content()
        latency = _since(self.ref.event_time)
        if latency is not None:
            milliseconds("FileLatency", latency)
        logger.info("file completed", extra={"processed": self.progress.processed, "rejected": self.progress.rejected,
                                              "records": self.progress.records})
        return COMPLETED

    def _record_content(self) -> None:
        """Leave the content item that lets a re-upload of these bytes be skipped. Best effort: the file is
        COMPLETED either way; without the item a re-upload is only processed again."""
        stream = getattr(self, "stream", None)
        if self.content_key is None or self.sha256 is None or stream is None or stream.checksum is None:
            return
        algorithm, checksum = stream.checksum
        try:
            self.ledger.record_content(
                self.content_key, self.lid, self.sha256, self.progress,
                {"objectKey": self.ref.key, "objectSize": stream.size, "checksumAlgorithm": algorithm,
                 "checksum": checksum},
                now_iso=_iso(_now()),
                expires_at=_expires_at(self.progress.started_at, self.config.record_ttl_days),
            )
        except Exception:
            logger.warning("recording the file's content identity failed; a re-upload is processed again",
                           exc_info=True)

    def duplicate(self, original_lid: str, original: Progress) -> str:
        """Mark this version COMPLETED as a copy of ``original_lid``: its counts, so that records in =
        processed + rejected holds per version, and nothing written but this ledger item."""
        progress = self.progress
        progress.processed, progress.rejected = original.processed, original.rejected
        progress.offset, progress.byte_offset, progress.line_offset = original.records, 0, 0
        if not self._mark_completed(duplicate_of=original_lid):
            return RETRY
        logger.info("same bytes as a completed version; re-upload skipped as a duplicate",
                    extra={"duplicateOf": original_lid, "records": original.records})
        count("FilesDuplicate")
        milliseconds("ProcessingTime", (time.monotonic() - self.started) * 1000)
        return DUPLICATE

    def failed(self, exc: FileFailure) -> str:
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
        if self.inv._dead_letter(letter) == RETRY:
            self._release()
            return RETRY
        count("FilesFailed")
        failed_by_reason(exc.reason)
        try:
            self._save(ledger.FAILED, failure=(exc.reason, exc.message))
        except Exception:
            logger.exception("marking the file FAILED in the ledger failed (the DLQ message was sent)")
        return FAILED

    def stopped(self, exc: Exception) -> str:
        self._metrics()
        if isinstance(exc, TableUnavailable):
            logger.error("table writes keep failing; stopping the file", extra={"error": str(exc)})
        elif isinstance(exc, LeaseLost):
            logger.warning("lease lost; another invocation continues the file")
            count("FilesIncomplete")
            return RETRY
        else:
            logger.warning("stopping the file; it will be resumed", extra={"error": str(exc)})
        self._release()
        count("FilesIncomplete")
        return RETRY

    def _release(self) -> None:
        """Save progress and give the lease up, so the retry (any invocation) resumes at the offset."""
        try:
            self._save(ledger.IN_PROGRESS, lease_until=0)
        except Exception:
            logger.exception("saving progress failed; the retry resumes from the last saved offset")


def _traced(fn: Any) -> Any:
    from handlers.observability import in_current_trace

    return in_current_trace(fn)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _expires_at(started_at: str, ttl_days: int) -> int:
    try:
        start = dt.datetime.fromisoformat(started_at)
    except ValueError:
        start = _now()
    return int(start.timestamp()) + ttl_days * 86400


def _since(event_time: str | None) -> float | None:
    """Milliseconds since the notification's ``eventTime``; ``None`` when it is missing or unreadable.

    S3 always sends UTC with ``Z``; a hand-made or backfilled event may carry no zone at all, which is read
    as UTC: subtracting a naive time from an aware one raises, and this runs after the file is COMPLETED,
    so it must never raise (a completed file would be retried for a latency metric).
    """
    if not event_time or not isinstance(event_time, str):
        return None
    try:
        then = dt.datetime.fromisoformat(event_time)
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=dt.UTC)
    return max(0.0, (_now() - then).total_seconds() * 1000)
