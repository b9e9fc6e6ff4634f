-- Events whose type the context's contract does not name: reported on the
-- dashboard, never silently skipped.
CREATE TABLE unknown_events (
    context         TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    events          BIGINT NOT NULL,
    first_position  BIGINT NOT NULL,
    PRIMARY KEY (context, event_type)
);
