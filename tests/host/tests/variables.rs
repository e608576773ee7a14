//! `fermyon:spin/variables@2.0.0` and variable resolution at load time.
//! (Resolution from `SPIN_VARIABLE_*` is tested through the binary in
//! server.rs, to keep environment changes out of this process.)

mod common;

use common::{load_app, manifest_for_tests, pg_admin_url, probe};
use serde_json::{json, Value};
use spintemp_host::{App, HostOptions};

async fn var(app: &App, route: &str, name: &str) -> Value {
    probe(app, &format!("{route}?op=var&name={name}"), Value::Null).await
}

#[tokio::test(flavor = "multi_thread")]
async fn component_variables_are_templates_over_app_variables() {
    let app = load_app(&pg_admin_url(), &[("greeting", "from the override")]).await;
    assert_eq!(
        var(&app, "/p/", "greeting").await,
        json!({ "ok": "from the override" })
    );
    assert_eq!(
        var(&app, "/p/", "composed").await,
        json!({ "ok": "<from the override|env default>" })
    );
    assert_eq!(
        var(&app, "/p/", "redis_url").await,
        json!({ "ok": "redis://127.0.0.1:6379" })
    );
    assert_eq!(
        var(&app, "/p/", "db_url").await,
        json!({ "ok": pg_admin_url() })
    );
    assert_eq!(
        var(&app, "/p/", "token").await,
        json!({ "ok": "s3cr3t-probe-token" })
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_sees_only_its_own_variables() {
    let app = load_app(&pg_admin_url(), &[]).await;
    // An application variable is not a component variable...
    let answer = var(&app, "/p/", "probe_token").await;
    assert_eq!(answer["err"]["variant"], "Undefined", "{answer}");
    // ...nor is another component's variable.
    let answer = var(&app, "/p/", "private_only").await;
    assert_eq!(answer["err"]["variant"], "Undefined", "{answer}");
    let answer = var(&app, "/wild/", "db_url").await;
    assert_eq!(answer["err"]["variant"], "Undefined", "{answer}");
    assert!(
        !answer.to_string().contains(&pg_admin_url()),
        "the error does not leak the secret: {answer}"
    );
    let answer = var(&app, "/p/", "Not-A-Name").await;
    assert_eq!(answer["err"]["variant"], "InvalidName", "{answer}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_required_variable_without_value_fails_the_load() {
    common::build_probe().await;
    let err = App::load(
        manifest_for_tests(),
        HostOptions {
            variables: vec![("db_url".into(), pg_admin_url())],
            ..HostOptions::default()
        },
    )
    .await
    .err()
    .expect("probe_token is required");
    let message = format!("{err:#}");
    assert!(
        message.contains("no provider resolved required variable"),
        "{message}"
    );
    assert!(message.contains("probe_token"), "{message}");
    assert!(
        !message.contains(&pg_admin_url()),
        "no secret in the error: {message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn allowed_outbound_hosts_are_templated_at_load() {
    // pg_host moves probe's Postgres permission to another port.
    let app = load_app(&pg_admin_url(), &[("pg_host", "127.0.0.1:6543")]).await;
    let answer = probe(&app, "/p/?op=pg", json!({ "steps": [] })).await;
    assert_eq!(
        answer["open"]["err"]["text"],
        "address postgres://127.0.0.1:5432 is not permitted"
    );
}
