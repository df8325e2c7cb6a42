-- An aggregate's events in order, for provenance chains (karma why) and timelines.
CREATE INDEX audit_log_originator_idx ON audit_log (originator_id, position);
