-- The pipeline's other work: pairs, training, theme Party days, posts.

CREATE TABLE pairs (
    pair_id     TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    started_on  TEXT NOT NULL,
    ended_on    TEXT
);

CREATE TABLE training_sessions (
    session_id   TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    held_on      TEXT NOT NULL,
    class_hours  BIGINT NOT NULL
);

CREATE TABLE training_attendance (
    session_id  TEXT NOT NULL,
    person_id   TEXT NOT NULL,
    PRIMARY KEY (session_id, person_id)
);

CREATE TABLE party_days (
    month     TEXT PRIMARY KEY,
    host      TEXT NOT NULL,
    held_on   TEXT,
    attendees BIGINT NOT NULL
);

CREATE TABLE posts (
    post_id       TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    published_on  TEXT NOT NULL
);
