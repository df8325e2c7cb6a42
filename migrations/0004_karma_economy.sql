-- The karma economy's read models: escrow and losses beside each balance, balances per
-- scope tag, every entry with its formula (history), stakes, and ratings per scope.
ALTER TABLE karma_balances
    ADD COLUMN escrow  numeric NOT NULL DEFAULT 0,
    ADD COLUMN decayed numeric NOT NULL DEFAULT 0,
    ADD COLUMN slashed numeric NOT NULL DEFAULT 0;

CREATE TABLE karma_scoped (
    agent_id  text NOT NULL,
    scope     text NOT NULL,
    balance   numeric NOT NULL,
    PRIMARY KEY (agent_id, scope)
);
CREATE INDEX karma_scoped_leaderboard_idx ON karma_scoped (scope, balance DESC, agent_id);

CREATE TABLE karma_entries (
    position     bigint PRIMARY KEY,
    agent_id     text NOT NULL,
    kind         text NOT NULL,
    amount       numeric NOT NULL,
    task_id      text,
    scope        jsonb NOT NULL,
    reason       text NOT NULL,
    formula      jsonb NOT NULL,
    run_id       text,
    caused_by    text NOT NULL,
    occurred_at  timestamptz NOT NULL
);
CREATE INDEX karma_entries_agent_idx ON karma_entries (agent_id, position);

CREATE TABLE stakes (
    task_id      text NOT NULL,
    agent_id     text NOT NULL,
    amount       numeric NOT NULL,
    state        text NOT NULL,
    reason       text,
    staked_at    timestamptz NOT NULL,
    settled_at   timestamptz,
    PRIMARY KEY (task_id, agent_id, staked_at)
);

CREATE TABLE ratings (
    agent_id    text NOT NULL,
    scope       text NOT NULL,
    rating      double precision NOT NULL,
    deviation   double precision NOT NULL,
    volatility  double precision NOT NULL,
    games       integer NOT NULL,
    PRIMARY KEY (agent_id, scope)
);
