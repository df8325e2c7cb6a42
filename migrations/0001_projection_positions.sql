-- Where each projection has read the ledger up to. Written in the same transaction as the
-- view it tracks, so an event is applied to a view exactly once.
CREATE TABLE projection_positions (
    name        text PRIMARY KEY,
    position    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
