-- Mobile-member report stations and who is checked in at them now.

CREATE TABLE report_stations (
    station_id    TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    community_id  TEXT NOT NULL,
    opened_on     TEXT NOT NULL
);

CREATE TABLE station_members (
    station_id     TEXT NOT NULL,
    person_id      TEXT NOT NULL,
    checked_in_on  TEXT NOT NULL,
    PRIMARY KEY (station_id, person_id)
);
