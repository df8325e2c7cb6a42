-- Bearer tokens for the HTTP API. Only a SHA-256 of each token is kept: a leaked table
-- does not leak a usable token. Tokens are access control, not history, so they live
-- here rather than in the ledger (where a hash would stay forever).
CREATE TABLE api_tokens (
    token_id    text PRIMARY KEY,
    token_hash  text NOT NULL UNIQUE,
    role        text NOT NULL CHECK (role IN ('admin', 'agent')),
    agent_id    text,
    label       text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((role = 'agent') = (agent_id IS NOT NULL))
);
