-- The append-only event log of one bounded context. Positions are assigned by
-- the writer as max + 1 under a transaction-level advisory lock, so they are
-- gapless and commit in order: a reader following `global_position` never
-- skips an event whose transaction commits late.
CREATE TABLE events (
    global_position BIGINT      PRIMARY KEY,
    event_id        UUID        NOT NULL UNIQUE,
    stream_id       TEXT        NOT NULL,
    stream_version  BIGINT      NOT NULL,
    event_type      TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    payload         BYTEA       NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    actor           TEXT        NOT NULL,
    correlation_id  UUID        NOT NULL,
    causation_id    UUID,
    traceparent     TEXT,
    tracestate      TEXT,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);

-- Results of appends made with an idempotency key, so a retried command
-- returns its first result instead of deciding again.
CREATE TABLE idempotency_keys (
    key             TEXT        PRIMARY KEY,
    stream_id       TEXT        NOT NULL,
    first_version   BIGINT      NOT NULL,
    last_version    BIGINT      NOT NULL,
    first_position  BIGINT      NOT NULL,
    last_position   BIGINT      NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL
);

-- Named positions of readers of this store (the outbox relay, in-process
-- subscribers).
CREATE TABLE checkpoints (
    name        TEXT        PRIMARY KEY,
    position    BIGINT      NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
