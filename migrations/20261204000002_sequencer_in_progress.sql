-- The event sequencer's cursor also keeps the transactions that were still running at its last complete pass
-- (`in_progress`), and `horizon` becomes that pass's snapshot xmax: every transaction below it that is not in
-- `in_progress` had finished then, and its rows were placed. A long-open writing transaction anywhere on the server
-- then no longer holds the horizon back (it used to be the snapshot's xmin, so every pass re-read every audit row
-- written since that transaction began). An empty list keeps the old meaning, so the row needs no change.
ALTER TABLE tasker.event_cursor ADD COLUMN IF NOT EXISTS in_progress xid8[] NOT NULL DEFAULT '{}';
