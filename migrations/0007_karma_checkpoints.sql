-- Karma state every CHECKPOINT_EVERY positions, so that `karma at N` sums at most that
-- many entries past the nearest checkpoint instead of the whole history. Derived from
-- karma_entries (immutable), built on demand, never edited.
CREATE TABLE karma_checkpoints (
    position  bigint NOT NULL,
    agent_id  text NOT NULL,
    balance   numeric NOT NULL,
    escrow    numeric NOT NULL,
    minted    numeric NOT NULL,
    burned    numeric NOT NULL,
    decayed   numeric NOT NULL,
    slashed   numeric NOT NULL,
    PRIMARY KEY (position, agent_id)
);

CREATE TABLE scoped_checkpoints (
    position  bigint NOT NULL,
    agent_id  text NOT NULL,
    scope     text NOT NULL,
    balance   numeric NOT NULL,
    PRIMARY KEY (position, agent_id, scope)
);

-- Marks a checkpoint as complete (an agent-less checkpoint has no rows above).
CREATE TABLE checkpoint_positions (
    position  bigint PRIMARY KEY
);
