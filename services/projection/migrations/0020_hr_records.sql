-- The HR bureau's records of people (the organization context's
-- hr_records streams): each record's latest status, with amounts in fen.
-- Only the person's id, the record's kind and status: no personal data.
CREATE TABLE hr_records (
    kind        TEXT NOT NULL,
    person_id   TEXT NOT NULL,
    record_id   TEXT NOT NULL,
    status      TEXT NOT NULL,
    amount_fen  BIGINT NOT NULL,
    PRIMARY KEY (kind, person_id, record_id)
);
