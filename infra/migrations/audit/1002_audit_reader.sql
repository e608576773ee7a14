-- The audit API (audit-list, audit-get) reads the store as
-- spintemp_audit_reader, a NOLOGIN group like the app's (0006): its login
-- role comes from AUDIT_DB_READER_URL through `spintemp-admin migrate`. It
-- can read the events and nothing else; audit-relay, which creates this
-- table and applies its TimescaleDB policies, stays its owner.
--
-- TimescaleDB hands a hypertable's grants on to its chunks, those to come
-- included.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'spintemp_audit_reader') THEN
        BEGIN
            CREATE ROLE spintemp_audit_reader NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END
$$;

GRANT SELECT ON audit_events TO spintemp_audit_reader;
