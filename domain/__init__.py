"""Aggregates and their events, one module per bounded context. Pure: no I/O, no clock."""
