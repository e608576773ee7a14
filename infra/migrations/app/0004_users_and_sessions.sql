-- Users, their credentials and their sessions (refresh tokens).
--
-- A user's API JSON is rendered on write like a customer's (0003), and it
-- never holds a secret: neither the password hash nor anything about the
-- refresh tokens. The audit trail's before/after are made from it, so no
-- secret reaches an audit event either.
--
-- The rules that must hold however a row is changed (by any component, by
-- the admin tool, by two requests at once) are triggers here, so that every
-- writer goes through the one generic write path in kit::crud and cannot
-- forget them. Each refusal raises its own SQLSTATE of class 'SP'
-- (spintemp's), which kit::db turns into a 409 with a fixed message. The
-- message starts with the code too: Spin 3.6.3 passes a component only the
-- error's text ("db error: ERROR: <message>"), without its SQLSTATE.

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    email         text        NOT NULL,
    first_name    text        NOT NULL,
    last_name     text        NOT NULL,
    name          text        NOT NULL GENERATED ALWAYS AS (first_name || ' ' || last_name) STORED,
    company       text,
    -- An Argon2id PHC string. Never selected by a read, never rendered.
    password_hash text        NOT NULL,
    active        boolean     NOT NULL,
    admin         boolean     NOT NULL,
    password_changed_at timestamptz NOT NULL DEFAULT now(),
    -- Access tokens issued (iat) before this instant may not write: set
    -- when the password changes, or the user is deactivated or demoted.
    tokens_valid_from   timestamptz NOT NULL DEFAULT '-infinity',
    valid_from    timestamptz NOT NULL,
    valid_thru    timestamptz NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    created_by    uuid        NOT NULL,
    updated_by    uuid        NOT NULL,
    version       bigint      NOT NULL DEFAULT 1,
    CONSTRAINT users_validity CHECK (valid_thru > valid_from)
);

-- Addresses are compared as people type them: one account per address.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE FUNCTION user_api_json(
    id uuid, email text, first_name text, last_name text, company text,
    active boolean, admin boolean, password_changed_at timestamptz,
    valid_from timestamptz, valid_thru timestamptz,
    created_at timestamptz, updated_at timestamptz,
    created_by uuid, updated_by uuid, version bigint
) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    -- Keys in byte order, as every record the API sends. (`name` is the
    -- generated column's expression again: a generation expression may not
    -- read another generated column.)
    RETURN '{"active":' || active::text
        || ',"admin":' || admin::text
        || ',"company":' || coalesce(to_json(company)::text, 'null')
        || ',"createdAt":"' || api_instant(created_at)
        || '","createdBy":"' || created_by::text
        || '","email":' || to_json(email)::text
        || ',"firstName":' || to_json(first_name)::text
        || ',"id":"' || id::text
        || '","lastName":' || to_json(last_name)::text
        || ',"name":' || to_json(first_name || ' ' || last_name)::text
        || ',"passwordChangedAt":"' || api_instant(password_changed_at)
        || '","updatedAt":"' || api_instant(updated_at)
        || '","updatedBy":"' || updated_by::text
        || '","validFrom":"' || api_instant(valid_from)
        || '","validThru":"' || api_instant(valid_thru)
        || '","version":' || version::text
        || '}';
END
$$;

ALTER TABLE users ADD COLUMN api_json text NOT NULL GENERATED ALWAYS AS (
    user_api_json(id, email, first_name, last_name, company, active, admin,
                  password_changed_at, valid_from, valid_thru, created_at, updated_at,
                  created_by, updated_by, version)
) STORED;

-- Refresh tokens: only the SHA-256 of each (hex) is kept. Every login
-- starts a family; every refresh uses its token up and adds the next one to
-- the family. A used token presented again revokes the whole family.
CREATE TABLE refresh_tokens (
    token_hash text        PRIMARY KEY,
    family_id  uuid        NOT NULL,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    issued_at  timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id);

-- A change that must end the user's sessions: a new password, losing
-- `active` or losing `admin`. Their refresh tokens stop working at once and
-- their access tokens may no longer write (kit::crud checks
-- tokens_valid_from in every write statement).
CREATE FUNCTION users_credentials_changed() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF NEW.password_hash IS DISTINCT FROM OLD.password_hash THEN
        NEW.password_changed_at := clock_timestamp();
    END IF;
    IF NEW.password_hash IS DISTINCT FROM OLD.password_hash
       OR (OLD.active AND NOT NEW.active)
       OR (OLD.admin AND NOT NEW.admin) THEN
        NEW.tokens_valid_from := clock_timestamp();
        UPDATE refresh_tokens SET revoked_at = now()
         WHERE user_id = NEW.id AND revoked_at IS NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER users_credentials_changed
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION users_credentials_changed();

-- goTemp's rule: deactivate first, then delete.
CREATE FUNCTION users_refuse_deleting_active() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF OLD.active THEN
        RAISE EXCEPTION 'SP001: an active user cannot be deleted' USING ERRCODE = 'SP001';
    END IF;
    RETURN OLD;
END
$$;

CREATE TRIGGER users_refuse_deleting_active
    BEFORE DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION users_refuse_deleting_active();

-- There is always an active administrator (once there was one): nobody can
-- demote, deactivate or delete the last. Two requests demoting the last two
-- at once must not both pass, and under READ COMMITTED each would still see
-- the other's admin as active; so changes that remove an active admin take
-- one transaction-scoped lock, and the check that follows it reads with a
-- new snapshot (PL/pgSQL takes one per statement), which shows whatever
-- committed before the lock was granted.
CREATE FUNCTION users_keep_an_admin() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.admin AND NEW.active THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('spintemp:users:last-admin'));
    IF NOT EXISTS (SELECT 1 FROM users WHERE admin AND active AND id <> OLD.id) THEN
        RAISE EXCEPTION 'SP002: the last active administrator must stay one' USING ERRCODE = 'SP002';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER users_keep_an_admin
    AFTER UPDATE OR DELETE ON users
    FOR EACH ROW WHEN (OLD.admin AND OLD.active)
    EXECUTE FUNCTION users_keep_an_admin();
