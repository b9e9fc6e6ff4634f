-- The service leads: requests, enterprise problems, activities, hardship
-- cases (categories and amounts only), supplies, micro-wishes.

CREATE TABLE service_requests (
    request_id  TEXT PRIMARY KEY,
    department  TEXT NOT NULL,
    filed_on    TEXT NOT NULL,
    due_on      TEXT NOT NULL,
    state       TEXT NOT NULL,
    closed_on   TEXT,
    rating      BIGINT NOT NULL
);

CREATE TABLE enterprise_problems (
    problem_id  TEXT PRIMARY KEY,
    kind        TEXT NOT NULL,
    state       TEXT NOT NULL
);

CREATE TABLE care_activities (
    activity_id  TEXT PRIMARY KEY,
    kind         TEXT NOT NULL,
    held_on      TEXT NOT NULL,
    cancelled    INTEGER NOT NULL
);

CREATE TABLE care_participants (
    activity_id  TEXT NOT NULL,
    person_id    TEXT NOT NULL,
    PRIMARY KEY (activity_id, person_id)
);

CREATE TABLE hardship_cases (
    case_id      TEXT PRIMARY KEY,
    category     TEXT NOT NULL,
    approved     INTEGER NOT NULL,
    support_fen  BIGINT NOT NULL
);

CREATE TABLE supply_campaigns (
    campaign_id          TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    handed_out           BIGINT NOT NULL,
    value_handed_out_fen BIGINT NOT NULL
);

CREATE TABLE micro_wishes (
    wish_id  TEXT PRIMARY KEY,
    state    TEXT NOT NULL
);
