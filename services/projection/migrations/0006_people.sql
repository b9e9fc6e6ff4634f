-- People of the registry, by category only: no names, ID numbers or phones
-- ever reach the read models, so erasing a person needs nothing here.
CREATE TABLE people (
    person_id      TEXT PRIMARY KEY,
    industry       TEXT NOT NULL,
    community_id   TEXT NOT NULL,
    enterprise_id  TEXT NOT NULL,
    union_member   INTEGER NOT NULL,
    party_status   TEXT NOT NULL,
    mobile_member  INTEGER NOT NULL,
    erased         INTEGER NOT NULL
);

-- The Party-building instructor 党建指导员 of an uncovered unit.
ALTER TABLE enterprises ADD COLUMN instructor_person_id TEXT;
