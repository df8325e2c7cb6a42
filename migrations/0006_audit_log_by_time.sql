-- Time look-ups for time travel: the last position at or before an instant, directly.
CREATE INDEX audit_log_time_idx ON audit_log (occurred_at, position);
CREATE INDEX audit_log_originator_time_idx ON audit_log (originator_id, occurred_at);
