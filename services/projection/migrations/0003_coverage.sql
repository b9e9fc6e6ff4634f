-- Party organisations and the units they cover, for the coverage rates
-- 组织覆盖率 and 单独组建率.

CREATE TABLE party_organizations (
    organization_id  TEXT   PRIMARY KEY,
    name             TEXT   NOT NULL,
    kind             TEXT   NOT NULL,
    founded_on       TEXT   NOT NULL,
    units            BIGINT NOT NULL
);

CREATE TABLE coverage (
    enterprise_id    TEXT PRIMARY KEY,
    organization_id  TEXT NOT NULL,
    -- kind of the covering organisation: branch (own branch) or joint_branch
    kind             TEXT NOT NULL
);
