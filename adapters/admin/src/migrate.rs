//! Schema migrations for the app database and the audit store.
//!
//! Both migrators may point at one database and so share one
//! `_sqlx_migrations` table (app migrations are numbered from 0001, audit
//! migrations from 1001). Each therefore ignores the versions the other one
//! applied. sqlx holds a Postgres advisory lock (keyed on the database name)
//! while it migrates, so any number of processes may run this at start-up at
//! once: the first applies, the others wait and then find nothing to do.

use std::str::FromStr;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use sqlx::migrate::{MigrateError, Migrator};
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection, Executor, Row};
use tokio::time::{sleep, timeout, Instant};
use tracing::{info, warn};

use crate::roles::{self, quote_identifier, Database, Role};

/// A TCP connect to an unreachable host can hang for minutes; one attempt
/// gets this long before it counts as failed and is retried.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_RETRY_DELAY: Duration = Duration::from_millis(100);
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// Where `create_database_if_missing` connects to issue `CREATE DATABASE`.
const MAINTENANCE_DATABASE: &str = "postgres";

/// The app schema (entities and the audit outbox), embedded at build time.
pub fn app_migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("../../infra/migrations/app");
    migrator.set_ignore_missing(true);
    migrator
}

/// The audit store schema, embedded at build time.
pub fn audit_migrator() -> Migrator {
    let mut migrator = sqlx::migrate!("../../infra/migrations/audit");
    migrator.set_ignore_missing(true);
    migrator
}

/// Applies the app migrations to `db_url` and, if given, the audit migrations
/// to `audit_db_url`, without waiting for an unreachable server.
pub async fn run(db_url: &str, audit_db_url: Option<&str>) -> Result<()> {
    run_with(db_url, audit_db_url, Duration::ZERO).await
}

/// As [`run`], retrying connections for up to `wait` (for a database server
/// that is still starting).
pub async fn run_with(db_url: &str, audit_db_url: Option<&str>, wait: Duration) -> Result<()> {
    apply(Database::App, &app_migrator(), db_url, wait).await?;
    if let Some(audit_db_url) = audit_db_url {
        apply(Database::Audit, &audit_migrator(), audit_db_url, wait).await?;
    }
    Ok(())
}

/// Makes the user of each of `logins` (a role's URL) a login role of its
/// group, in the database that role's grants live in: the app database
/// `db_url` or the audit store `audit_db_url` (see [`roles::provision`]).
/// Connects as the owner that ran the migrations.
/// The app's roles get `idle_session_timeout` `idle_session_seconds` (see
/// [`roles::DEFAULT_IDLE_SESSION_SECONDS`]; 0: none).
pub async fn provision_logins(
    db_url: &str,
    audit_db_url: Option<&str>,
    logins: &[(&'static Role, String)],
    idle_session_seconds: u32,
) -> Result<()> {
    let provision = Some(idle_session_seconds);
    for_each_database(db_url, audit_db_url, logins, provision, Duration::ZERO).await
}

/// What [`provision_logins`] would refuse, said before anything changes;
/// retries connections for up to `wait`.
pub async fn check_logins(
    db_url: &str,
    audit_db_url: Option<&str>,
    logins: &[(&'static Role, String)],
    wait: Duration,
) -> Result<()> {
    for_each_database(db_url, audit_db_url, logins, None, wait).await
}

async fn for_each_database(
    db_url: &str,
    audit_db_url: Option<&str>,
    logins: &[(&'static Role, String)],
    // Some: provision, with this idle session timeout; None: check only.
    provision: Option<u32>,
    wait: Duration,
) -> Result<()> {
    for database in [Database::App, Database::Audit] {
        let these: Vec<_> = logins
            .iter()
            .filter(|(role, _)| role.database == database)
            .cloned()
            .collect();
        let Some((first, _)) = these.first() else {
            continue;
        };
        let url = match database {
            Database::App => db_url,
            Database::Audit => audit_db_url.with_context(|| {
                format!(
                    "{} is set, but no audit store (--audit-db-url, AUDIT_DATABASE_URL) to make its role in",
                    first.env()
                )
            })?,
        };
        let mut conn = connect(url, wait).await?;
        let outcome = match provision {
            Some(idle) => roles::provision(&mut conn, &these, idle).await,
            None => roles::check(&mut conn, &these).await,
        };
        close(conn).await;
        outcome?;
        if provision.is_none() {
            continue;
        }
        info!(
            roles = %these.iter().map(|(r, _)| r.group).collect::<Vec<_>>().join(", "),
            "login roles ready"
        );
    }
    Ok(())
}

/// Creates the database named in `db_url` unless it exists, connecting to the
/// server's `postgres` database to do so.
pub async fn create_database_if_missing(db_url: &str) -> Result<()> {
    create_database_if_missing_with(db_url, Duration::ZERO).await?;
    Ok(())
}

/// As [`create_database_if_missing`], retrying the connection for up to `wait`.
/// Returns whether this call created the database.
pub async fn create_database_if_missing_with(db_url: &str, wait: Duration) -> Result<bool> {
    let options = parse_url(db_url)?;
    let Some(name) = options.get_database().map(str::to_owned) else {
        bail!("the database URL names no database");
    };
    let mut conn = connect_with(&options.clone().database(MAINTENANCE_DATABASE), wait).await?;
    let created = create_if_missing(&mut conn, &name).await;
    close(conn).await;
    let created = created.with_context(|| format!("cannot create database {name:?}"))?;
    if created {
        info!(database = %name, "created database");
    }
    Ok(created)
}

/// Connects to `db_url`, retrying for up to `wait` while the server is
/// unreachable or starting up.
pub async fn connect(db_url: &str, wait: Duration) -> Result<PgConnection> {
    connect_with(&parse_url(db_url)?, wait).await
}

async fn apply(
    database: Database,
    migrator: &Migrator,
    db_url: &str,
    wait: Duration,
) -> Result<()> {
    let kind = match database {
        Database::App => "app",
        Database::Audit => "audit",
    };
    let options = parse_url(db_url)?;
    let mut conn = connect_with(&options, wait).await?;
    let outcome = match check_rights(&mut conn, database).await {
        // run_direct, not run: run's `Acquire` bound makes the future fail to
        // be `Send` for callers that spawn it (sqlx's own documented workaround).
        Ok(()) => migrator
            .run_direct(&mut conn)
            .await
            .map_err(|e| explain_refusal(e, options.get_username())),
        Err(e) => Err(e),
    };
    close(conn).await;
    outcome.with_context(|| format!("{kind} migrations failed on {}", describe(&options)))?;
    info!(
        database = %describe(&options),
        latest = migrator.iter().map(|m| m.version).max().unwrap_or(0),
        "{kind} migrations up to date"
    );
    Ok(())
}

/// The migrations create the group roles of [`roles::ROLES`] where they are
/// missing, which takes CREATEROLE: said up front, naming the right, rather
/// than halfway through a migration.
async fn check_rights(conn: &mut PgConnection, database: Database) -> Result<()> {
    let groups: Vec<&str> = roles::ROLES
        .iter()
        .filter(|r| r.database == database)
        .map(|r| r.group)
        .collect();
    let row = conn
        .fetch_one(
            sqlx::query(
                "SELECT current_user::text, \
                        (SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user), \
                        ARRAY(SELECT g FROM unnest($1::text[]) g \
                              WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = g))",
            )
            .bind(groups),
        )
        .await?;
    let (user, may_create, missing): (String, bool, Vec<String>) =
        (row.try_get(0)?, row.try_get(1)?, row.try_get(2)?);
    if !missing.is_empty() && !may_create {
        bail!(
            "the role {user} lacks CREATEROLE, which creating the group roles {} needs: \
             migrate as a role that has it (ALTER ROLE {user} CREATEROLE), or have one create them first",
            missing.join(", ")
        );
    }
    Ok(())
}

/// A migration Postgres refused for want of a privilege, said as such:
/// Postgres's message names the right (`permission denied for schema
/// public`, `must be owner of table customers`).
fn explain_refusal(error: MigrateError, user: &str) -> anyhow::Error {
    const INSUFFICIENT_PRIVILEGE: &str = "42501";
    let refused = |e: &sqlx::Error| {
        e.as_database_error()
            .filter(|d| d.code().as_deref() == Some(INSUFFICIENT_PRIVILEGE))
            .map(|d| d.message().to_owned())
    };
    match &error {
        MigrateError::ExecuteMigration(e, version) => match refused(e) {
            Some(message) => anyhow::anyhow!(
                "migration {version} needs a right the role {user} lacks ({message}): \
                 migrate as the owner of the database's tables, with CREATEROLE"
            ),
            None => error.into(),
        },
        MigrateError::Execute(e) => match refused(e) {
            Some(message) => anyhow::anyhow!(
                "the role {user} lacks a right migrating needs ({message}): \
                 migrate as the owner of the database's tables, with CREATEROLE"
            ),
            None => error.into(),
        },
        _ => error.into(),
    }
}

// Executor's own methods return boxed `Send` futures; the `async fn`
// helpers of `query_scalar`/`raw_sql` would make callers' futures fail to be
// `Send` ("implementation of `Executor` is not general enough").
async fn create_if_missing(conn: &mut PgConnection, name: &str) -> sqlx::Result<bool> {
    let exists: bool = conn
        .fetch_one(
            sqlx::query("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                .bind(name.to_owned()),
        )
        .await?
        .try_get(0)?;
    if exists {
        return Ok(false);
    }
    // CREATE DATABASE takes no bind parameters.
    let statement = format!("CREATE DATABASE {}", quote_identifier(name));
    match conn.execute(statement.as_str()).await {
        Ok(_) => Ok(true),
        // Another process created it between our check and our CREATE.
        Err(e) if lost_create_race(&e) => Ok(false),
        Err(e) => Err(e),
    }
}

fn lost_create_race(error: &sqlx::Error) -> bool {
    const DUPLICATE_DATABASE: &str = "42P04";
    const UNIQUE_VIOLATION: &str = "23505";
    matches!(
        error.as_database_error().and_then(|e| e.code()).as_deref(),
        Some(DUPLICATE_DATABASE | UNIQUE_VIOLATION)
    )
}

fn parse_url(db_url: &str) -> Result<PgConnectOptions> {
    // The error text of a URL parse can echo the URL, password included.
    PgConnectOptions::from_str(db_url).map_err(|_| anyhow::anyhow!("invalid database URL"))
}

async fn connect_with(options: &PgConnectOptions, wait: Duration) -> Result<PgConnection> {
    let deadline = Instant::now() + wait;
    let mut delay = FIRST_RETRY_DELAY;
    loop {
        let error = match timeout(ATTEMPT_TIMEOUT, options.connect()).await {
            Ok(Ok(conn)) => return Ok(conn),
            Ok(Err(e)) if !is_transient(&e) => {
                return Err(e).with_context(|| format!("cannot connect to {}", describe(options)))
            }
            Ok(Err(e)) => anyhow::Error::new(e),
            Err(_) => anyhow::anyhow!("no answer within {ATTEMPT_TIMEOUT:?}"),
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(error).with_context(|| {
                format!("cannot connect to {} within {wait:?}", describe(options))
            });
        }
        warn!(database = %describe(options), error = %error, "database not reachable yet, retrying");
        sleep(delay.min(remaining)).await;
        delay = (delay * 2).min(MAX_RETRY_DELAY);
    }
}

/// Errors a database that is still starting produces; anything else (bad
/// password, unknown database, TLS refused) will not go away by waiting.
fn is_transient(error: &sqlx::Error) -> bool {
    const CANNOT_CONNECT_NOW: &str = "57P03";
    const TOO_MANY_CONNECTIONS: &str = "53300";
    const ADMIN_SHUTDOWN: &str = "57P01";
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut => true,
        sqlx::Error::Database(e) => matches!(
            e.code().as_deref(),
            Some(CANNOT_CONNECT_NOW | TOO_MANY_CONNECTIONS | ADMIN_SHUTDOWN)
        ),
        _ => false,
    }
}

async fn close(conn: PgConnection) {
    // The server cleans up a dropped session too; a failed goodbye is no error.
    let _ = conn.close().await;
}

/// host:port/database, never the password.
fn describe(options: &PgConnectOptions) -> String {
    format!(
        "{}:{}/{}",
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or(options.get_username())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_identifier("app"), "\"app\"");
        assert_eq!(quote_identifier("we\"ird"), "\"we\"\"ird\"");
    }

    #[test]
    fn invalid_url_does_not_echo_password() {
        let error = parse_url("postgres://u:s3cret@host:notaport/db").unwrap_err();
        assert!(!format!("{error:#}").contains("s3cret"));
    }

    #[test]
    fn describe_hides_password() {
        let options = parse_url("postgres://u:s3cret@db.example:6543/app").unwrap();
        assert_eq!(describe(&options), "db.example:6543/app");
    }

    #[test]
    fn embeds_the_app_migrations_below_the_audit_range() {
        let versions: Vec<i64> = app_migrator().iter().map(|m| m.version).collect();
        assert!(!versions.is_empty());
        assert!(versions.iter().all(|v| *v < 1001), "{versions:?}");
        assert!(audit_migrator().iter().all(|m| m.version >= 1001));
    }
}
