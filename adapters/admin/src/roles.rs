//! The Postgres roles each kind of operation connects as.
//!
//! The migrations create NOLOGIN groups and grant them exactly what their
//! statements need (infra/migrations/app/0006_roles.sql,
//! infra/migrations/audit/1002_audit_reader.sql). The roles that log in are
//! the operator's: each comes as a URL (`DB_READER_URL`, ...), and
//! [`provision`] makes the URL's user a login role with the URL's password
//! and a member of its group, and of nothing else of ours. [`ROLES`] is the
//! one list of them: spin.toml hands each component the variable of its role
//! (`db_url = "{{ db_reader_url }}"`), and the roles test checks both.

use std::path::Path;

use anyhow::{bail, Context, Result};
use sqlx::postgres::PgConnection;
use sqlx::{Executor, Row};
use url::Url;

/// Which database a role's grants live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Database {
    /// The app database (`DATABASE_URL`).
    App,
    /// The audit store (`AUDIT_DATABASE_URL`), which may be the app database.
    Audit,
}

/// One kind of operation's role.
#[derive(Debug)]
pub struct Role {
    /// The NOLOGIN group the migrations grant to.
    pub group: &'static str,
    /// The name of its URL: the spin.toml variable (`db_reader_url`), and in
    /// capitals the environment variable `migrate` reads (`DB_READER_URL`).
    pub variable: &'static str,
    /// Whether the components get it through spin.toml (the relay's does not).
    pub in_spin_toml: bool,
    pub database: Database,
    /// The login role [`local_urls`] names for it.
    pub default_login: &'static str,
    /// Who connects with it, for people.
    pub used_by: &'static str,
}

impl Role {
    /// The environment variable of its URL.
    pub fn env(&self) -> String {
        self.variable.to_ascii_uppercase()
    }
}

pub const ROLES: &[Role] = &[
    Role {
        group: "spintemp_reader",
        variable: "db_reader_url",
        in_spin_toml: true,
        database: Database::App,
        default_login: "spintemp_reader_login",
        used_by: "health, the lists and gets, auth-me",
    },
    Role {
        group: "spintemp_customers_writer",
        variable: "db_customers_url",
        in_spin_toml: true,
        database: Database::App,
        default_login: "spintemp_customers_login",
        used_by: "customers-create, -update, -delete",
    },
    Role {
        group: "spintemp_products_writer",
        variable: "db_products_url",
        in_spin_toml: true,
        database: Database::App,
        default_login: "spintemp_products_login",
        used_by: "products-create, -update, -delete",
    },
    Role {
        group: "spintemp_promotions_writer",
        variable: "db_promotions_url",
        in_spin_toml: true,
        database: Database::App,
        default_login: "spintemp_promotions_login",
        used_by: "promotions-create, -update, -delete, -transition",
    },
    Role {
        group: "spintemp_auth",
        variable: "db_auth_url",
        in_spin_toml: true,
        database: Database::App,
        default_login: "spintemp_auth_login",
        used_by: "auth-register, -login, -refresh, -logout, users-update, users-delete",
    },
    Role {
        group: "spintemp_relay",
        variable: "db_relay_url",
        in_spin_toml: false,
        database: Database::App,
        default_login: "spintemp_relay_login",
        used_by: "audit-relay (its DATABASE_URL)",
    },
    Role {
        group: "spintemp_audit_reader",
        variable: "audit_db_reader_url",
        in_spin_toml: true,
        database: Database::Audit,
        default_login: "spintemp_audit_reader_login",
        used_by: "audit-list, audit-get",
    },
];

/// How long a session of an app role may sit idle before Postgres closes
/// it, unless `migrate --idle-session-seconds` says otherwise. Spin keeps a
/// pool per connection string (up to 64 connections, never closed), so each
/// role is a pool; this lets each give back what it no longer uses, and
/// Spin's pool opens a new connection when it finds one closed
/// (docs/operations.md, "Postgres connections").
pub const DEFAULT_IDLE_SESSION_SECONDS: u32 = 5;

/// The role whose URL is the variable `variable`.
pub fn by_variable(variable: &str) -> Option<&'static Role> {
    ROLES.iter().find(|r| r.variable == variable)
}

/// The login URLs set in the environment, each with its role.
pub fn urls_from_env() -> Result<Vec<(&'static Role, String)>> {
    let mut urls = Vec::new();
    for role in ROLES {
        match std::env::var(role.env()) {
            Ok(url) if !url.is_empty() => urls.push((role, url)),
            Ok(_) | Err(std::env::VarError::NotPresent) => {}
            Err(std::env::VarError::NotUnicode(_)) => bail!("{} is not valid UTF-8", role.env()),
        }
    }
    Ok(urls)
}

/// A URL for each role on the servers of `db_url` and `audit_db_url`: the
/// same server, database and options, logging in as the role's default
/// login. With `password_dir`, each login's password is the file of its
/// name there, made (24 random characters, mode 600) when missing; without
/// it, the URLs carry none (for a server that trusts local connections).
pub fn local_urls(
    db_url: &str,
    audit_db_url: &str,
    password_dir: Option<&Path>,
) -> Result<Vec<(&'static Role, String)>> {
    ROLES
        .iter()
        .map(|role| {
            let base = match role.database {
                Database::App => db_url,
                Database::Audit => audit_db_url,
            };
            let password = password_dir
                .map(|dir| crate::keys::read_or_make_secret(&dir.join(role.default_login)))
                .transpose()?;
            Ok((
                role,
                login_url(base, role.default_login, password.as_deref())?,
            ))
        })
        .collect()
}

/// Shell lines that export each URL under its variable's name in capitals
/// and, for the components' roles, as the Spin variable too.
pub fn export_lines(urls: &[(&'static Role, String)]) -> String {
    let mut lines = String::new();
    for (role, url) in urls {
        let url = crate::keys::shell_quote_text(url);
        lines.push_str(&format!("export {}={url}\n", role.env()));
        if role.in_spin_toml {
            lines.push_str(&format!("export SPIN_VARIABLE_{}={url}\n", role.env()));
        }
    }
    lines
}

/// `base` logging in as `login` (with `password`, or none).
pub fn login_url(base: &str, login: &str, password: Option<&str>) -> Result<String> {
    let mut url = Url::parse(base).map_err(|_| anyhow::anyhow!("invalid database URL"))?;
    let set = url
        .set_username(login)
        .and_then(|()| url.set_password(password));
    set.map_err(|()| anyhow::anyhow!("the database URL cannot name a user"))?;
    Ok(url.into())
}

/// Makes each URL's user a login role with the URL's password (or, without
/// one, leaves its password as it is) and a member of its group, on the
/// database `conn` is connected to (as the owner that ran the migrations).
/// The app's roles (those spin.toml hands on) get `idle_session_timeout`
/// `idle_session_seconds` (0: none); the relay's pool closes its own.
/// Refuses, naming the URL's variable, a user that would hold more than its
/// group: a superuser, the tables' owner, the group itself, a member of
/// another of our groups, or one user for two kinds of operation.
pub async fn provision(
    conn: &mut PgConnection,
    urls: &[(&'static Role, String)],
    idle_session_seconds: u32,
) -> Result<()> {
    check(conn, urls).await?;
    for (role, url) in urls {
        let (login, password) = credentials(role, url)?;
        let idle = if role.in_spin_toml {
            idle_session_seconds
        } else {
            0
        };
        ensure_login(conn, role, &login, password.as_deref(), idle).await?;
    }
    Ok(())
}

/// What [`provision`] refuses, found out without changing anything: run
/// before migrating, so that a wrong URL stops `migrate` before it starts.
pub async fn check(conn: &mut PgConnection, urls: &[(&'static Role, String)]) -> Result<()> {
    let mut seen: Vec<(String, &Role)> = Vec::new();
    for (role, url) in urls {
        let (login, _) = credentials(role, url)?;
        if let Some((_, other)) = seen.iter().find(|(l, _)| *l == login) {
            bail!(
                "{} and {} both log in as {login:?}: each kind of operation needs a role of its own",
                other.env(),
                role.env()
            );
        }
        check_login(conn, role, &login).await?;
        seen.push((login, role));
    }
    Ok(())
}

fn credentials(role: &Role, url: &str) -> Result<(String, Option<String>)> {
    // The parse error could echo the URL, password and all.
    let url = Url::parse(url).map_err(|_| anyhow::anyhow!("{} is not a valid URL", role.env()))?;
    let decode = |s: &str| {
        percent_decode(s)
            .with_context(|| format!("{} has a user or password that is not UTF-8", role.env()))
    };
    let login = decode(url.username())?;
    if login.is_empty() {
        bail!(
            "{} names no user: it must log in as the role of {}",
            role.env(),
            role.group
        );
    }
    let password = url.password().map(decode).transpose()?;
    Ok((login, password))
}

fn percent_decode(s: &str) -> Result<String> {
    Ok(percent_encoding::percent_decode_str(s)
        .decode_utf8()?
        .into_owned())
}

async fn check_login(conn: &mut PgConnection, role: &Role, login: &str) -> Result<()> {
    let env = role.env();
    if login == role.group || ROLES.iter().any(|r| r.group == login) {
        bail!(
            "{env} logs in as the group {login}: give it a login role of its own (such as {}), \
             which migrate makes a member of {}",
            role.default_login,
            role.group
        );
    }
    let row = conn
        .fetch_optional(
            sqlx::query(
                "SELECT r.rolsuper, \
                        EXISTS (SELECT FROM pg_tables t WHERE t.schemaname = current_schema() \
                                AND pg_has_role(r.oid, t.tableowner, 'USAGE')), \
                        ARRAY(SELECT g.rolname::text FROM pg_roles g \
                              WHERE g.rolname = ANY($2) AND g.rolname <> $3 \
                                AND pg_has_role(r.oid, g.oid, 'MEMBER') ORDER BY 1) \
                 FROM pg_roles r WHERE r.rolname = $1",
            )
            .bind(login)
            .bind(ROLES.iter().map(|r| r.group).collect::<Vec<_>>())
            .bind(role.group),
        )
        .await
        .with_context(|| format!("cannot look up the role of {env}"))?;
    let Some(row) = row else {
        return Ok(());
    };
    let (superuser, owner, others): (bool, bool, Vec<String>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    if superuser {
        bail!("{env} logs in as {login}, a superuser, who bypasses every privilege: give it a role of its own (such as {})", role.default_login);
    }
    if owner {
        bail!("{env} logs in as {login}, who owns the tables and may do anything to them: give it a role of its own (such as {})", role.default_login);
    }
    if !others.is_empty() {
        bail!(
            "{env} logs in as {login}, who is also a member of {}: it would hold more than {}; \
             give it a role of its own (such as {}) or REVOKE those",
            others.join(", "),
            role.group,
            role.default_login
        );
    }
    Ok(())
}

async fn ensure_login(
    conn: &mut PgConnection,
    role: &Role,
    login: &str,
    password: Option<&str>,
    idle_session_seconds: u32,
) -> Result<()> {
    // The server gets a SCRAM verifier, never the password: statements can
    // end up in its log.
    let password = password
        .map(|p| {
            format!(
                " PASSWORD {}",
                quote_literal(&postgres_protocol::password::scram_sha_256(p.as_bytes()))
            )
        })
        .unwrap_or_default();
    let login_id = quote_identifier(login);
    let idle = match idle_session_seconds {
        0 => format!("ALTER ROLE {login_id} RESET idle_session_timeout"),
        seconds => format!("ALTER ROLE {login_id} SET idle_session_timeout = '{seconds}s'"),
    };
    // Two migrations (of two databases on one server) may provision the
    // same login at once; the loser of a race tries again and finds it.
    let mut tries = 0;
    loop {
        tries += 1;
        let outcome = async {
            let exists = conn
                .fetch_optional(sqlx::query("SELECT FROM pg_roles WHERE rolname = $1").bind(login))
                .await?
                .is_some();
            let verb = if exists { "ALTER" } else { "CREATE" };
            conn.execute(format!("{verb} ROLE {login_id} LOGIN{password}").as_str())
                .await?;
            conn.execute(format!("GRANT {} TO {login_id}", quote_identifier(role.group)).as_str())
                .await?;
            conn.execute(idle.as_str()).await?;
            Ok::<_, sqlx::Error>(())
        }
        .await;
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) if tries < 5 && is_race(&e) => continue,
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot make {login:?} (from {}) a login role in {}",
                        role.env(),
                        role.group
                    )
                })
            }
        }
    }
}

/// Errors of a concurrent CREATE ROLE or GRANT on the same role.
fn is_race(error: &sqlx::Error) -> bool {
    const DUPLICATE_OBJECT: &str = "42710";
    const UNIQUE_VIOLATION: &str = "23505";
    const INTERNAL: &str = "XX000"; // "tuple concurrently updated"
    matches!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some(DUPLICATE_OBJECT | UNIQUE_VIOLATION | INTERNAL)
    )
}

pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_has_its_own_group_variable_and_login() {
        for (i, a) in ROLES.iter().enumerate() {
            for b in &ROLES[i + 1..] {
                assert_ne!(a.group, b.group);
                assert_ne!(a.variable, b.variable);
                assert_ne!(a.default_login, b.default_login);
            }
        }
    }

    #[test]
    fn login_urls_keep_server_database_and_options() {
        let url = login_url(
            "postgres://postgres@db.example:6543/app?sslmode=disable",
            "r_login",
            Some("p/w+x"),
        )
        .unwrap();
        assert_eq!(
            url,
            "postgres://r_login:p%2Fw+x@db.example:6543/app?sslmode=disable"
        );
        let (login, password) = credentials(&ROLES[0], &url).unwrap();
        assert_eq!(
            (login.as_str(), password.as_deref()),
            ("r_login", Some("p/w+x"))
        );
    }

    #[test]
    fn a_bad_url_is_named_by_its_variable_without_its_password() {
        let error = credentials(&ROLES[0], "postgres://u:s3cret@host:notaport/db").unwrap_err();
        let text = format!("{error:#}");
        assert!(
            text.contains("DB_READER_URL") && !text.contains("s3cret"),
            "{text}"
        );
    }
}
