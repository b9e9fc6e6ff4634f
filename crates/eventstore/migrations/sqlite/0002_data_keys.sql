-- Data keys of people (and any other data subject), wrapped by the master
-- key. Sensitive fields of events are sealed with their subject's key, so
-- deleting the row erases the subject's data in every copy of the events
-- (crypto-shredding). `lookup` is a keyed hash of a unique natural key (an
-- ID number), so uniqueness holds without storing the value; it goes with
-- the row.
CREATE TABLE data_keys (
    subject     TEXT        PRIMARY KEY,
    wrapped_key BLOB        NOT NULL,
    kek_id      TEXT        NOT NULL,
    lookup      TEXT        UNIQUE,
    created_at  TEXT        NOT NULL
);
