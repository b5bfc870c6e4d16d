"""Lambda entry point: ``handler(event, context)`` for SQS batches of S3 event notifications.

For each object version a notification names (``file_run.FileRun``): claim it in the ledger (a COMPLETED or
FAILED version is a counted duplicate and changes nothing), stream it through reader -> validation -> items,
write the items in batches, and mark it COMPLETED. A new version whose bytes equal those of a COMPLETED
version of the same key (a re-upload; S3's stored checksum finds the candidate, SHA-256 confirms it, see
``ledger``) is marked COMPLETED with ``duplicateOf`` and is a counted duplicate too: nothing else is written
for it.
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

from typing import TYPE_CHECKING, Any

from handlers import clients, events, failures, settings, writer
from handlers.contracts import Reason
from handlers.events import InvalidNotification, ObjectRef
from handlers.failures import DeadLetter
from handlers.file_run import FileOutcome, FileRun
from handlers.observability import count, logger, metrics, tracer
from handlers.settings import Settings
from handlers.writer import CircuitBreaker

if TYPE_CHECKING:
    from handlers.pseudonymize import Pseudonymizer


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
                outcome = FileOutcome.RETRY
            if outcome is FileOutcome.RETRY:
                retry.append(message_id)
        if self.breaker.open:
            count("CircuitBreakerOpen")
        return {"batchItemFailures": [{"itemIdentifier": m} for m in retry]}

    def message(self, message_id: str, body: str) -> FileOutcome:
        """Process every object of one SQS message; RETRY if any of them must be tried again, else the
        outcome of the last object processed."""
        try:
            message = events.parse_message(message_id, body)
        except InvalidNotification as exc:
            logger.error("message is not an S3 notification", extra={"messageId": message_id, "error": str(exc)})
            letter = DeadLetter(
                reason=Reason.INVALID_NOTIFICATION, message=str(exc), region=self.config.region,
                s3_record=body[:100_000], sqs_message_id=message_id, request_id=self.request_id,
            )
            return self.dead_letter(letter)
        if message.test_event:
            logger.info("skipping s3:TestEvent", extra={"messageId": message_id})
            count("TestEventsSkipped")
            return FileOutcome.SKIPPED
        outcome = FileOutcome.SKIPPED
        for ref in message.objects:
            if not ref.is_creation:
                logger.info("skipping non-creation event", extra={"eventName": ref.event_name, "key": ref.key})
                continue
            if self.breaker.open or self.time_left_ms() <= 0:
                return FileOutcome.RETRY
            result = self.object(ref, message_id)
            if result is FileOutcome.RETRY:
                outcome = FileOutcome.RETRY
            elif outcome is not FileOutcome.RETRY:
                outcome = result
        return outcome

    def object(self, ref: ObjectRef, message_id: str) -> FileOutcome:
        """Process one object version, with bucket, key and version on every log line meanwhile."""
        logger.append_keys(bucket=ref.bucket, key=ref.key, versionId=ref.version_id)
        try:
            return FileRun(self, ref, message_id).run()
        finally:
            logger.remove_keys(["bucket", "key", "versionId"])

    def dead_letter(self, letter: DeadLetter) -> FileOutcome:
        """Send ``letter`` to the DLQ: FAILED once it is sent (the message may be acknowledged), RETRY if
        sending failed (nothing is acknowledged that the DLQ does not hold)."""
        try:
            failures.send(clients.sqs(self.config.region), self.config.dlq_url, letter)
        except Exception:
            logger.exception("sending to the DLQ failed; the message will be retried")
            return FileOutcome.RETRY
        count("DeadLetters")
        return FileOutcome.FAILED
