//! Test support: the real app (spin.toml + built components) on the wasmtime
//! test host, against the real Postgres and Redis, plus a small client.
//!
//! Every test shares one app and one database (`spintemp_test`, migrated on
//! first use) and stays out of the others' way by creating its own records
//! and tagging its requests with its own `x-request-id`.

use bytes::Bytes;
use serde_json::Value;
use spintemp_admin::keys::KeyPair;
use spintemp_admin::token::{self, Claims};
use spintemp_host::{App, HostOptions};
use sqlx::PgPool;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use tokio::sync::OnceCell;
use uuid::Uuid;

pub const DB_NAME: &str = "spintemp_test";

/// The shared test database.
pub fn db_url() -> String {
    db_url_for(DB_NAME)
}

/// Another database on the test server (`SPINTEMP_TEST_PG`, default the
/// local one).
pub fn db_url_for(name: &str) -> String {
    let server = std::env::var("SPINTEMP_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned());
    format!("{server}/{name}?sslmode=disable")
}

pub fn redis_url() -> String {
    std::env::var("SPINTEMP_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// One runtime for every test, so the shared app's connection pools outlive
/// any single test.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
});

/// Runs a test body on the shared runtime.
pub fn block_on<F: Future>(future: F) -> F::Output {
    RUNTIME.block_on(future)
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds every component like `spin build` (scripts/build-components.sh:
/// each build command of spin.toml, the UI's steps once, one cargo run for
/// every package). Once per test process.
pub async fn build_components() -> anyhow::Result<()> {
    static BUILT: OnceCell<()> = OnceCell::const_new();
    BUILT
        .get_or_try_init(|| async {
            let status = tokio::process::Command::new("bash")
                .current_dir(workspace_root())
                .arg("scripts/build-components.sh")
                .env("CARGO", env!("CARGO"))
                .status()
                .await?;
            anyhow::ensure!(
                status.success(),
                "building the components failed (scripts/build-components.sh)"
            );
            Ok(())
        })
        .await
        .map(|_| ())
}

/// A fresh database for each test process: dropped, created and migrated
/// (app and audit store in one database), so every run starts from the
/// migrations alone.
async fn prepare_database(name: &str) -> anyhow::Result<()> {
    static PREPARED: tokio::sync::Mutex<Vec<String>> = tokio::sync::Mutex::const_new(Vec::new());
    let mut prepared = PREPARED.lock().await;
    if prepared.iter().any(|n| n == name) {
        return Ok(());
    }
    let admin = PgPool::connect(&db_url_for("postgres")).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&admin)
        .await?;
    admin.close().await;
    let url = db_url_for(name);
    spintemp_admin::migrate::create_database_if_missing(&url).await?;
    migrate_with_logins(&url, &url).await?;
    prepared.push(name.to_owned());
    Ok(())
}

/// Migrates the app database `db_url` and the audit store `audit_db_url`
/// (as their owner) and makes the login role of each kind of operation, as
/// `spintemp-admin migrate` does with the role URLs of
/// [`role_variables`].
pub async fn migrate_with_logins(db_url: &str, audit_db_url: &str) -> anyhow::Result<()> {
    spintemp_admin::migrate::run(db_url, Some(audit_db_url)).await?;
    let logins = spintemp_admin::roles::local_urls(db_url, audit_db_url, None)?;
    spintemp_admin::migrate::provision_logins(
        db_url,
        Some(audit_db_url),
        &logins,
        spintemp_admin::roles::DEFAULT_IDLE_SESSION_SECONDS,
    )
    .await
}

/// `db_url`'s database as the relay's role (the outbox: read and delete).
pub fn relay_url(db_url: &str) -> String {
    let relay = spintemp_admin::roles::by_variable("db_relay_url").expect("the relay's role");
    spintemp_admin::roles::login_url(db_url, relay.default_login, None)
        .expect("a valid database URL")
}

/// `variables` as the overrides [`TestApp::start`] takes.
pub fn borrowed(variables: &[(String, String)]) -> Vec<(&str, &str)> {
    variables
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect()
}

/// The Spin variables that give each component the URL of its role
/// (spin.toml: `db_url = "{{ db_reader_url }}"`, ...), on the server and
/// database of `db_url` and, for the audit API's, `audit_db_url`: no
/// password, as the test server trusts local connections.
pub fn role_variables(db_url: &str, audit_db_url: &str) -> Vec<(String, String)> {
    spintemp_admin::roles::local_urls(db_url, audit_db_url, None)
        .expect("role URLs of a valid database URL")
        .into_iter()
        .filter(|(role, _)| role.in_spin_toml)
        .map(|(role, url)| (role.variable.to_owned(), url))
        .collect()
}

pub struct TestApp {
    pub app: App,
    pub db: PgPool,
    pub redis: redis::Client,
    pub keys: KeyPair,
}

/// The shared app with the default configuration.
pub async fn app() -> &'static TestApp {
    static APP: OnceCell<TestApp> = OnceCell::const_new();
    APP.get_or_init(|| async { TestApp::start(&[]).await.expect("starting the test app") })
        .await
}

impl TestApp {
    /// A new app instance on the shared database; `overrides` replace
    /// variables (e.g. a Redis that is down).
    pub async fn start(overrides: &[(&str, &str)]) -> anyhow::Result<TestApp> {
        TestApp::launch(DB_NAME, &redis_url(), overrides).await
    }

    /// A new app instance on its own database `db_name`, for tests that
    /// must see every row of it (e.g. with a relay draining the outbox).
    pub async fn start_in(db_name: &str, overrides: &[(&str, &str)]) -> anyhow::Result<TestApp> {
        TestApp::launch(db_name, &redis_url(), overrides).await
    }

    /// The app as production runs it: the key-value store `default` (the
    /// cache) backed by the Redis at `cache_url` through the runtime config.
    pub async fn launch(
        db_name: &str,
        cache_url: &str,
        overrides: &[(&str, &str)],
    ) -> anyhow::Result<TestApp> {
        build_components().await?;
        prepare_database(db_name).await?;
        let db_url = db_url_for(db_name);
        let keys = spintemp_admin::keys::generate();
        let mut variables = role_variables(&db_url, &db_url);
        variables.extend([
            ("jwt_public_key".to_owned(), keys.public_pem.clone()),
            ("jwt_private_key".to_owned(), keys.private_pem.clone()),
            ("token_memo_key".to_owned(), keys.memo_key.clone()),
            ("redis_url".to_owned(), redis_url()),
            // The cache, which its breaker probes without credentials.
            (
                "cache_address".to_owned(),
                format!("redis://{}", host_port(cache_url)),
            ),
            // Every test request comes from one address unless it says
            // otherwise ([`TEST_CLIENT`]), so the per-address limits would
            // stop the suite; the throttling tests start apps of their own
            // with the defaults, from addresses of their own.
            ("registrations_per_address".to_owned(), "1000000".to_owned()),
            (
                "login_failures_per_address".to_owned(),
                "1000000".to_owned(),
            ),
        ]);
        for (name, value) in overrides {
            variables.retain(|(n, _)| n != name);
            variables.push((name.to_string(), value.to_string()));
        }
        let runtime_config = std::env::temp_dir().join(format!(
            "spintemp-api-tests-{}-runtime-config.toml",
            Uuid::now_v7()
        ));
        std::fs::write(
            &runtime_config,
            format!(
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"{cache_url}\"\n\
                 [key_value_store.cache_b]\ntype = \"redis\"\nurl = \"{cache_url}\"\n\
                 [key_value_store.cache_c]\ntype = \"redis\"\nurl = \"{cache_url}\"\n\
                 [key_value_store.replica]\ntype = \"spin\"\n"
            ),
        )?;
        let app = App::load(
            workspace_root().join("spin.toml"),
            HostOptions {
                variables,
                runtime_config: Some(runtime_config.clone()),
                ..HostOptions::default()
            },
        )
        .await;
        let _ = std::fs::remove_file(&runtime_config);
        let app = app?;
        let db = PgPool::connect(&db_url).await?;
        let redis = redis::Client::open(cache_url)?;
        let app = TestApp {
            app,
            db,
            redis,
            keys,
        };
        // Boxed: inlined, its future deepens every test's async block past
        // rustc's layout depth limit (a clean, non-incremental build fails).
        Box::pin(app.until_cache_ready()).await;
        Ok(app)
    }

    /// As a readiness check would: health until it says the cache answers
    /// (a new replica does not call the cache until a probe after a response
    /// has found it answering; kit::cache::breaker), for at most 3 s, so
    /// that the tests' first reads are cached as later ones are. An app
    /// whose cache is down starts anyway.
    async fn until_cache_ready(&self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            let health = self.call("GET", "/api/health").send().await;
            if health.status == 200 && health.json()["checks"]["cache"] == "ok" {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The digest the API's memo of verified tokens keeps `token` under
    /// (kit::auth::memo).
    pub fn memo_digest(&self, token: &str) -> String {
        let secret: [u8; 32] = base64::Engine::decode(
            &base64::engine::general_purpose::STANDARD,
            &self.keys.memo_key,
        )
        .expect("the memo key is base64")
        .try_into()
        .expect("the memo key is 32 bytes");
        kit::auth::memo::digest(&secret, self.keys.public_pem.trim(), token)
    }

    /// Puts an entry for `digest`, valid until `expires_at` (unix s), in
    /// the memo (the replica's own store), as whoever can write that store
    /// could.
    pub fn plant_memo(&self, digest: &str, expires_at: i64) {
        self.app
            .local_store_set(
                "replica",
                &kit::auth::memo::slot_key(digest),
                &kit::auth::memo::entry(digest, expires_at),
            )
            .expect("the replica store is local");
    }

    /// Whether the memo holds an entry for `token` (expired or not).
    pub fn memo_holds(&self, token: &str) -> bool {
        let digest = self.memo_digest(token);
        let slot = self
            .app
            .local_store_get("replica", &kit::auth::memo::slot_key(&digest))
            .expect("the replica store is local");
        slot.is_some_and(|entry| entry.ends_with(digest.as_bytes()))
    }

    /// A token for a new user, made as `spintemp-admin token` makes one.
    pub async fn token(&self, admin: bool) -> (Uuid, String) {
        let user = self.user(admin).await;
        (user.id, user.token)
    }

    /// A new active user (inserted directly, without an audit event) whose
    /// password is [`TEST_PASSWORD`], and a token for it.
    pub async fn user(&self, admin: bool) -> TestUser {
        self.user_in(&self.db, admin).await
    }

    /// As [`user`](Self::user), in the database `db` (one the app was
    /// pointed at by its overrides, say).
    pub async fn user_in(&self, db: &PgPool, admin: bool) -> TestUser {
        static HASH: LazyLock<String> =
            LazyLock::new(|| domain::password::hash(TEST_PASSWORD, &[42; 16]));
        let id = Uuid::now_v7();
        let email = format!("{}@example.com", id.simple());
        sqlx::query(
            "INSERT INTO users (id, email, first_name, last_name, password_hash, active, admin, \
               valid_from, valid_thru, created_by, updated_by) \
             VALUES ($1, $2, 'Test', 'User', $3, true, $4, now() - interval '1 minute', \
               now() + interval '1 year', $1, $1)",
        )
        .bind(id)
        .bind(&email)
        .bind(HASH.as_str())
        .bind(admin)
        .execute(db)
        .await
        .expect("inserting a test user");
        let claims = Claims::new(id, &email, admin, 3600);
        let token = token::mint(&claims, &self.keys.private_pem).expect("minting a token");
        TestUser { id, email, token }
    }

    pub fn call(&self, method: &str, path: &str) -> Call<'_> {
        Call {
            app: self,
            request: http::Request::builder().method(method).uri(path),
            body: Bytes::new(),
            client: None,
        }
    }

    /// `POST /api/customers` with `body`, as the holder of `token`.
    pub async fn create_customer(&self, token: &str, body: &Value) -> Reply {
        self.call("POST", "/api/customers")
            .bearer(token)
            .json(body)
            .send()
            .await
    }

    /// Outbox rows written by one request.
    pub async fn outbox_for_request(&self, request_id: &str) -> Vec<OutboxRow> {
        sqlx::query_as::<_, OutboxRow>(
            "SELECT id, object_type, object_id, action, operation, actor, before, after, request_id \
             FROM audit_outbox WHERE request_id = $1 ORDER BY seq",
        )
        .bind(request_id)
        .fetch_all(&self.db)
        .await
        .expect("reading the outbox")
    }

    /// The cached record, as Redis holds it for the key-value store.
    pub async fn cached(&self, object_type: &str, id: &str) -> Option<Vec<u8>> {
        self.cache_entry(object_type, id)
            .await
            .map(|(_, record)| record)
    }

    /// The cached record and the expiry stored with it (unix seconds).
    pub async fn cache_entry(&self, object_type: &str, id: &str) -> Option<(i64, Vec<u8>)> {
        let mut conn = self.redis.get_multiplexed_async_connection().await.ok()?;
        let stored: Vec<u8> = redis::cmd("GET")
            .arg(format!("spintemp:{object_type}:{id}"))
            .query_async::<Option<Vec<u8>>>(&mut conn)
            .await
            .ok()??;
        // `<expires at, unix s> <put at, unix ms>\n<record>` (kit::cache).
        let newline = stored.iter().position(|b| *b == b'\n')?;
        let head = std::str::from_utf8(&stored[..newline]).ok()?;
        let expires_at = head.split(' ').next()?.parse().ok()?;
        Some((expires_at, stored[newline + 1..].to_vec()))
    }

    /// Writes a cache entry as the key-value store holds it, put now.
    pub async fn put_cache_entry(
        &self,
        object_type: &str,
        id: &str,
        expires_at: i64,
        record: &[u8],
    ) {
        let mut conn = self.redis.get_multiplexed_async_connection().await.unwrap();
        let stored = cache_value(expires_at, record);
        redis::cmd("SET")
            .arg(format!("spintemp:{object_type}:{id}"))
            .arg(stored)
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
}

/// A value as kit::cache stores it, put now: `<expires at, unix s> <put at,
/// unix ms>\n<value>`.
pub fn cache_value(expires_at: i64, value: &[u8]) -> Vec<u8> {
    let put_at = chrono::Utc::now().timestamp_millis();
    let mut stored = format!("{expires_at} {put_at}\n").into_bytes();
    stored.extend_from_slice(value);
    stored
}

/// Where test requests come from unless they say otherwise: an address of
/// the documentation range (RFC 5737), so that the suite's failed logins
/// never count against 127.0.0.1, from which a developer's own app on the
/// same Redis is used.
pub const TEST_CLIENT: std::net::SocketAddr = std::net::SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1)),
    1,
);

/// The password of every [`TestApp::user`].
pub const TEST_PASSWORD: &str = "a test password";

pub struct TestUser {
    pub id: Uuid,
    pub email: String,
    pub token: String,
}

#[derive(Debug, sqlx::FromRow)]
pub struct OutboxRow {
    pub id: Uuid,
    pub object_type: String,
    pub object_id: Uuid,
    pub action: String,
    pub operation: String,
    pub actor: Uuid,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub request_id: String,
}

pub struct Call<'a> {
    app: &'a TestApp,
    request: http::request::Builder,
    body: Bytes,
    client: Option<std::net::SocketAddr>,
}

impl Call<'_> {
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    /// Sent from `client` (what Spin reports in `spin-client-addr`).
    pub fn from(mut self, client: std::net::SocketAddr) -> Self {
        self.client = Some(client);
        self
    }

    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    pub fn json(self, body: &Value) -> Self {
        self.body_bytes("application/json", serde_json::to_vec(body).unwrap())
    }

    pub fn body_bytes(mut self, content_type: &str, body: impl Into<Bytes>) -> Self {
        self.request = self.request.header("content-type", content_type);
        self.body = body.into();
        self
    }

    pub async fn send(self) -> Reply {
        let request = self.request.body(self.body).expect("a valid request");
        let response = self
            .app
            .app
            .handle_from(request, self.client.unwrap_or(TEST_CLIENT))
            .await
            .expect("the host answered");
        let (parts, body) = response.into_parts();
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }
}

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json of `status` and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status,
            status,
            "body: {}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        let body = self.json();
        assert_eq!(body["status"], status);
        assert!(
            body["title"].is_string() && body["detail"].is_string() && body["type"].is_string()
        );
        assert_eq!(
            Some(body["requestId"].as_str().unwrap()),
            self.header("x-request-id")
        );
        body
    }
}

/// The `field` of each entry of a problem's `errors`, in order.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The statuses of requests sent at once (each a task), in order.
pub async fn statuses_of(tasks: Vec<tokio::task::JoinHandle<u16>>) -> Vec<u16> {
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("the request's task"));
    }
    statuses.sort();
    statuses
}

/// A fresh request id, to find exactly what one request wrote.
pub fn request_id() -> String {
    format!("test-{}", Uuid::now_v7())
}

/// A customer code no other test uses.
pub fn unique_code(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::now_v7().simple().to_string()[20..])
}

/// `host:port` of a `scheme://[user[:password]@]host:port[/db][?…]` URL:
/// what `allowed_outbound_hosts` names.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    rest.split(['/', '?']).next().unwrap_or(rest).to_owned()
}
