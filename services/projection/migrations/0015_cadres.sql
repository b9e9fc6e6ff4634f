-- Cadres posted to enterprises as "红色CGO": postings going on.
CREATE TABLE cadre_postings (
    posting_id       TEXT PRIMARY KEY,
    cadre_person_id  TEXT NOT NULL,
    enterprise_id    TEXT NOT NULL,
    started_on       TEXT NOT NULL,
    ended_on         TEXT
);
