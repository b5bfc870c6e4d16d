"""The tap pipeline's Lambda record processor: S3 objects in, validated records in DynamoDB out.

Entry point: ``handlers.processor.handler``. Modules are named after what they hold and form one pipeline:
``events`` (SQS/S3 notifications) -> ``objects`` (S3 reads) -> ``formats`` (streaming readers) ->
``records`` + ``schemas`` (validation; ``attributes`` converts values, ``timestamps`` normalizes times,
``codegen`` generates the per-schema fast path) -> ``items`` (DynamoDB items), tied together per file by
``pipeline`` -> ``writer`` (batched table writes); ``file_run`` runs one file through it, with ``ledger``
(per-file state) and ``failures`` (DLQ); ``contracts`` holds what tools outside the function rely on; and
``settings``, ``clients``, ``observability``, ``clock`` around them.
Nothing here imports from ``tap_templates`` or ``scripts``: the Lambda zip carries only this package.
"""
