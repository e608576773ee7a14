-- Least privilege down to the database: each kind of operation connects as
-- a role that can run its own statements and nothing else.
--
-- These are NOLOGIN group roles. The roles the functions log in as are the
-- operator's (their passwords are secrets, so none is here): `spintemp-admin
-- migrate` creates or updates one per URL it is given (DB_READER_URL, ...)
-- and makes it a member of its group (adapters/admin/src/roles.rs says which
-- URL belongs to which group, and spin.toml which component gets which URL).
--
--   spintemp_reader             every read: health, the lists and gets, auth-me
--   spintemp_customers_writer   customers-create, -update, -delete
--   spintemp_products_writer    products-create, -update, -delete
--   spintemp_promotions_writer  promotions-create, -update, -delete, -transition
--   spintemp_auth               auth-register, -login, -refresh, -logout,
--                               users-update, users-delete: the only holders
--                               of the password hashes and refresh tokens
--   spintemp_relay              audit-relay: takes rows out of the outbox
--
-- Roles belong to the server, not the database, so several databases on one
-- server share these groups (each database grants them its own tables). Two
-- migrations of two databases may create a group at the same moment; the
-- loser finds it made.
--
-- Every function the statements call is SECURITY INVOKER (the default): a
-- trigger runs with the privileges of the statement that fired it, so each
-- group holds what its triggers do too (spintemp_auth revokes refresh tokens
-- when a password changes; spintemp_promotions_writer mirrors product lines).
-- Foreign-key checks and ON DELETE CASCADE run as the tables' owner, as
-- Postgres does them for everyone.
--
-- A table added later grants its privileges in its own migration, and the
-- roles test (tests/api/tests/suite/roles.rs) fails until it does.

DO $$
DECLARE
    group_role text;
BEGIN
    FOREACH group_role IN ARRAY ARRAY[
        'spintemp_reader', 'spintemp_customers_writer', 'spintemp_products_writer',
        'spintemp_promotions_writer', 'spintemp_auth', 'spintemp_relay'
    ] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = group_role) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', group_role);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

-- Reads: every resource and its rendered JSON; of the users, every column
-- but the password hash; nothing of the refresh tokens or the outbox.
GRANT SELECT ON customers, products, promotions, promotion_products TO spintemp_reader;
GRANT SELECT (id, email, first_name, last_name, name, company, active, admin,
              password_changed_at, tokens_valid_from, valid_from, valid_thru,
              created_at, updated_at, created_by, updated_by, version, api_json)
    ON users TO spintemp_reader;

-- Every write checks in its own statement that the token's user may still
-- write (domain::write::ACTOR_WITH_TOKEN), and adds its audit event to the
-- outbox; a writer can add events, never read, change or remove one.
GRANT SELECT (id, active, admin, valid_from, valid_thru, tokens_valid_from)
    ON users TO spintemp_customers_writer, spintemp_products_writer, spintemp_promotions_writer;
GRANT INSERT ON audit_outbox
    TO spintemp_customers_writer, spintemp_products_writer, spintemp_promotions_writer, spintemp_auth;
GRANT USAGE ON SEQUENCE audit_outbox_seq_seq
    TO spintemp_customers_writer, spintemp_products_writer, spintemp_promotions_writer, spintemp_auth;

GRANT SELECT, INSERT, UPDATE, DELETE ON customers TO spintemp_customers_writer;
-- A customer's delete counts the promotions that name it (409 with the count).
GRANT SELECT (id, customer_id) ON promotions TO spintemp_customers_writer;

GRANT SELECT, INSERT, UPDATE, DELETE ON products TO spintemp_products_writer;
-- A product's delete counts the promotions that list it.
GRANT SELECT (promotion_id, product_id) ON promotion_products TO spintemp_products_writer;

-- promotion_products is written by the promotions' own trigger; customers
-- and products are read to check the references a promotion makes and to
-- show its customer's name.
GRANT SELECT, INSERT, UPDATE, DELETE ON promotions, promotion_products TO spintemp_promotions_writer;
GRANT SELECT ON customers, products TO spintemp_promotions_writer;

-- Credentials: registering, logging in, sessions, password changes, and the
-- users' own updates and deletes (a password change checks the current
-- hash in the update's statement; a deactivation revokes the sessions).
GRANT SELECT, INSERT, UPDATE, DELETE ON users, refresh_tokens TO spintemp_auth;

-- The relay claims rows by deleting them. Its `FOR UPDATE SKIP LOCKED`
-- needs an UPDATE privilege on some column: `seq`, an identity column
-- GENERATED ALWAYS, which can only be set to DEFAULT (a new number). So the
-- relay can renumber an event, which is less than the DELETE it needs
-- anyway, and can change nothing an event says.
GRANT SELECT, DELETE ON audit_outbox TO spintemp_relay;
GRANT UPDATE (seq) ON audit_outbox TO spintemp_relay;
