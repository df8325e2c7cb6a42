"""NATS JetStream: stream and subject declarations, the outbox relay (ledger -> JetStream),
task work queues and helpers for external consumers.

The ledger's notification log is the outbox: the relay tails ``ledger_events`` by position,
so there is no second write path to keep consistent with the database.
"""
