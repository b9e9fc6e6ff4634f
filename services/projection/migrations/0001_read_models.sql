-- Read models of the county dashboard. Written only by the projection, each
-- change in the same transaction as the checkpoint of the event behind it.
-- The DDL is the common subset of PostgreSQL and SQLite.

-- How far each context's events are applied.
CREATE TABLE projection_checkpoints (
    context          TEXT   PRIMARY KEY,
    position         BIGINT NOT NULL,
    -- recorded-at of the last applied event, Unix microseconds (UTC)
    recorded_at_us   BIGINT NOT NULL,
    updated_at_us    BIGINT NOT NULL
);

-- Every event applied, by context and type: nothing is skipped silently,
-- even an event type no read model knows yet.
CREATE TABLE event_counts (
    context     TEXT   NOT NULL,
    event_type  TEXT   NOT NULL,
    events      BIGINT NOT NULL,
    PRIMARY KEY (context, event_type)
);

-- Industry Party committees.
CREATE TABLE committees (
    committee_id     TEXT   PRIMARY KEY,
    name             TEXT   NOT NULL,
    industry         TEXT   NOT NULL,
    lead_department  TEXT   NOT NULL,
    registered_at_us BIGINT NOT NULL
);
