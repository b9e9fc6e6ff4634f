-- Breakdowns leaders ask for next: cases per grid (with the grid's name and
-- community) and new members by month.

CREATE TABLE grids (
    grid_id       TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    community_id  TEXT NOT NULL
);

ALTER TABLE candidates ADD COLUMN admitted_on TEXT;
