CREATE TABLE agents (
    agent_id       text PRIMARY KEY,
    role           text NOT NULL,
    persona        text NOT NULL,
    skills         jsonb NOT NULL,
    status         text NOT NULL,
    registered_at  timestamptz NOT NULL,
    retired_at     timestamptz
);

CREATE TABLE runs (
    run_id         text PRIMARY KEY,
    workflow       text NOT NULL,
    config_digest  text NOT NULL,
    seed           bigint NOT NULL,
    code_version   text NOT NULL,
    outcome        text,
    started_at     timestamptz NOT NULL,
    finished_at    timestamptz
);

CREATE TABLE tasks (
    task_id         text PRIMARY KEY,
    run_id          text,
    task_type       text NOT NULL,
    state           text NOT NULL,
    assignee        text,
    parent_id       text,
    tags            jsonb NOT NULL,
    base_reward     numeric NOT NULL,
    stake_required  numeric NOT NULL,
    artifacts       integer NOT NULL DEFAULT 0,
    reviews         integer NOT NULL DEFAULT 0,
    quality_sum     numeric NOT NULL DEFAULT 0,
    last_reason     text,
    issued_at       timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX tasks_run_idx ON tasks (run_id);
CREATE INDEX tasks_state_idx ON tasks (state);
CREATE INDEX tasks_assignee_idx ON tasks (assignee);

CREATE TABLE karma_balances (
    agent_id    text PRIMARY KEY,
    balance     numeric NOT NULL,
    minted      numeric NOT NULL,
    burned      numeric NOT NULL,
    entries     integer NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE INDEX karma_balances_balance_idx ON karma_balances (balance DESC, agent_id);

CREATE TABLE audit_log (
    position            bigint PRIMARY KEY,
    event_id            text NOT NULL UNIQUE,
    originator_id       text NOT NULL,
    originator_version  bigint NOT NULL,
    context             text NOT NULL,
    event_type          text NOT NULL,
    occurred_at         timestamptz NOT NULL,
    run_id              text,
    correlation_id      text NOT NULL,
    causation_id        text NOT NULL,
    payload             jsonb NOT NULL
);
CREATE INDEX audit_log_run_idx ON audit_log (run_id, position);
CREATE INDEX audit_log_type_idx ON audit_log (event_type, position);
CREATE INDEX audit_log_correlation_idx ON audit_log (correlation_id);
CREATE INDEX audit_log_causation_idx ON audit_log (causation_id);
