-- The retention sweep also deletes old schedule fire records and processed emitted events (both grew without
-- bound before). Block-range indexes find the old ones in insertion order and cost the writers next to nothing.
CREATE INDEX IF NOT EXISTS schedule_fires_recorded_brin ON tasker.schedule_fires USING brin (recorded_at);
CREATE INDEX IF NOT EXISTS emitted_events_emitted_brin ON tasker.emitted_events USING brin (emitted_at);
