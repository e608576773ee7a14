//! The built `spintemp-admin` binary, run as an operator would.
mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

use common::{relation_exists, TestDb};
use jsonwebtoken::{decode, Algorithm, DecodingKey, Validation};
use spintemp_admin::token::Claims;

/// The binary with none of its environment variables inherited from the
/// developer's shell.
fn admin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spintemp-admin"));
    for name in [
        "DATABASE_URL",
        "AUDIT_DATABASE_URL",
        "SPINTEMP_CREATE_DATABASE",
        "SPINTEMP_WAIT_SECONDS",
        "SPINTEMP_KEY_DIR",
        "SPINTEMP_KEYGEN_FORCE",
        "SPINTEMP_JWT_PRIVATE_KEY_FILE",
        "SPINTEMP_TOKEN_SUB",
        "SPINTEMP_TOKEN_EMAIL",
        "SPINTEMP_TOKEN_ADMIN",
        "SPINTEMP_TOKEN_TTL_SECONDS",
        "RUST_LOG",
    ] {
        command.env_remove(name);
    }
    command
}

fn run(command: &mut Command) -> Output {
    command.output().expect("run spintemp-admin")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("utf-8 output")
}

fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

fn verify(jwt: &str, public_key: &Path) -> Claims {
    let key = DecodingKey::from_ed_pem(&fs::read(public_key).unwrap()).unwrap();
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_issuer(&["spintemp"]);
    validation.set_audience(&["spintemp-api"]);
    decode::<Claims>(jwt, &key, &validation)
        .expect("token verifies")
        .claims
}

#[test]
fn keygen_then_token() {
    let root = tempfile::tempdir().unwrap();
    let key_dir = root.path().join("keys");

    let keygen = run(admin().args(["keygen", "--out-dir"]).arg(&key_dir));
    assert!(keygen.status.success(), "{}", text(&keygen.stderr));
    let private_key = key_dir.join("jwt_private.pem");
    let public_key = key_dir.join("jwt_public.pem");
    let stdout = text(&keygen.stdout);
    assert_eq!(
        stdout,
        format!(
            "export SPIN_VARIABLE_JWT_PUBLIC_KEY=\"$(cat {})\"\nexport SPIN_VARIABLE_JWT_PRIVATE_KEY=\"$(cat {})\"\n",
            public_key.display(),
            private_key.display()
        )
    );
    let secret = pem_body(&fs::read_to_string(&private_key).unwrap());
    assert!(!stdout.contains(&secret) && !text(&keygen.stderr).contains(&secret));

    let again = run(admin().args(["keygen", "--out-dir"]).arg(&key_dir));
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(pem_body(&fs::read_to_string(&private_key).unwrap()), secret);

    let sub = "0190f5f4-0000-7000-8000-0000000000aa";
    let minted = run(admin()
        .args(["token", "--private-key"])
        .arg(&private_key)
        .args([
            "--sub",
            sub,
            "--email",
            "duck@mymail.com",
            "--admin",
            "--ttl-seconds",
            "120",
        ]));
    assert!(minted.status.success(), "{}", text(&minted.stderr));
    let stdout = text(&minted.stdout);
    assert_eq!(stdout.lines().count(), 1, "only the token: {stdout:?}");
    let claims = verify(stdout.trim_end(), &public_key);
    assert_eq!(
        (claims.sub.as_str(), claims.email.as_str(), claims.admin),
        (sub, "duck@mymail.com", true)
    );
    assert_eq!(claims.exp - claims.iat, 120);

    let forced = run(admin()
        .args(["keygen", "--force", "--out-dir"])
        .arg(&key_dir));
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_ne!(pem_body(&fs::read_to_string(&private_key).unwrap()), secret);
}

#[test]
fn token_options_come_from_the_environment() {
    let root = tempfile::tempdir().unwrap();
    assert!(
        run(admin().arg("keygen").env("SPINTEMP_KEY_DIR", root.path()))
            .status
            .success()
    );

    let minted = run(admin()
        .arg("token")
        .env(
            "SPINTEMP_JWT_PRIVATE_KEY_FILE",
            root.path().join("jwt_private.pem"),
        )
        .env("SPINTEMP_TOKEN_EMAIL", "ant@mymail.com")
        .env("SPINTEMP_TOKEN_ADMIN", "false"));
    assert!(minted.status.success(), "{}", text(&minted.stderr));

    let claims = verify(
        text(&minted.stdout).trim_end(),
        &root.path().join("jwt_public.pem"),
    );
    assert_eq!(claims.email, "ant@mymail.com");
    assert!(!claims.admin);
    assert_eq!(claims.exp - claims.iat, 3600);
    assert_eq!(
        uuid::Uuid::parse_str(&claims.sub)
            .unwrap()
            .get_version_num(),
        7
    );
}

#[test]
fn token_refuses_a_missing_key_file() {
    let minted = run(admin().args(["token", "--private-key", "/nonexistent/jwt_private.pem"]));
    assert!(!minted.status.success());
    assert!(minted.stdout.is_empty());
}

#[tokio::test]
async fn migrate_creates_and_migrates_a_database() {
    let db = TestDb::absent();
    let migrate = run(admin().args([
        "migrate",
        "--create-database",
        "--wait-seconds",
        "5",
        "--db-url",
        &db.url,
        "--audit-db-url",
        &db.url,
    ]));
    assert!(migrate.status.success(), "{}", text(&migrate.stderr));
    assert!(migrate.stdout.is_empty());
    assert!(relation_exists(&mut db.connect().await, "customers").await);

    // Again, configured the way a container would be.
    let again = run(admin()
        .arg("migrate")
        .env("DATABASE_URL", &db.url)
        .env("AUDIT_DATABASE_URL", &db.url));
    assert!(again.status.success(), "{}", text(&again.stderr));
}

#[test]
fn migrate_fails_without_leaking_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("postgres://postgres:s3cret@127.0.0.1:{port}/x?sslmode=disable");
    let migrate = run(admin().args(["migrate", "--wait-seconds", "1", "--db-url", &url]));
    assert!(!migrate.status.success());
    let stderr = text(&migrate.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{port}/x")), "{stderr}");
    assert!(!stderr.contains("s3cret"), "{stderr}");
}
