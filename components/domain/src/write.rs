//! The SQL of a write and of its audit event, as text: shared by the
//! components (kit::crud, through Spin's Postgres API) and the admin tool
//! (sqlx), so that a record made by either has the same row and the same
//! event. SQL fragments here are constants of ours, never user input.
//!
//! Every write binds the same first parameters: $1 record id, $2 actor, $3
//! event id, $4 operation, $5 request id, $6 and $7 the actor's token's
//! `admin` and `iat` (NULL without a token); updates and deletes bind $8,
//! the version `If-Match` expects; the written columns follow.

use crate::entity::{Entity, SqlValue};
use crate::schema::references;

/// The number of parameters every write binds before its columns (see the
/// module's documentation); updates and deletes add one.
pub const FIXED_PARAMETERS: usize = 7;

/// The CTE `actor` of a write by the holder of a token: one row if the
/// token's user still exists, is active and valid, still has the token's
/// `admin`, and has not changed credentials since the token was issued
/// (`users.tokens_valid_from`, kept by the migrations' triggers).
pub const ACTOR_WITH_TOKEN: &str =
    "actor AS (SELECT 1 FROM users u WHERE u.id = $2::uuid AND u.active \
     AND now() BETWEEN u.valid_from AND u.valid_thru \
     AND u.admin = $6::boolean AND u.tokens_valid_from <= to_timestamp($7::int8))";

/// The CTE `actor` of a write with no token to check (a user registering,
/// the admin tool): always one row. $6 and $7 are named so that Postgres
/// knows their types.
pub const ACTOR_UNCHECKED: &str =
    "actor AS (SELECT 1 WHERE $6::boolean IS NULL AND $7::int8 IS NULL)";

impl Entity {
    /// The outbox row of a change, selected from the CTE `source`
    /// (`before`/`after` are SQL expressions over it).
    pub fn audit_insert(&self, action: &str, source: &str, before: &str, after: &str) -> String {
        format!(
            "INSERT INTO audit_outbox (id, object_type, object_id, action, operation, actor, before, after, request_id) \
             SELECT $3::uuid, '{object_type}', {source}.id, '{action}', $4::text, $2::uuid, {before}, {after}, $5::text \
             FROM {source}",
            object_type = self.object_type,
        )
    }

    /// A new record and its `create` event in one statement, if the CTE
    /// `actor` (one of the `ACTOR_*`) has a row. Its one row: the actor's
    /// row count, then the record's JSON (NULL when a unique key was taken:
    /// `ON CONFLICT DO NOTHING` leaves nothing to select the event from, so
    /// none is written either), then the references it refused (see
    /// [`Entity::refused_cte`]; nothing is written then). `columns` bind
    /// from $8.
    /// The CTE `refused`: rows `(reference, path)`, one for each reference
    /// the write's `columns` (bound from `$first`) newly make to a record
    /// that does not exist or whose validity has ended; `reference` is the
    /// index of the reference among [`references`]. An update (`updating`)
    /// may keep what the record (`$1`) already refers to.
    pub fn refused_cte(
        &self,
        columns: &[(&'static str, SqlValue)],
        first: usize,
        updating: bool,
    ) -> String {
        let mut parts = Vec::new();
        for (i, (column, reference)) in references(self).enumerate() {
            let Some(at) = columns.iter().position(|(c, _)| *c == column) else {
                continue;
            };
            let given = reference
                .given
                .replace("{}", &columns[at].1.placeholder(first + at));
            let kept = if updating {
                format!(
                    " AND NOT EXISTS (SELECT FROM ({}) h(id) WHERE h.id = r.ref)",
                    reference.held
                )
            } else {
                String::new()
            };
            parts.push(format!(
                "SELECT {i} AS reference, r.path FROM ({given}) r \
                 WHERE NOT EXISTS (SELECT FROM {table} x WHERE x.id = r.ref AND x.valid_thru >= now()){kept}",
                table = reference.table
            ));
        }
        if parts.is_empty() {
            parts.push("SELECT 0 AS reference, NULL::text AS path WHERE false".to_owned());
        }
        format!("refused AS ({})", parts.join(" UNION ALL "))
    }

    pub fn create_statement(&self, actor: &str, columns: &[(&'static str, SqlValue)]) -> String {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let placeholders: Vec<String> = columns
            .iter()
            .enumerate()
            .map(|(i, (_, value))| value.placeholder(FIXED_PARAMETERS + 1 + i))
            .collect();
        let (table, json) = (self.table, self.json_column);
        format!(
            "WITH {actor}, {refused}, created AS ( \
               INSERT INTO {table} AS t (id, created_by, updated_by, {names}) \
               SELECT $1::uuid, $2::uuid, $2::uuid, {placeholders} WHERE EXISTS (SELECT FROM actor) \
                 AND NOT EXISTS (SELECT FROM refused) \
               ON CONFLICT DO NOTHING RETURNING t.* \
             ), event AS ({audit}) \
             SELECT (SELECT count(*) FROM actor), (SELECT created.{json} FROM created), \
               (SELECT jsonb_agg(jsonb_build_array(reference, path)) FROM refused)",
            refused = self.refused_cte(columns, FIXED_PARAMETERS + 1, false),
            names = names.join(", "),
            placeholders = placeholders.join(", "),
            audit = self.audit_insert("create", "created", "NULL", &format!("created.{json}::jsonb")),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::customer::CUSTOMER;

    #[test]
    fn columns_bind_after_the_fixed_parameters() {
        let sql = CUSTOMER.create_statement(
            ACTOR_UNCHECKED,
            &[
                ("code", SqlValue::Text("a".into())),
                ("valid_from", SqlValue::Instant(chrono::Utc::now())),
            ],
        );
        assert!(
            sql.contains("(id, created_by, updated_by, code, valid_from)"),
            "{sql}"
        );
        assert!(sql.contains("$8::text, $9::text::timestamptz"), "{sql}");
        assert!(sql.contains("'customer', created.id, 'create'"), "{sql}");
    }
}
