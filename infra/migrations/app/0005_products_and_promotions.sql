-- Products, and promotions: which customer gets which discounts on which
-- products, approved by a second pair of eyes.
--
-- A promotion's product lines live in its row, in order (`products`, jsonb:
-- one read, one rendering), and are mirrored into `promotion_products` by a
-- trigger, for the foreign keys: Postgres, not the application, is what
-- keeps a promotion from naming a product or customer that is gone, even
-- when a delete and a create race (the insert's key check and the delete
-- wait for each other; the loser gets 23503). The components count the
-- holders first only to say how many there are.

CREATE TABLE products (
    id              uuid        PRIMARY KEY,
    code            text        NOT NULL,
    name            text        NOT NULL,
    hierarchy_level text        NOT NULL,
    extra_fields    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    valid_from      timestamptz NOT NULL,
    valid_thru      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    created_by      uuid        NOT NULL,
    updated_by      uuid        NOT NULL,
    version         bigint      NOT NULL DEFAULT 1,
    CONSTRAINT products_validity CHECK (valid_thru > valid_from),
    CONSTRAINT products_extra_fields_object CHECK (jsonb_typeof(extra_fields) = 'object')
);
CREATE UNIQUE INDEX products_code_key ON products (lower(code));

-- The keys every record ends with, in byte order: from updatedAt on.
CREATE FUNCTION record_tail_json(
    updated_at timestamptz, updated_by uuid, valid_from timestamptz, valid_thru timestamptz,
    version bigint
) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
BEGIN
    RETURN ',"updatedAt":"' || api_instant(updated_at)
        || '","updatedBy":"' || updated_by::text
        || '","validFrom":"' || api_instant(valid_from)
        || '","validThru":"' || api_instant(valid_thru)
        || '","version":' || version::text
        || '}';
END
$$;

-- Keys in byte order, as every record the API sends (0003).
CREATE FUNCTION product_api_json(
    id uuid, code text, name text, hierarchy_level text, extra_fields jsonb,
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
        || ',"hierarchyLevel":' || to_json(hierarchy_level)::text
        || ',"id":"' || id::text
        || '","name":' || to_json(name)::text
        || record_tail_json(updated_at, updated_by, valid_from, valid_thru, version);
END
$$;

ALTER TABLE products ADD COLUMN api_json text NOT NULL GENERATED ALWAYS AS (
    product_api_json(id, code, name, hierarchy_level, extra_fields, valid_from, valid_thru,
                     created_at, updated_at, created_by, updated_by, version)
) STORED;

CREATE TABLE promotions (
    id                   uuid        PRIMARY KEY,
    name                 text        NOT NULL,
    description          text,
    customer_id          uuid        NOT NULL REFERENCES customers (id),
    active               boolean     NOT NULL DEFAULT true,
    -- [{productId, discounts: [{type, value, description}]}], values as
    -- jsonb numbers (numeric); see promotion_products_normalise.
    products             jsonb       NOT NULL DEFAULT '[]'::jsonb,
    approval_status      text        NOT NULL DEFAULT 'draft',
    prev_approval_status text,
    submitted_by         uuid,
    decided_by           uuid,
    approval_comment     text,
    valid_from           timestamptz NOT NULL,
    valid_thru           timestamptz NOT NULL,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now(),
    created_by           uuid        NOT NULL,
    updated_by           uuid        NOT NULL,
    version              bigint      NOT NULL DEFAULT 1,
    CONSTRAINT promotions_validity CHECK (valid_thru > valid_from),
    CONSTRAINT promotions_products_array CHECK (jsonb_typeof(products) = 'array'),
    CONSTRAINT promotions_status CHECK (approval_status IN ('draft', 'submitted', 'approved', 'rejected')),
    CONSTRAINT promotions_prev_status
        CHECK (prev_approval_status IN ('draft', 'submitted', 'approved', 'rejected'))
);
CREATE INDEX promotions_customer ON promotions (customer_id);

CREATE TABLE promotion_products (
    promotion_id uuid NOT NULL REFERENCES promotions (id) ON DELETE CASCADE,
    product_id   uuid NOT NULL REFERENCES products (id),
    position     int  NOT NULL,
    PRIMARY KEY (promotion_id, product_id)
);
CREATE INDEX promotion_products_product ON promotion_products (product_id);

-- A discount's value arrives as the decimal string the API parsed
-- ("12.50") and is kept as a jsonb number, which Postgres holds as a
-- numeric: exact, never a float. numeric(12,2) refuses what the API
-- would not have sent.
CREATE FUNCTION promotion_products_normalise() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.products := coalesce((
        SELECT jsonb_agg(jsonb_build_object(
                   'productId', line->'productId',
                   'discounts', (SELECT coalesce(jsonb_agg(jsonb_build_object(
                                        'type', d->'type',
                                        'value', to_jsonb((d->>'value')::numeric(12,2)),
                                        'description', coalesce(d->'description', 'null'::jsonb))
                                    ORDER BY dn), '[]'::jsonb)
                                 FROM jsonb_array_elements(line->'discounts') WITH ORDINALITY AS y(d, dn)))
               ORDER BY ln)
          FROM jsonb_array_elements(NEW.products) WITH ORDINALITY AS x(line, ln)), '[]'::jsonb);
    RETURN NEW;
END
$$;

-- Generated columns are computed after BEFORE triggers, so api_json sees
-- the normalised products.
CREATE TRIGGER promotion_products_normalise
    BEFORE INSERT OR UPDATE OF products ON promotions
    FOR EACH ROW EXECUTE FUNCTION promotion_products_normalise();

CREATE FUNCTION promotion_products_mirror() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    DELETE FROM promotion_products WHERE promotion_id = NEW.id;
    INSERT INTO promotion_products (promotion_id, product_id, position)
    SELECT NEW.id, (line->>'productId')::uuid, (ln - 1)::int
      FROM jsonb_array_elements(NEW.products) WITH ORDINALITY AS x(line, ln);
    RETURN NULL;
END
$$;

CREATE TRIGGER promotion_products_mirror
    AFTER INSERT OR UPDATE OF products ON promotions
    FOR EACH ROW EXECUTE FUNCTION promotion_products_mirror();

-- The product lines as the API sends them: each value a string with two
-- decimals ("12.50"), keys in byte order.
CREATE FUNCTION promotion_products_api_json(products jsonb) RETURNS text
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
AS $$
DECLARE
    rendered text;
BEGIN
    SELECT string_agg(
               '{"discounts":[' || coalesce((
                   SELECT string_agg(
                              '{"description":' || coalesce(to_json(d->>'description')::text, 'null')
                              || ',"type":' || to_json(d->>'type')::text
                              || ',"value":"' || ((d->>'value')::numeric(12,2))::text || '"}',
                              ',' ORDER BY dn)
                     FROM jsonb_array_elements(line->'discounts') WITH ORDINALITY AS y(d, dn)), '')
               || '],"productId":' || to_json(line->>'productId')::text || '}',
               ',' ORDER BY ln)
      INTO rendered
      FROM jsonb_array_elements(products) WITH ORDINALITY AS x(line, ln);
    RETURN '[' || coalesce(rendered, '') || ']';
END
$$;

-- customerName is not here: it is the customer's, and is read fresh with
-- every promotion (kit::crud's embeds).
CREATE FUNCTION promotion_api_json(
    id uuid, name text, description text, customer_id uuid, active boolean, products jsonb,
    approval_status text, prev_approval_status text, submitted_by uuid, decided_by uuid,
    approval_comment text, valid_from timestamptz, valid_thru timestamptz,
    created_at timestamptz, updated_at timestamptz,
    created_by uuid, updated_by uuid, version bigint
) RETURNS text
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $$
BEGIN
    RETURN '{"active":' || active::text
        || ',"approvalComment":' || coalesce(to_json(approval_comment)::text, 'null')
        || ',"approvalStatus":' || to_json(approval_status)::text
        || ',"createdAt":"' || api_instant(created_at)
        || '","createdBy":"' || created_by::text
        || '","customerId":"' || customer_id::text
        || '","decidedBy":' || coalesce('"' || decided_by::text || '"', 'null')
        || ',"description":' || coalesce(to_json(description)::text, 'null')
        || ',"id":"' || id::text
        || '","name":' || to_json(name)::text
        || ',"prevApprovalStatus":' || coalesce(to_json(prev_approval_status)::text, 'null')
        || ',"products":' || promotion_products_api_json(products)
        || ',"submittedBy":' || coalesce('"' || submitted_by::text || '"', 'null')
        || record_tail_json(updated_at, updated_by, valid_from, valid_thru, version);
END
$$;

ALTER TABLE promotions ADD COLUMN api_json text NOT NULL GENERATED ALWAYS AS (
    promotion_api_json(id, name, description, customer_id, active, products,
                       approval_status, prev_approval_status, submitted_by, decided_by,
                       approval_comment, valid_from, valid_thru,
                       created_at, updated_at, created_by, updated_by, version)
) STORED;
