-- Who did what to which record, and when: one row per event of every
-- context, for officers' audit queries. Only references and the event's
-- type; no personal data.
CREATE TABLE audit_trail (
    context          TEXT NOT NULL,
    global_position  BIGINT NOT NULL,
    stream_id        TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    actor            TEXT NOT NULL,
    correlation_id   TEXT NOT NULL,
    recorded_at      TEXT NOT NULL,
    PRIMARY KEY (context, global_position)
);
CREATE INDEX audit_trail_actor ON audit_trail (actor, recorded_at);
CREATE INDEX audit_trail_stream ON audit_trail (stream_id, recorded_at);
