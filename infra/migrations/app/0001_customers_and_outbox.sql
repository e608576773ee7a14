-- The application database: entities plus the transactional audit outbox.
--
-- Components read entities through `<entity>_json(row)`, which renders the
-- API representation (camelCase, UTC instants with `Z`). The same function
-- renders the `before`/`after` of audit events, so the API and the audit trail
-- can never disagree about what a record looked like. It also sidesteps Spin's
-- Postgres host, which cannot decode `timestamptz` columns.

-- RFC 3339, UTC, microseconds: the one format every instant leaves the
-- database in.
CREATE FUNCTION api_instant(ts timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$ SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') $$;

CREATE TABLE customers (
    id           uuid        PRIMARY KEY,
    code         text        NOT NULL,
    name         text        NOT NULL,
    extra_fields jsonb       NOT NULL DEFAULT '{}'::jsonb,
    valid_from   timestamptz NOT NULL,
    valid_thru   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    created_by   uuid        NOT NULL,
    updated_by   uuid        NOT NULL,
    version      bigint      NOT NULL DEFAULT 1,
    CONSTRAINT customers_validity CHECK (valid_thru > valid_from),
    CONSTRAINT customers_extra_fields_object CHECK (jsonb_typeof(extra_fields) = 'object')
);

-- Codes are identifiers people type: `DucksRUs` and `ducksrus` are the same
-- customer.
CREATE UNIQUE INDEX customers_code_key ON customers (lower(code));

CREATE FUNCTION customer_json(c customers) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT jsonb_build_object(
        'id',          c.id,
        'code',        c.code,
        'name',        c.name,
        'extraFields', c.extra_fields,
        'validFrom',   api_instant(c.valid_from),
        'validThru',   api_instant(c.valid_thru),
        'createdAt',   api_instant(c.created_at),
        'updatedAt',   api_instant(c.updated_at),
        'createdBy',   c.created_by,
        'updatedBy',   c.updated_by,
        'version',     c.version)
$$;

-- One row per successful create/update/delete, inserted by the same SQL
-- statement that makes the change. `audit-relay` drains it into NATS and the
-- audit store.
CREATE TABLE audit_outbox (
    seq         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          uuid        NOT NULL UNIQUE,
    -- clock_timestamp(), not now(): taken after the row lock is held, so two
    -- changes to one object are ordered the way they committed.
    occurred_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    object_type text        NOT NULL CHECK (object_type IN ('user', 'customer', 'product', 'promotion')),
    object_id   uuid        NOT NULL,
    action      text        NOT NULL CHECK (action IN ('create', 'update', 'delete')),
    operation   text        NOT NULL,
    actor       uuid        NOT NULL,
    before      jsonb,
    after       jsonb,
    request_id  text        NOT NULL
);

-- Wake the relay once per inserting statement; it polls as a fallback.
CREATE FUNCTION audit_outbox_notify() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM pg_notify('audit_outbox', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER audit_outbox_notify
    AFTER INSERT ON audit_outbox
    FOR EACH STATEMENT EXECUTE FUNCTION audit_outbox_notify();
