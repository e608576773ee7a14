use std::env::VarError;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::builder::BoolishValueParser;
use clap::{ArgGroup, Args, Parser, Subcommand};
use spintemp_admin::users::{self, NewUser, OnDuplicate, Outcome};
use spintemp_admin::{keys, migrate, outbox, roles, seed, token};
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use tracing::info;
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

/// Where `user create` reads the password; without it, it asks.
const USER_PASSWORD_VAR: &str = "SPINTEMP_USER_PASSWORD";
/// Where `seed` reads the demo users' password; without it, it asks.
const SEED_PASSWORD_VAR: &str = "SPINTEMP_SEED_PASSWORD";

/// Admin tasks for spintemp: migrations, keys, users, demo data, tokens.
#[derive(Parser)]
#[command(name = "spintemp-admin", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the app (and audit) database migrations, then make the login
    /// role of each role URL in the environment (DB_READER_URL,
    /// DB_CUSTOMERS_URL, DB_PRODUCTS_URL, DB_PROMOTIONS_URL, DB_AUTH_URL,
    /// DB_RELAY_URL, AUDIT_DB_READER_URL) with that URL's password, a member
    /// of its group alone; safe to run on every start.
    Migrate(MigrateArgs),
    /// The Postgres roles each kind of operation connects as.
    #[command(subcommand)]
    Roles(RolesCommand),
    /// Generate the Ed25519 key pair that signs and verifies tokens, and the
    /// token memo's HMAC key.
    Keygen(KeygenArgs),
    /// Print a signed access token for an existing, active user.
    Token(TokenArgs),
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Load the demo users and customers; running it again changes nothing.
    Seed(SeedArgs),
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (active, valid for a year). The password comes from
    /// SPINTEMP_USER_PASSWORD or, if unset, is asked for on the terminal.
    Create(UserCreateArgs),
}

#[derive(Subcommand)]
enum RolesCommand {
    /// Print each role's URL as shell export lines (DB_READER_URL=... and,
    /// for those spin.toml hands on, SPIN_VARIABLE_DB_READER_URL=...): the
    /// servers and databases of --db-url and --audit-db-url, logging in as
    /// spintemp_reader_login and so on, with passwords kept in
    /// --password-dir (made on first use) or none.
    Urls(RolesUrlsArgs),
    /// Print which role does what.
    List,
}

#[derive(Args)]
struct RolesUrlsArgs {
    /// App database URL (its server and database; its user is not used).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    db_url: String,
    /// Audit store URL [default: the app database].
    #[arg(long, env = "AUDIT_DATABASE_URL", hide_env_values = true)]
    audit_db_url: Option<String>,
    /// Directory of the login roles' passwords, a file per role (mode 600);
    /// without it the URLs carry no password, for a server that trusts
    /// local connections.
    #[arg(long, env = "SPINTEMP_ROLE_PASSWORD_DIR")]
    password_dir: Option<PathBuf>,
}

#[derive(Args)]
struct MigrateArgs {
    /// App database URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    db_url: String,
    /// Audit store URL; may be the app database.
    #[arg(long, env = "AUDIT_DATABASE_URL", hide_env_values = true)]
    audit_db_url: Option<String>,
    /// Create the database(s) named in the URL(s) if missing.
    #[arg(long, env = "SPINTEMP_CREATE_DATABASE", value_parser = BoolishValueParser::new())]
    create_database: bool,
    /// How long to keep retrying while the database is unreachable.
    #[arg(long, env = "SPINTEMP_WAIT_SECONDS", default_value_t = 30)]
    wait_seconds: u64,
    /// idle_session_timeout of the app's login roles: Spin keeps a pool per
    /// role and never closes a connection, so Postgres closes those idle
    /// this long (0: never). See docs/operations.md "Postgres connections".
    #[arg(long, env = "SPINTEMP_IDLE_SESSION_SECONDS",
          default_value_t = roles::DEFAULT_IDLE_SESSION_SECONDS)]
    idle_session_seconds: u32,
}

#[derive(Args)]
struct KeygenArgs {
    /// Directory for jwt_private.pem, jwt_public.pem and token_memo.key.
    #[arg(long, env = "SPINTEMP_KEY_DIR", default_value = keys::DEFAULT_DIR)]
    out_dir: PathBuf,
    /// Replace existing key files (without it, a key pair that lacks
    /// token_memo.key gets that file alone).
    #[arg(long, env = "SPINTEMP_KEYGEN_FORCE", value_parser = BoolishValueParser::new())]
    force: bool,
}

#[derive(Args)]
#[command(group(ArgGroup::new("user").required(true).args(["email", "sub"])))]
struct TokenArgs {
    /// App database URL (the user is looked up there).
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    db_url: String,
    /// PKCS#8 PEM file of the Ed25519 signing key.
    #[arg(long, env = "SPINTEMP_JWT_PRIVATE_KEY_FILE")]
    private_key: PathBuf,
    /// The user's email (case-insensitive).
    #[arg(long, env = "SPINTEMP_TOKEN_EMAIL")]
    email: Option<String>,
    /// The user's id.
    #[arg(long, env = "SPINTEMP_TOKEN_SUB")]
    sub: Option<Uuid>,
    /// Lifetime in seconds.
    #[arg(long, env = "SPINTEMP_TOKEN_TTL_SECONDS", default_value_t = token::DEFAULT_TTL_SECONDS,
          value_parser = clap::value_parser!(i64).range(1..))]
    ttl_seconds: i64,
    /// The deployment's `token_max_lifetime_seconds`: longer lifetimes are
    /// refused, since the app would refuse such a token.
    #[arg(long, env = "SPINTEMP_TOKEN_MAX_LIFETIME_SECONDS",
          default_value_t = token::DEFAULT_MAX_LIFETIME_SECONDS,
          value_parser = clap::value_parser!(i64).range(1..))]
    max_lifetime_seconds: i64,
}

#[derive(Args)]
struct UserCreateArgs {
    /// App database URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    db_url: String,
    /// The login (unique, case-insensitive).
    #[arg(long, env = "SPINTEMP_USER_EMAIL")]
    email: String,
    /// At most 100 characters, as the API allows.
    #[arg(long, env = "SPINTEMP_USER_FIRST_NAME")]
    first_name: String,
    /// At most 100 characters.
    #[arg(long, env = "SPINTEMP_USER_LAST_NAME")]
    last_name: String,
    /// At most 255 characters [default: none].
    #[arg(long, env = "SPINTEMP_USER_COMPANY")]
    company: Option<String>,
    /// Make the user an administrator.
    #[arg(long, env = "SPINTEMP_USER_ADMIN", value_parser = BoolishValueParser::new())]
    admin: bool,
    /// If the email is taken, say so and succeed, changing nothing (and
    /// print that user's id).
    #[arg(long, env = "SPINTEMP_USER_IF_ABSENT", value_parser = BoolishValueParser::new())]
    if_absent: bool,
}

#[derive(Args)]
struct SeedArgs {
    /// App database URL.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    db_url: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    init_logging();
    match Cli::parse().command {
        Command::Migrate(args) => run_migrate(args).await,
        Command::Roles(RolesCommand::Urls(args)) => run_roles_urls(args),
        Command::Roles(RolesCommand::List) => {
            for role in roles::ROLES {
                println!("{:<28} {:<20} {}", role.group, role.env(), role.used_by);
            }
            Ok(())
        }
        Command::Keygen(args) => run_keygen(args),
        Command::Token(args) => run_token(args).await,
        Command::User(UserCommand::Create(args)) => run_user_create(args).await,
        Command::Seed(args) => run_seed(args).await,
    }
}

async fn run_migrate(args: MigrateArgs) -> Result<()> {
    let wait = Duration::from_secs(args.wait_seconds);
    if args.create_database {
        migrate::create_database_if_missing_with(&args.db_url, wait).await?;
        if let Some(audit_db_url) = &args.audit_db_url {
            migrate::create_database_if_missing_with(audit_db_url, wait).await?;
        }
    }
    // Checked before migrating: a wrong role URL changes nothing.
    let logins = roles::urls_from_env()?;
    migrate::check_logins(&args.db_url, args.audit_db_url.as_deref(), &logins, wait).await?;
    migrate::run_with(&args.db_url, args.audit_db_url.as_deref(), wait).await?;
    if logins.is_empty() {
        info!(
            "no role URLs in the environment (DB_READER_URL, ...): the groups exist, \
             and login roles of your own need to be granted them (spintemp-admin roles list)"
        );
    }
    migrate::provision_logins(
        &args.db_url,
        args.audit_db_url.as_deref(),
        &logins,
        args.idle_session_seconds,
    )
    .await
}

fn run_roles_urls(args: RolesUrlsArgs) -> Result<()> {
    let audit_db_url = args.audit_db_url.as_deref().unwrap_or(&args.db_url);
    let urls = roles::local_urls(&args.db_url, audit_db_url, args.password_dir.as_deref())?;
    print!("{}", roles::export_lines(&urls));
    Ok(())
}

fn run_keygen(args: KeygenArgs) -> Result<()> {
    let written = keys::write(&keys::generate(), &args.out_dir, args.force)?;
    let files = &written.files;
    if written.kept_pair {
        eprintln!(
            "kept the key pair in {}; wrote {} (keep it secret)",
            args.out_dir.display(),
            files.memo_key.display()
        );
    } else {
        eprintln!(
            "wrote {} and {} (keep them secret) and {}",
            files.private_key.display(),
            files.memo_key.display(),
            files.public_key.display()
        );
    }
    print!("{}", keys::export_lines(files));
    Ok(())
}

async fn run_token(args: TokenArgs) -> Result<()> {
    token::check_lifetime(args.ttl_seconds, args.max_lifetime_seconds)?;
    let private_pem = std::fs::read_to_string(&args.private_key)
        .with_context(|| format!("cannot read {}", args.private_key.display()))?;
    let user = match (args.email, args.sub) {
        (Some(email), _) => token::UserRef::Email(email),
        (None, Some(sub)) => token::UserRef::Id(sub),
        (None, None) => unreachable!("clap requires --email or --sub"),
    };
    let mut conn = connect(&args.db_url).await?;
    let claims = token::claims_for(&mut conn, &user, args.ttl_seconds).await;
    close(conn).await;
    println!("{}", token::mint(&claims?, &private_pem)?);
    Ok(())
}

async fn run_user_create(args: UserCreateArgs) -> Result<()> {
    let user = NewUser {
        email: args.email,
        first_name: args.first_name,
        last_name: args.last_name,
        company: args.company,
        admin: args.admin,
    };
    let on_duplicate = if args.if_absent {
        OnDuplicate::Skip
    } else {
        OnDuplicate::Fail
    };
    let mut conn = connect(&args.db_url).await?;
    let outcome = users::create(
        &mut conn,
        &user,
        on_duplicate,
        &outbox::request_id(),
        || read_password(USER_PASSWORD_VAR, &user.email),
    )
    .await;
    close(conn).await;
    match outcome? {
        Outcome::Created(id) => {
            eprintln!(
                "created the user {}{}",
                user.email,
                if user.admin { " (administrator)" } else { "" }
            );
            println!("{id}");
        }
        Outcome::Existed(id) => {
            eprintln!(
                "a user with the email {} already exists; nothing changed",
                user.email
            );
            println!("{id}");
        }
    }
    Ok(())
}

async fn run_seed(args: SeedArgs) -> Result<()> {
    let mut conn = connect(&args.db_url).await?;
    let report = seed::run(&mut conn, || {
        read_password(SEED_PASSWORD_VAR, "the demo users")
    })
    .await;
    close(conn).await;
    println!("{}", report?);
    Ok(())
}

async fn connect(db_url: &str) -> Result<PgConnection> {
    migrate::connect(db_url, Duration::ZERO).await
}

async fn close(conn: PgConnection) {
    // The server cleans up a dropped session too; a failed goodbye is no error.
    let _ = conn.close().await;
}

/// A password from the environment variable `var` or, when it is unset,
/// typed twice on the terminal without echo. Never from the command line:
/// every user of the machine can read a process's arguments.
fn read_password(var: &str, whose: &str) -> Result<String> {
    match std::env::var(var) {
        Ok(password) => return Ok(password),
        Err(VarError::NotUnicode(_)) => bail!("{var} is not valid UTF-8"),
        Err(VarError::NotPresent) => {}
    }
    let ask = |prompt: String| {
        rpassword::prompt_password(prompt)
            .with_context(|| format!("cannot read a password from the terminal (or set {var})"))
    };
    let password = ask(format!("Password for {whose}: "))?;
    // Said before the confirmation, so a rejected password is typed once.
    if let Some(problem) = domain::password::problem(&password) {
        bail!("the password {problem}");
    }
    if ask("The same password again: ".to_owned())? != password {
        bail!("the two passwords differ");
    }
    Ok(password)
}

/// Logs go to stderr so that stdout carries only what a script captures
/// (a token, export lines, an id, a summary).
fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        // Postgres NOTICEs ("relation ... already exists, skipping") are noise.
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
