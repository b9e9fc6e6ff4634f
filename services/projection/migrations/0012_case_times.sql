-- When each case was dispatched, acknowledged and closed, and by whom: the
-- per-category and per-department metrics.
ALTER TABLE cases ADD COLUMN department TEXT;
ALTER TABLE cases ADD COLUMN dispatched_at TEXT;
ALTER TABLE cases ADD COLUMN acknowledged_at TEXT;
ALTER TABLE cases ADD COLUMN closed_at TEXT;
