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
        "SPINTEMP_TOKEN_MAX_LIFETIME_SECONDS",
        "SPINTEMP_USER_EMAIL",
        "SPINTEMP_USER_FIRST_NAME",
        "SPINTEMP_USER_LAST_NAME",
        "SPINTEMP_USER_COMPANY",
        "SPINTEMP_USER_ADMIN",
        "SPINTEMP_USER_IF_ABSENT",
        "SPINTEMP_USER_PASSWORD",
        "SPINTEMP_SEED_PASSWORD",
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
fn keygen_writes_three_files_and_prints_their_exports() {
    let root = tempfile::tempdir().unwrap();
    let key_dir = root.path().join("keys");

    let keygen = run(admin().args(["keygen", "--out-dir"]).arg(&key_dir));
    assert!(keygen.status.success(), "{}", text(&keygen.stderr));
    let private_key = key_dir.join("jwt_private.pem");
    let public_key = key_dir.join("jwt_public.pem");
    let memo_key = key_dir.join("token_memo.key");
    let stdout = text(&keygen.stdout);
    assert_eq!(
        stdout,
        format!(
            "export SPIN_VARIABLE_JWT_PUBLIC_KEY=\"$(cat {})\"\n\
             export SPIN_VARIABLE_JWT_PRIVATE_KEY=\"$(cat {})\"\n\
             export SPIN_VARIABLE_TOKEN_MEMO_KEY=\"$(cat {})\"\n",
            public_key.display(),
            private_key.display(),
            memo_key.display()
        )
    );
    let secret = pem_body(&fs::read_to_string(&private_key).unwrap());
    let memo = fs::read_to_string(&memo_key).unwrap();
    for output in [&stdout, &text(&keygen.stderr)] {
        assert!(!output.contains(&secret) && !output.contains(&memo));
    }

    let again = run(admin().args(["keygen", "--out-dir"]).arg(&key_dir));
    assert!(!again.status.success());
    assert!(
        text(&again.stderr).contains("already exists"),
        "{}",
        text(&again.stderr)
    );
    assert_eq!(pem_body(&fs::read_to_string(&private_key).unwrap()), secret);

    // A key set from before the memo key: completed, the pair kept.
    fs::remove_file(&memo_key).unwrap();
    let completed = run(admin().args(["keygen", "--out-dir"]).arg(&key_dir));
    assert!(completed.status.success(), "{}", text(&completed.stderr));
    assert!(text(&completed.stderr).contains("kept the key pair"));
    assert_eq!(pem_body(&fs::read_to_string(&private_key).unwrap()), secret);
    assert!(memo_key.exists());

    let forced = run(admin()
        .args(["keygen", "--force", "--out-dir"])
        .arg(&key_dir));
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_ne!(pem_body(&fs::read_to_string(&private_key).unwrap()), secret);
    assert_ne!(fs::read_to_string(&memo_key).unwrap(), memo);
}

#[tokio::test]
async fn user_create_seed_and_token_against_a_database() {
    let db = TestDb::migrated().await;
    let keys = tempfile::tempdir().unwrap();
    assert!(
        run(admin().arg("keygen").env("SPINTEMP_KEY_DIR", keys.path()))
            .status
            .success()
    );
    let password = "not on the command line";

    // Configured from the environment, as a container would be.
    let create = || {
        let mut command = admin();
        command
            .args(["user", "create"])
            .env("DATABASE_URL", &db.url)
            .env("SPINTEMP_USER_EMAIL", "ana@example.com")
            .env("SPINTEMP_USER_FIRST_NAME", "Ana")
            .env("SPINTEMP_USER_LAST_NAME", "Lima")
            .env("SPINTEMP_USER_ADMIN", "true")
            .env("SPINTEMP_USER_PASSWORD", password);
        command
    };
    let created = run(&mut create());
    assert!(created.status.success(), "{}", text(&created.stderr));
    let id = text(&created.stdout).trim_end().to_owned();
    assert_eq!(uuid::Uuid::parse_str(&id).unwrap().get_version_num(), 7);
    for output in [text(&created.stdout), text(&created.stderr)] {
        assert!(
            !output.contains(password) && !output.contains("argon2"),
            "{output}"
        );
    }

    let duplicate = run(&mut create());
    assert!(!duplicate.status.success());
    assert!(
        text(&duplicate.stderr).contains("already exists"),
        "{}",
        text(&duplicate.stderr)
    );
    assert!(duplicate.stdout.is_empty());
    let absent = run(create().arg("--if-absent"));
    assert!(absent.status.success(), "{}", text(&absent.stderr));
    assert_eq!(
        text(&absent.stdout).trim_end(),
        id,
        "the existing user's id"
    );

    let bad = run(create()
        .env("SPINTEMP_USER_EMAIL", "bea@example.com")
        .env("SPINTEMP_USER_PASSWORD", "short"));
    assert!(!bad.status.success());
    assert!(
        text(&bad.stderr).contains("the password must be at least 8"),
        "{}",
        text(&bad.stderr)
    );

    let seed = || {
        let mut command = admin();
        command
            .args(["seed", "--db-url", &db.url])
            .env("SPINTEMP_SEED_PASSWORD", password);
        command
    };
    let seeded = run(&mut seed());
    assert!(seeded.status.success(), "{}", text(&seeded.stderr));
    assert_eq!(
        text(&seeded.stdout),
        "seed: created 3 users, 5 customers, 6 products, 3 promotions; \
         already there: 0 users, 0 customers, 0 products, 0 promotions\n"
    );
    // The second run needs no password.
    let again = run(seed().env_remove("SPINTEMP_SEED_PASSWORD"));
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        text(&again.stdout).contains("created 0 users, 0 customers, 0 products, 0 promotions; already there: 3 users, 5 customers, 6 products, 3 promotions")
    );

    let minted = run(admin()
        .args([
            "token",
            "--db-url",
            &db.url,
            "--email",
            "ANA@example.com",
            "--ttl-seconds",
            "120",
        ])
        .arg("--private-key")
        .arg(keys.path().join("jwt_private.pem")));
    assert!(minted.status.success(), "{}", text(&minted.stderr));
    let stdout = text(&minted.stdout);
    assert_eq!(stdout.lines().count(), 1, "only the token: {stdout:?}");
    let claims = verify(stdout.trim_end(), &keys.path().join("jwt_public.pem"));
    assert_eq!(
        (claims.sub.as_str(), claims.email.as_str(), claims.admin),
        (id.as_str(), "ana@example.com", true)
    );
    assert_eq!(claims.exp - claims.iat, 120);

    let ant = run(admin()
        .arg("token")
        .env("DATABASE_URL", &db.url)
        .env(
            "SPINTEMP_JWT_PRIVATE_KEY_FILE",
            keys.path().join("jwt_private.pem"),
        )
        .env("SPINTEMP_TOKEN_EMAIL", "ant@mymail.com"));
    assert!(ant.status.success(), "{}", text(&ant.stderr));
    let claims = verify(
        text(&ant.stdout).trim_end(),
        &keys.path().join("jwt_public.pem"),
    );
    assert_eq!(
        (claims.email.as_str(), claims.admin),
        ("ant@mymail.com", false)
    );
    assert_eq!(claims.exp - claims.iat, 3600);

    let unknown = run(admin()
        .args([
            "token",
            "--db-url",
            &db.url,
            "--email",
            "nobody@example.com",
        ])
        .arg("--private-key")
        .arg(keys.path().join("jwt_private.pem")));
    assert!(!unknown.status.success());
    assert!(unknown.stdout.is_empty());
    assert!(
        text(&unknown.stderr).contains("there is no user"),
        "{}",
        text(&unknown.stderr)
    );
}

#[test]
fn token_needs_a_user() {
    let minted = run(admin().args([
        "token",
        "--db-url",
        "postgres://127.0.0.1:1/x",
        "--private-key",
        "/nonexistent/jwt_private.pem",
    ]));
    assert!(!minted.status.success());
    assert!(
        text(&minted.stderr).contains("--email"),
        "{}",
        text(&minted.stderr)
    );
}

#[test]
fn token_refuses_a_missing_key_file() {
    let minted = run(admin().args([
        "token",
        "--db-url",
        "postgres://127.0.0.1:1/x",
        "--email",
        "ana@example.com",
        "--private-key",
        "/nonexistent/jwt_private.pem",
    ]));
    assert!(!minted.status.success());
    assert!(minted.stdout.is_empty());
    assert!(
        text(&minted.stderr).contains("cannot read"),
        "{}",
        text(&minted.stderr)
    );
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
