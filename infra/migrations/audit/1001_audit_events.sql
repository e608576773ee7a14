-- The audit store: one row per audit event, written only by audit-relay
-- (INSERT ... ON CONFLICT DO NOTHING, so a replayed batch changes nothing)
-- and read by the audit API. Numbered from 1001 so that it can share one
-- `_sqlx_migrations` table with the app migrations when both live in one
-- database.
--
-- No CHECK constraints on object_type/action: the outbox already enforces
-- them, and a store that rejected an event the outbox accepted would stall
-- the relay on it forever.
CREATE TABLE audit_events (
    id          uuid        NOT NULL,
    -- From the outbox (the database clock when the change was made), never
    -- the relay's clock: it orders each object's history.
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    object_type text        NOT NULL,
    object_id   uuid        NOT NULL,
    action      text        NOT NULL,
    operation   text        NOT NULL,
    actor       uuid        NOT NULL,
    before      jsonb,
    after       jsonb,
    request_id  text        NOT NULL,
    -- The partitioning column must be part of every unique constraint of a
    -- hypertable or a partitioned table; (id, occurred_at) is unique because
    -- id is.
    CONSTRAINT audit_events_id_occurred_at_key UNIQUE (id, occurred_at)
);

-- Keyset pagination over (occurred_at, id), alone and under each filter of
-- GET /api/audit; `from`/`to` bound occurred_at in all of them. B-trees scan
-- both ways, so these serve newest-first and oldest-first pages alike.
CREATE INDEX audit_events_occurred_at_id_idx ON audit_events (occurred_at, id);
CREATE INDEX audit_events_object_idx ON audit_events (object_type, object_id, occurred_at, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor, occurred_at, id);
CREATE INDEX audit_events_action_idx ON audit_events (action, occurred_at, id);

-- A TimescaleDB hypertable where the extension can be had, a plain table
-- otherwise: same columns, same indexes, same queries.
--
-- CREATE EXTENSION is tried only when the library is preloaded (without it
-- TimescaleDB can end the session rather than raise a catchable error), and
-- a refusal (no privilege, say) leaves the plain table. Retention and
-- compression policies are applied by audit-relay at start from its
-- configuration, not here.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')
       AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')
       AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'
    THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'timescaledb not created (%); audit_events stays a plain table', SQLERRM;
        END;
    END IF;

    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        PERFORM create_hypertable(
            'audit_events', 'occurred_at',
            chunk_time_interval => interval '7 days',
            -- (occurred_at, id) above already serves time-ordered scans.
            create_default_indexes => false,
            if_not_exists => true);
    END IF;
END
$$;
