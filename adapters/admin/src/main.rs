use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::builder::BoolishValueParser;
use clap::{Args, Parser, Subcommand};
use spintemp_admin::{keys, migrate, token};
use tracing_subscriber::EnvFilter;
use uuid::Uuid;

/// Admin tasks for spintemp: migrations, signing keys, local tokens.
#[derive(Parser)]
#[command(name = "spintemp-admin", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply the app (and audit) database migrations; safe to run on every start.
    Migrate(MigrateArgs),
    /// Generate the Ed25519 key pair that signs and verifies tokens.
    Keygen(KeygenArgs),
    /// Print a signed token for a local user (until login exists).
    Token(TokenArgs),
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
}

#[derive(Args)]
struct KeygenArgs {
    /// Directory for jwt_private.pem and jwt_public.pem.
    #[arg(long, env = "SPINTEMP_KEY_DIR", default_value = keys::DEFAULT_DIR)]
    out_dir: PathBuf,
    /// Replace existing key files.
    #[arg(long, env = "SPINTEMP_KEYGEN_FORCE", value_parser = BoolishValueParser::new())]
    force: bool,
}

#[derive(Args)]
struct TokenArgs {
    /// PKCS#8 PEM file of the Ed25519 signing key.
    #[arg(long, env = "SPINTEMP_JWT_PRIVATE_KEY_FILE")]
    private_key: PathBuf,
    /// User id [default: a new UUIDv7].
    #[arg(long, env = "SPINTEMP_TOKEN_SUB")]
    sub: Option<Uuid>,
    /// The `email` claim.
    #[arg(long, env = "SPINTEMP_TOKEN_EMAIL", default_value = "dev@example.com")]
    email: String,
    /// Make the token an administrator's.
    #[arg(long, env = "SPINTEMP_TOKEN_ADMIN", value_parser = BoolishValueParser::new())]
    admin: bool,
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    init_logging();
    match Cli::parse().command {
        Command::Migrate(args) => run_migrate(args).await,
        Command::Keygen(args) => run_keygen(args),
        Command::Token(args) => run_token(args),
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
    migrate::run_with(&args.db_url, args.audit_db_url.as_deref(), wait).await
}

fn run_keygen(args: KeygenArgs) -> Result<()> {
    let files = keys::write(&keys::generate(), &args.out_dir, args.force)?;
    eprintln!(
        "wrote {} (keep it secret) and {}",
        files.private_key.display(),
        files.public_key.display()
    );
    print!("{}", keys::export_lines(&files));
    Ok(())
}

fn run_token(args: TokenArgs) -> Result<()> {
    token::check_lifetime(args.ttl_seconds, args.max_lifetime_seconds)?;
    let private_pem = std::fs::read_to_string(&args.private_key)
        .with_context(|| format!("cannot read {}", args.private_key.display()))?;
    let sub = args.sub.unwrap_or_else(Uuid::now_v7);
    let claims = token::Claims::new(sub, &args.email, args.admin, args.ttl_seconds);
    println!("{}", token::mint(&claims, &private_pem)?);
    Ok(())
}

/// Logs go to stderr so that stdout carries only what a script captures
/// (a token, export lines).
fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        // Postgres NOTICEs ("relation ... already exists, skipping") are noise.
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
