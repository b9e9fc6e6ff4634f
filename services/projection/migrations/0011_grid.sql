-- The mechanism leads: part-time grid workers and snap-and-report cases.

CREATE TABLE grid_workers (
    person_id  TEXT PRIMARY KEY,
    state      TEXT NOT NULL
);

CREATE TABLE cases (
    case_id         TEXT PRIMARY KEY,
    category        TEXT NOT NULL,
    grid_id         TEXT NOT NULL,
    by_grid_worker  INTEGER NOT NULL,
    state           TEXT NOT NULL,
    reported_at     TEXT NOT NULL,
    due_at          TEXT,
    resolved_at     TEXT,
    escalated       INTEGER NOT NULL,
    reopened        BIGINT NOT NULL,
    rating          BIGINT NOT NULL
);
