//! `spintemp-admin migrate` and `roles` making the login roles each kind of
//! operation connects as, against the real Postgres.
mod common;

use std::process::{Command, Output};

use common::{maintenance, TestDb};
use spintemp_admin::roles::{self, ROLES};
use sqlx::{Connection, PgConnection};

fn admin() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_spintemp-admin"));
    command
        .env_remove("DATABASE_URL")
        .env_remove("AUDIT_DATABASE_URL");
    for role in ROLES {
        command.env_remove(role.env());
    }
    command
}

fn run(command: &mut Command) -> (bool, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = command.output().expect("run spintemp-admin");
    (
        status.success(),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}

/// Login names of this test alone: roles belong to the server, which other
/// tests share.
fn unique_login(role: &roles::Role) -> String {
    format!("{}_{}", role.default_login, uuid::Uuid::now_v7().simple())
}

#[tokio::test]
async fn migrate_makes_each_url_a_login_of_its_group_with_a_scram_password() {
    let db = TestDb::absent();
    let logins: Vec<(&roles::Role, String, String)> = ROLES
        .iter()
        .map(|role| {
            let login = unique_login(role);
            let password = format!("pw of {login}/+:@");
            let url = roles::login_url(&db.url, &login, Some(&password)).unwrap();
            (role, login, url)
        })
        .collect();
    let mut migrate = admin();
    migrate.args([
        "migrate",
        "--create-database",
        "--db-url",
        &db.url,
        "--audit-db-url",
        &db.url,
    ]);
    for (role, _, url) in &logins {
        migrate.env(role.env(), url);
    }
    let (ok, stdout, stderr) = run(&mut migrate);
    assert!(ok, "{stderr}");
    assert!(
        !stdout.contains("pw of") && !stderr.contains("pw of"),
        "a password was printed"
    );
    // Again: nothing to do, nothing refused.
    let (ok, _, stderr) = run(&mut migrate);
    assert!(ok, "{stderr}");

    let mut owner = db.connect().await;
    for (role, login, url) in &logins {
        let verifier: String =
            sqlx::query_scalar("SELECT rolpassword FROM pg_authid WHERE rolname = $1")
                .bind(login)
                .fetch_one(&mut owner)
                .await
                .unwrap();
        assert!(
            verifier.starts_with("SCRAM-SHA-256$"),
            "{login}: {verifier}"
        );
        // Its URL logs in, as its login, a member of its group alone.
        let mut conn = PgConnection::connect(url).await.unwrap();
        let groups: Vec<String> = sqlx::query_scalar(
            "SELECT g.rolname::text FROM pg_roles g \
             WHERE g.rolname <> current_user AND pg_has_role(current_user, g.oid, 'MEMBER')",
        )
        .fetch_all(&mut conn)
        .await
        .unwrap();
        assert_eq!(groups, [role.group], "{login}");
        conn.close().await.unwrap();
    }
    owner.close().await.unwrap();
    for (_, login, _) in &logins {
        drop_role(login).await;
    }
}

#[tokio::test]
async fn migrate_refuses_a_url_that_would_hold_more_than_its_group_and_names_it() {
    let fresh = TestDb::create().await;
    let db = fresh.url.clone();
    let reader = &ROLES[0];
    // The server's superuser, the group itself, one login for two roles.
    let shared = roles::login_url(&db, &unique_login(reader), None).unwrap();
    for (envs, says) in [
        (vec![(reader.env(), db.clone())], "a superuser"),
        (
            vec![(
                reader.env(),
                roles::login_url(&db, reader.group, None).unwrap(),
            )],
            "the group",
        ),
        (
            vec![
                (reader.env(), shared.clone()),
                (ROLES[1].env(), shared.clone()),
            ],
            "both log in as",
        ),
    ] {
        let mut migrate = admin();
        migrate.args(["migrate", "--db-url", &db]);
        for (name, value) in &envs {
            migrate.env(name, value);
        }
        let (ok, _, stderr) = run(&mut migrate);
        assert!(!ok, "{envs:?} was accepted");
        assert!(
            stderr.contains(&reader.env()) && stderr.contains(says),
            "{stderr}"
        );
    }
    // Refused before anything was migrated.
    let mut conn = fresh.connect().await;
    assert!(!common::relation_exists(&mut conn, "customers").await);
}

#[tokio::test]
async fn a_migration_run_without_the_rights_it_needs_names_the_right() {
    let db = TestDb::create().await;
    let login = format!("spintemp_no_rights_{}", uuid::Uuid::now_v7().simple());
    let mut server = maintenance().await;
    sqlx::raw_sql(&format!("CREATE ROLE {login} LOGIN"))
        .execute(&mut server)
        .await
        .unwrap();
    let as_nobody = roles::login_url(&db.url, &login, None).unwrap();
    let (ok, _, stderr) = run(admin().args(["migrate", "--db-url", &as_nobody]));
    assert!(!ok);
    assert!(
        stderr.contains(&format!("the role {login}"))
            && stderr.contains("permission denied for schema public"),
        "{stderr}"
    );
    drop(db);
    drop_role(&login).await;
}

async fn drop_role(login: &str) {
    let mut server = maintenance().await;
    // Its grants in the test databases go first (those may be dropped already).
    let _ = sqlx::raw_sql(&format!("DROP OWNED BY \"{login}\""))
        .execute(&mut server)
        .await;
    let _ = sqlx::raw_sql(&format!("DROP ROLE IF EXISTS \"{login}\""))
        .execute(&mut server)
        .await;
}
