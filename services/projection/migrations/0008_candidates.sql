-- Candidates of member development by stage: the development funnel.
CREATE TABLE candidates (
    candidate_id     TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL,
    stage            TEXT NOT NULL,
    applied_on       TEXT NOT NULL
);
