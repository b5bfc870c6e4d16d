"""The pipeline on the AWS emulator (moto), for the tests and the local simulation; never the deploy path.

A template is never altered to suit the emulator: what moto gets wrong is fixed in moto, what it skips is
applied through the AWS APIs, and what it does not run at all is played by the local pipeline, each reading
what it needs from the rendered template. Only this package (and the tests) imports moto.

Where each gap is covered (the module's docstring describes it):

- ``patches`` (``patch_moto``, once when the emulator starts; ``patches.guard`` stops it on a moto the patches no
  longer fit): ``kms`` key tags and policy; ``dynamodb`` the global table model (its index and deletion protection
  updates, one index change per update, its deletion) and ``DescribeLimits`` at AWS's defaults; ``awslambda``
  function architectures and tracing, ``GetAccountSettings``, version references and updates, an alias model;
  ``cloudformation`` updates through conditions, outputs of skipped resources, ``RetainExceptOnCreate`` (kept, but
  deleted by a failed first create's rollback), JSON templates parsed as JSON; ``ec2`` route tables deleted with
  their stack, subnets placed by ``AvailabilityZoneId``; ``stacksets`` overrides (an empty list clears them),
  instance updates, failed operations and their rollback; ``iam`` TLS-only bucket policies; ``s3`` event
  ``versionId``/``sequencer``/time and the server's replication route; ``sqs`` no Docker delivery to an event
  source mapping.
- ``skipped``: bucket versioning, notifications, public access block and ownership controls, bucket, queue
  and topic policies, CloudWatch alarms, the secret, and the global table where no stack created it; what
  stays uncovered.
- ``intrinsics``: the intrinsic functions the two above resolve (``TemplateContext``, ``resolve``).
- ``server``: ``python -m tap_templates.local.server -p PORT``, moto's server with the patches.

The local pipeline (``pipeline.start`` yields a ``LocalPipeline``): ``deployment`` (names and clients),
``container`` (the Lambda container running the real handler), ``poller`` (the SQS event source mapping,
time passing for retries and leases), ``uploads`` (objects and their S3 events), ``replication`` (S3 and
global-table replication), ``state`` (reading and emptying what the pipeline holds), ``report``,
``inputs`` and ``simulate`` (what ``scripts/simulate.py`` runs and prints), ``output`` (its tables written to a
JSON Lines or HTML file).
"""
