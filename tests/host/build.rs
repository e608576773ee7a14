//! Locates the WIT folder of the spin-sdk 5.2 crate that the workspace's
//! components are built with, and generates the `bindgen!` invocation over it.
//!
//! The interface definitions are third-party files: they are read from the
//! cargo registry (through `cargo metadata`, so the exact locked spin-sdk
//! version is used) instead of being copied into this repository.

use std::{
    env, fs,
    path::{Path, PathBuf},
    process::Command,
};

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=SPINTEMP_SPIN_SDK_WIT");

    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let wit_dir = match env::var_os("SPINTEMP_SPIN_SDK_WIT") {
        Some(dir) => PathBuf::from(dir),
        None => locate_spin_sdk_wit(&manifest_dir),
    };
    assert!(
        wit_dir.join("deps/spin-postgres@4.0.0").is_dir(),
        "{} does not look like the spin-sdk 5.2 WIT folder",
        wit_dir.display()
    );

    // Not Cargo.lock: it changes with every dependency anyone adds, and a
    // spin-sdk patch release does not change the WIT. Rerun if the folder
    // goes away (e.g. a cleaned cargo cache).
    println!("cargo:rerun-if-changed={}", wit_dir.display());

    // The same folder, for tests that check components against worlds built
    // on these interfaces (tests/api's least-privilege checks).
    println!(
        "cargo:rustc-env=SPINTEMP_SPIN_SDK_WIT_DIR={}",
        wit_dir.display()
    );

    let out = PathBuf::from(env::var("OUT_DIR").unwrap()).join("spin_bindings.rs");
    fs::write(&out, bindings_source(&wit_dir)).expect("writing generated bindings");
}

/// Asks cargo where the locked `spin-sdk` 5.2.x package lives.
fn locate_spin_sdk_wit(manifest_dir: &Path) -> PathBuf {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(manifest_dir)
        .args(["metadata", "--format-version", "1"])
        .output()
        .expect("running `cargo metadata` to locate spin-sdk");
    assert!(
        output.status.success(),
        "`cargo metadata` failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("parsing `cargo metadata` output");
    let manifest_path = metadata["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["name"] == "spin-sdk")
        .filter(|p| p["version"].as_str().is_some_and(|v| v.starts_with("5.2.")))
        .filter_map(|p| p["manifest_path"].as_str())
        .max()
        .expect("no spin-sdk 5.2.x in the workspace (host-probe depends on it)");
    PathBuf::from(manifest_path)
        .parent()
        .expect("spin-sdk manifest has a parent directory")
        .join("wit")
}

fn bindings_source(wit_dir: &Path) -> String {
    let path = wit_dir.display().to_string();
    format!(
        r#"wasmtime::component::bindgen!({{
    path: {path:?},
    inline: "
        package spintemp:host;
        world spin-imports {{
            import spin:postgres/postgres@4.0.0;
            import fermyon:spin/redis@2.0.0;
            import fermyon:spin/variables@2.0.0;
            import fermyon:spin/key-value@2.0.0;
        }}
    ",
    world: "spintemp:host/spin-imports",
    imports: {{ default: async }},
    require_store_data_send: true,
    with: {{
        "spin:postgres/postgres.connection": crate::pg::PgConnection,
        "fermyon:spin/redis.connection": crate::redis::RedisConnection,
        "fermyon:spin/key-value.store": crate::kv::KvStore,
    }},
}});
"#
    )
}
