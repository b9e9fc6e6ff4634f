-- Vanguard sites and convention signatures.

CREATE TABLE vanguard_sites (
    site_id         TEXT PRIMARY KEY,
    kind            TEXT NOT NULL,
    name            TEXT NOT NULL,
    community_id    TEXT NOT NULL,
    established_on  TEXT NOT NULL
);

CREATE TABLE convention_signatures (
    convention_id  TEXT NOT NULL,
    person_id      TEXT NOT NULL,
    signed_on      TEXT NOT NULL,
    PRIMARY KEY (convention_id, person_id)
);
