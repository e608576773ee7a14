-- A record's API JSON is rendered once, when the row is written, and stored
-- beside it as text (`api_json`). Reads send that text as it is.
--
-- Why: rendering on every read was most of what a list page cost Postgres.
-- `customer_json` ran four to_char()s and a jsonb_build_object per row, and
-- jsonb_agg built a jsonb tree of the whole page. Measured with pgbench on
-- the same table (2 cores, one client): 768 pages of 50 per second rendered
-- on read, 2,756 with the stored text (BENCHMARKS.md). Text also passes
-- through Spin's Postgres host untouched; a jsonb column is parsed into a
-- serde_json tree there and printed again.
--
-- The text is what clients got before: compact, keys in byte order at every
-- level (that is how Spin's host printed jsonb), instants as api_instant()
-- writes them. Numbers in extraFields are printed by Postgres now, not by
-- serde_json: the same values, and the same digits for every number the API
-- stores (it writes what serde_json printed), except that a huge exponent
-- such as 1e300 is now written out in full.

-- Recursive, so its body cannot be checked before it exists.
SET LOCAL check_function_bodies = off;

-- jsonb as compact text with object keys in byte order (jsonb's own text
-- form puts a space after every ':' and ',' and orders keys by length).
-- Depth is bounded by the API's JSON parser (128 levels).
CREATE FUNCTION compact_json(j jsonb) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT CASE jsonb_typeof(j)
        WHEN 'object' THEN '{' || coalesce(
            (SELECT string_agg(to_json(key)::text || ':' || compact_json(value), ','
                               ORDER BY key COLLATE "C")
             FROM jsonb_each(j)), '') || '}'
        WHEN 'array' THEN '[' || coalesce(
            (SELECT string_agg(compact_json(value), ',' ORDER BY n)
             FROM jsonb_array_elements(j) WITH ORDINALITY AS e(value, n)), '') || ']'
        ELSE j::text
    END
$$;

-- A generation expression may not take the whole row, hence the columns one
-- by one. Aliases in byte order give the keys in byte order.
CREATE FUNCTION customer_api_json(
    id uuid, code text, name text, extra_fields jsonb,
    valid_from timestamptz, valid_thru timestamptz,
    created_at timestamptz, updated_at timestamptz,
    created_by uuid, updated_by uuid, version bigint
) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT row_to_json(r)::text FROM (SELECT
        code                           AS "code",
        api_instant(created_at)        AS "createdAt",
        created_by                     AS "createdBy",
        compact_json(extra_fields)::json AS "extraFields",
        id                             AS "id",
        name                           AS "name",
        api_instant(updated_at)        AS "updatedAt",
        updated_by                     AS "updatedBy",
        api_instant(valid_from)        AS "validFrom",
        api_instant(valid_thru)        AS "validThru",
        version                        AS "version") r
$$;

-- Rewrites the table once (under an exclusive lock) to fill the column.
ALTER TABLE customers ADD COLUMN api_json text NOT NULL GENERATED ALWAYS AS (
    customer_api_json(id, code, name, extra_fields, valid_from, valid_thru,
                      created_at, updated_at, created_by, updated_by, version)
) STORED;

-- One rendering for the API and the audit trail's before/after.
CREATE OR REPLACE FUNCTION customer_json(c customers) RETURNS jsonb
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT c.api_json::jsonb $$;
