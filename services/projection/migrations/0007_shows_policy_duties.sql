-- The three shows, the county's policy items and the governance calendar.

CREATE TABLE vanguard_shows (
    subject_id  TEXT NOT NULL,
    show        TEXT NOT NULL,
    shown_on    TEXT NOT NULL,
    PRIMARY KEY (subject_id, show)
);

CREATE TABLE policy_items (
    policy_id   TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    title       TEXT NOT NULL,
    issued_on   TEXT NOT NULL,
    retired_on  TEXT
);

CREATE TABLE governance_duties (
    kind       TEXT NOT NULL,
    period     TEXT NOT NULL,
    held_on    TEXT NOT NULL,
    attendees  BIGINT NOT NULL,
    PRIMARY KEY (kind, period)
);
