-- The ecology's telemetry (seed 002's episodes.jsonl, gen_summaries.jsonl and
-- assimilation.jsonl) as read models folded from the ecology's events: each row says at which
-- ledger position it was recorded.
CREATE TABLE eco_episodes (
    position      bigint PRIMARY KEY,
    run_id        text,
    organelle_id  text NOT NULL,
    generation    integer NOT NULL,
    family        text NOT NULL,
    difficulty    integer NOT NULL,
    question      text NOT NULL,
    answer        text NOT NULL,
    score         double precision NOT NULL,
    checker       text NOT NULL,
    tokens        integer NOT NULL,
    latency_ms    integer NOT NULL,
    income        numeric NOT NULL,
    cost          numeric NOT NULL,
    recorded_at   timestamptz NOT NULL
);
CREATE INDEX eco_episodes_by_run ON eco_episodes (run_id, position);

CREATE TABLE eco_generations (
    position              bigint PRIMARY KEY,
    run_id                text,
    generation            integer NOT NULL,
    summary               jsonb NOT NULL,
    recorded_at           timestamptz NOT NULL
);
CREATE INDEX eco_generations_by_run ON eco_generations (run_id, position);

-- Assimilation attempts, merges and the same-compute baseline, one row each.
CREATE TABLE eco_assimilation (
    position     bigint PRIMARY KEY,
    run_id       text,
    kind         text NOT NULL,
    generation   integer,
    record       jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL
);
CREATE INDEX eco_assimilation_by_run ON eco_assimilation (run_id, position);
