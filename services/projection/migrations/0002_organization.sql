-- Communities and enterprises of the organization context.

CREATE TABLE communities (
    community_id  TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    subdistrict   TEXT NOT NULL
);

CREATE TABLE enterprises (
    enterprise_id         TEXT   PRIMARY KEY,
    name                  TEXT   NOT NULL,
    industry              TEXT   NOT NULL,
    kind                  TEXT   NOT NULL,
    community_id          TEXT   NOT NULL,
    workers               BIGINT NOT NULL,
    full_members          BIGINT NOT NULL,
    probationary_members  BIGINT NOT NULL
);
