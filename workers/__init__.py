"""Agents' side of the work queues: the task worker, its handlers, and the JetStream pull
subscribers that feed it."""
