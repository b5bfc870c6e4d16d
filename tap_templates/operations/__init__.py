"""The operator's tools for active-passive disaster recovery, as importable logic (the scripts are thin).

- ``environment``: one environment's regions, names, clients and deployed state, resolved from the config,
  ``naming`` and the StackSets, so every tool reads a region the same way and degrades the same way when a
  region cannot be reached;
- ``failover``: the per-region status table, ``promote`` and ``failback``;
- ``reconcile``: objects in each ingestion bucket against the file ledger, table replicas against each other,
  and the backfill of what was never processed;
- ``redrive``: dead-letter messages back to the ingest queue, by the failure reason the handler recorded;
- ``ledger``: the ledger's key and item shape, restated from ``handlers.ledger`` (never imported: the contract
  is tested in ``tests/operations``);
- ``text``: plain-text tables for the scripts.

Nothing here knows about the emulator: the same calls go to AWS or, with an endpoint URL, to moto.
"""
