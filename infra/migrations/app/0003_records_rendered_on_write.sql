-- A record's API JSON is rendered once, when the row is written, and stored
-- beside it as text (`api_json`). Reads send that text as it is.
--
-- Why: rendering on every read was most of what a list page cost Postgres.
-- `customer_json` ran four to_char()s and a jsonb_build_object per row, and
-- jsonb_agg built a jsonb tree of the whole page. Measured with pgbench on
-- the same table, a page of 50 costs Postgres 3.5-5x less from the stored
-- text (BENCHMARKS.md, "Records rendered on write"). Text also passes
-- through Spin's Postgres host untouched; a jsonb column is parsed into a
-- serde_json tree there and printed again.
--
-- The text is what clients got before: compact, keys in byte order at every
-- level (that is how Spin's host printed jsonb), instants as api_instant()
-- writes them. Numbers in extraFields are printed by Postgres now, not by
-- serde_json: the same values, and the same digits for every number the API
-- stores (it writes what serde_json printed), except that a huge exponent
-- such as 1e300 is now written out in full.

-- Both renderers are PL/pgSQL, not SQL: a SQL function that cannot be
-- inlined has its body parsed and planned again in every statement that
-- calls it (profiled under Spin: that was 15 % of the machine's time in a
-- run of creates), while PL/pgSQL keeps its plans for the session, and
-- Spin's pooled connections outlive requests.

-- jsonb as compact text with object keys in byte order (jsonb's own text
-- form puts a space after every ':' and ',' and orders keys by length).
-- Depth is bounded by the API's JSON parser (128 levels).
CREATE FUNCTION compact_json(j jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    inner_text text;
BEGIN
    CASE jsonb_typeof(j)
    WHEN 'object' THEN
        SELECT string_agg(to_json(e.key)::text || ':' || compact_json(e.value), ','
                          ORDER BY e.key COLLATE "C")
          INTO inner_text FROM jsonb_each(j) AS e;
        RETURN '{' || coalesce(inner_text, '') || '}';
    WHEN 'array' THEN
        SELECT string_agg(compact_json(e.value), ',' ORDER BY e.n)
          INTO inner_text FROM jsonb_array_elements(j) WITH ORDINALITY AS e(value, n);
        RETURN '[' || coalesce(inner_text, '') || ']';
    ELSE
        RETURN j::text;
    END CASE;
END
$$;

-- The one rendering of an instant, as before, now in PL/pgSQL for the
-- reason above.
CREATE OR REPLACE FUNCTION api_instant(ts timestamptz) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
END
$$;

-- A generation expression may not take the whole row, hence the columns one
-- by one, written out in byte order of their keys.
CREATE FUNCTION customer_api_json(
    id uuid, code text, name text, extra_fields jsonb,
    valid_from timestamptz, valid_thru timestamptz,
    created_at timestamptz, updated_at timestamptz,
    created_by uuid, updated_by uuid, version bigint
) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN '{"code":' || to_json(code)::text
        || ',"createdAt":"' || api_instant(created_at)
        || '","createdBy":"' || created_by::text
        || '","extraFields":' || compact_json(extra_fields)
        || ',"id":"' || id::text
        || '","name":' || to_json(name)::text
        || ',"updatedAt":"' || api_instant(updated_at)
        || '","updatedBy":"' || updated_by::text
        || '","validFrom":"' || api_instant(valid_from)
        || '","validThru":"' || api_instant(valid_thru)
        || '","version":' || version::text
        || '}';
END
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
