//! `spin:postgres/postgres@4.0.0` against a real Postgres, as Spin does it.
//!
//! Connections come from one deadpool pool per address (up to 64 connections,
//! up to 16 addresses, recycled with `RecyclingMethod::Clean`), shared by every
//! component of the app. A `connection` resource holds one pooled physical
//! connection until the guest drops it, so `BEGIN` / ... / `COMMIT` sent as
//! separate calls on one connection form a transaction. TLS is attempted
//! unless the address says `sslmode=disable`. Every statement is sent with the
//! extended protocol, so one call runs exactly one statement.

// The WIT `error` carries a structured db-error; it is large by design.
#![allow(clippy::result_large_err)]

mod types;

use std::pin::pin;

use anyhow::Context as _;
use futures::TryStreamExt as _;
use indexmap::IndexMap;
use tokio_postgres::{config::SslMode, types::ToSql, NoTls};
use wasmtime::component::Resource;

use crate::bindings::spin::postgres4_0_0::postgres::{
    self as wit, DbError, Error, ParameterValue, QueryError, RowSet,
};
use crate::outbound::AllowedHosts;
use crate::state::HostState;
use crate::ZeroRowQueries;

/// Max connections in one address' pool (Spin's `CONNECTION_POOL_SIZE`).
const CONNECTION_POOL_SIZE: usize = 64;
/// Max addresses to keep pools for (Spin's `CONNECTION_POOL_CACHE_CAPACITY`).
const CONNECTION_POOL_CACHE_CAPACITY: usize = 16;
/// Max bytes of one result the host buffers (Spin's `MAX_HOST_BUFFERED_BYTES`).
const MAX_HOST_BUFFERED_BYTES: usize = 128 << 20;

/// The host side of a guest's `connection` resource.
pub struct PgConnection {
    client: deadpool_postgres::Object,
}

/// The app-wide pools, keyed by the address string the guest passed.
#[derive(Default)]
pub struct PgPools {
    pools: std::sync::Mutex<IndexMap<String, deadpool_postgres::Pool>>,
}

impl PgPools {
    async fn get_client(&self, address: &str) -> anyhow::Result<deadpool_postgres::Object> {
        let pool = self
            .pool(address)
            .context("establishing PostgreSQL connection pool")?;
        Ok(pool.get().await?)
    }

    fn pool(&self, address: &str) -> anyhow::Result<deadpool_postgres::Pool> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(address) {
            return Ok(pool.clone());
        }
        let pool = create_pool(address)?;
        if pools.len() >= CONNECTION_POOL_CACHE_CAPACITY {
            pools.shift_remove_index(0);
        }
        pools.insert(address.to_string(), pool.clone());
        Ok(pool)
    }
}

fn create_pool(address: &str) -> anyhow::Result<deadpool_postgres::Pool> {
    let config = address
        .parse::<tokio_postgres::Config>()
        .context("parsing Postgres connection string")?;
    let mgr_config = deadpool_postgres::ManagerConfig {
        recycling_method: deadpool_postgres::RecyclingMethod::Clean,
    };
    let mgr = if config.get_ssl_mode() == SslMode::Disable {
        deadpool_postgres::Manager::from_config(config, NoTls, mgr_config)
    } else {
        let connector = native_tls::TlsConnector::builder().build()?;
        let connector = postgres_native_tls::MakeTlsConnector::new(connector);
        deadpool_postgres::Manager::from_config(config, connector, mgr_config)
    };
    deadpool_postgres::Pool::builder(mgr)
        .max_size(CONNECTION_POOL_SIZE)
        .build()
        .context("building Postgres connection pool")
}

/// Refuses, before any network I/O, an address whose hosts are not allowed.
fn ensure_address_allowed(allowed: &AllowedHosts, address: &str) -> Result<(), Error> {
    let config = address
        .parse::<tokio_postgres::Config>()
        .map_err(|e| Error::ConnectionFailed(e.to_string()))?;
    let ports = config.get_ports();
    for (i, host) in config.get_hosts().iter().enumerate() {
        match host {
            tokio_postgres::config::Host::Tcp(host) => {
                // The port at the same index as the host, or the only port.
                let port = ports
                    .get(i)
                    .or_else(|| (ports.len() == 1).then(|| &ports[0]));
                let url = match port {
                    Some(port) => format!("{host}:{port}"),
                    None => host.clone(),
                };
                let allowed = allowed
                    .check_url(&url, "postgres")
                    .map_err(|e| Error::Other(e.to_string()))?;
                if !allowed {
                    return Err(Error::ConnectionFailed(format!(
                        "address postgres://{url} is not permitted"
                    )));
                }
            }
            #[cfg(unix)]
            tokio_postgres::config::Host::Unix(_) => {
                return Err(Error::ConnectionFailed(
                    "Unix sockets are not supported on WebAssembly".into(),
                ));
            }
        }
    }
    Ok(())
}

/// The error for a statement that failed before or while executing: a
/// structured `db-error` when Postgres sent one, text otherwise.
fn query_failed(e: tokio_postgres::Error) -> Error {
    let as_text = format!("{e:?}");
    let query_error = match e.as_db_error() {
        None => QueryError::Text(as_text),
        Some(dbe) => QueryError::DbError(DbError {
            as_text,
            severity: dbe.severity().to_owned(),
            code: dbe.code().code().to_owned(),
            message: dbe.message().to_owned(),
            detail: dbe.detail().map(str::to_owned),
            extras: db_error_extras(dbe),
        }),
    };
    Error::QueryFailed(query_error)
}

fn db_error_extras(dbe: &tokio_postgres::error::DbError) -> Vec<(String, String)> {
    let fields: [(&str, Option<String>); 10] = [
        ("column", dbe.column().map(str::to_owned)),
        ("constraint", dbe.constraint().map(str::to_owned)),
        ("routine", dbe.routine().map(str::to_owned)),
        ("hint", dbe.hint().map(str::to_owned)),
        ("table", dbe.table().map(str::to_owned)),
        ("datatype", dbe.datatype().map(str::to_owned)),
        ("schema", dbe.schema().map(str::to_owned)),
        ("file", dbe.file().map(str::to_owned)),
        ("line", dbe.line().map(|l| l.to_string())),
        ("where_", dbe.where_().map(str::to_owned)),
    ];
    fields
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (name.to_owned(), v)))
        .collect()
}

/// An error and its causes as anyhow's `{:?}` prints them (which is what
/// Spin sends the guest), but never with a backtrace: `RUST_BACKTRACE` in the
/// host's environment must not change what a component sees.
fn error_chain(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    let causes: Vec<String> = e.chain().skip(1).map(|c| c.to_string()).collect();
    if !causes.is_empty() {
        text.push_str("\n\nCaused by:");
        let numbered = causes.len() > 1;
        for (i, cause) in causes.iter().enumerate() {
            let (first, rest) = if numbered {
                (format!("{i:>5}: "), "       ")
            } else {
                ("    ".to_string(), "    ")
            };
            text.push('\n');
            text.push_str(&first);
            text.push_str(&cause.replace('\n', &format!("\n{rest}")));
        }
    }
    text
}

fn sql_params(params: &[ParameterValue]) -> anyhow::Result<Vec<Box<dyn ToSql + Send + Sync>>> {
    params.iter().map(types::to_sql).collect()
}

fn param_refs(params: &[Box<dyn ToSql + Send + Sync>]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

async fn execute(
    client: &tokio_postgres::Client,
    statement: &str,
    params: &[ParameterValue],
) -> Result<u64, Error> {
    let params = sql_params(params).map_err(|e| Error::ValueConversionFailed(error_chain(&e)))?;
    client
        .execute(statement, &param_refs(&params))
        .await
        .map_err(query_failed)
}

async fn query(
    client: &tokio_postgres::Client,
    statement: &str,
    params: &[ParameterValue],
) -> Result<RowSet, Error> {
    let params = sql_params(params).map_err(|e| Error::BadParameter(error_chain(&e)))?;
    let rows = client
        .query_raw(statement, param_refs(&params))
        .await
        .map_err(query_failed)?;
    let mut rows = pin!(rows);
    let mut columns = None;
    let mut result_rows = Vec::new();
    let mut byte_count = std::mem::size_of::<RowSet>();
    // An error Postgres raises while the rows stream (e.g. a unique violation
    // in `INSERT ... VALUES (1),(1)` sent through `query`, or an error a
    // trigger raises in a data-modifying CTE) reaches the guest as text, not
    // as a structured db-error: Spin behaves this way
    // (reference/spin-verified.md). Spin 4.0.2's text is the Debug form of
    // the structured error it would have sent, `Error::QueryFailed(
    // QueryError::DbError(DbError { as-text: "…", severity: "ERROR", code:
    // "SP001", … }))` (seen for a trigger's RAISE), so the SQLSTATE is in it
    // twice, once with its quotes escaped; this text has the same shape.
    while let Some(row) = rows
        .try_next()
        .await
        .map_err(|e| Error::QueryFailed(QueryError::Text(format!("{:?}", query_failed(e)))))?
    {
        if columns.is_none() {
            columns = Some(types::columns(&row));
        }
        let row = types::convert_row(&row)
            .map_err(|e| Error::QueryFailed(QueryError::Text(error_chain(&e))))?;
        byte_count += row.iter().map(types::memory_size).sum::<usize>();
        if byte_count > MAX_HOST_BUFFERED_BYTES {
            return Err(Error::QueryFailed(QueryError::Text(format!(
                "query result exceeds limit of {MAX_HOST_BUFFERED_BYTES} bytes"
            ))));
        }
        result_rows.push(row);
    }
    Ok(RowSet {
        columns: columns.unwrap_or_default(),
        rows: result_rows,
    })
}

impl HostState {
    fn pg_client(
        &self,
        connection: &Resource<PgConnection>,
    ) -> Result<&tokio_postgres::Client, Error> {
        self.table
            .get(connection)
            .map(|c| &**c.client)
            .map_err(|_| Error::ConnectionFailed("no connection found".into()))
    }
}

impl HostState {
    /// What Spin 4.0.x would do is hang; failing the request instead makes
    /// every test that reaches such a query fail, and say why.
    fn zero_row_query(&self, statement: &str) -> Error {
        let why = format!(
            "spintemp-host: this `query` returned no rows; Spin 4.0.0-4.0.2 never answer such a \
             query (spinframework/spin#3671): shape it to return one row, or use `execute`. \
             Statement: {statement}"
        );
        eprintln!("[{}] {why}", self.component.id);
        Error::QueryFailed(QueryError::Text(why))
    }
}

impl wit::HostConnection for HostState {
    async fn open(&mut self, address: String) -> Result<Resource<PgConnection>, Error> {
        ensure_address_allowed(&self.component.allowed_hosts, &address)?;
        let client = self
            .app
            .pg_pools
            .get_client(&address)
            .await
            .map_err(|e| Error::ConnectionFailed(error_chain(&e)))?;
        self.table
            .push(PgConnection { client })
            .map_err(|_| Error::ConnectionFailed("too many connections".into()))
    }

    async fn query(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<RowSet, Error> {
        let rows = query(self.pg_client(&connection)?, &statement, &params).await?;
        if rows.rows.is_empty() && self.app.zero_row_queries == ZeroRowQueries::Fail {
            return Err(self.zero_row_query(&statement));
        }
        Ok(rows)
    }

    async fn execute(
        &mut self,
        connection: Resource<PgConnection>,
        statement: String,
        params: Vec<ParameterValue>,
    ) -> Result<u64, Error> {
        execute(self.pg_client(&connection)?, &statement, &params).await
    }

    async fn drop(&mut self, connection: Resource<PgConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl wit::Host for HostState {}
