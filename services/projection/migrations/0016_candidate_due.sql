-- Each candidate's events as they came, so that the pipeline's own rules
-- can be applied to the candidate's whole history; and the next steps
-- those rules give, with the day each is due.
CREATE TABLE candidate_events (
    candidate_id     TEXT NOT NULL,
    global_position  BIGINT NOT NULL,
    event_type       TEXT NOT NULL,
    schema_version   BIGINT NOT NULL,
    payload          TEXT NOT NULL,
    PRIMARY KEY (candidate_id, global_position)
);

CREATE TABLE candidate_due (
    candidate_id     TEXT NOT NULL,
    organization_id  TEXT NOT NULL,
    step             TEXT NOT NULL,
    due_on           TEXT NOT NULL,
    PRIMARY KEY (candidate_id, step)
);
