//! `spin up --runtime-config-file`: the parts this host runs.
//!
//! Only `[key_value_store.<label>]` changes what a component sees here:
//! `type = "redis"` with a `url`, or `type = "spin"` (Spin's local store; in
//! this host it lives in memory, see `kv`). Other tables (variables
//! providers, connection caps, ...) are accepted and reported as ignored, so
//! the same file serves `spin up` and the host.

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context as _};
use serde::Deserialize;

#[derive(Debug, Default)]
pub struct RuntimeConfig {
    pub key_value_stores: BTreeMap<String, StoreConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreConfig {
    Redis { url: String },
    Local,
}

#[derive(Deserialize)]
struct File {
    #[serde(default)]
    key_value_store: BTreeMap<String, toml::Table>,
    #[serde(flatten)]
    other: toml::Table,
}

impl RuntimeConfig {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading runtime config {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("runtime config {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let file: File = toml::from_str(text)?;
        for table in file.other.keys() {
            eprintln!("note: runtime config [{table}] is ignored by the test host");
        }
        let mut key_value_stores = BTreeMap::new();
        for (label, table) in file.key_value_store {
            let store =
                store_config(&table).with_context(|| format!("[key_value_store.{label}]"))?;
            key_value_stores.insert(label, store);
        }
        Ok(Self { key_value_stores })
    }
}

fn store_config(table: &toml::Table) -> anyhow::Result<StoreConfig> {
    let string = |key: &str| table.get(key).and_then(toml::Value::as_str);
    match string("type") {
        Some("redis") => {
            let url = string("url").context("a redis store needs `url`")?;
            // Like Spin: a URL the client cannot parse stops the app at start.
            redis::Client::open(url).with_context(|| format!("invalid Redis url {url:?}"))?;
            Ok(StoreConfig::Redis {
                url: url.to_owned(),
            })
        }
        Some("spin") => Ok(StoreConfig::Local),
        Some(other) => {
            bail!("store type {other:?} is not supported by the test host (redis, spin)")
        }
        None => bail!("`type` is required"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_key_value_stores_and_ignores_the_rest() {
        let config = RuntimeConfig::parse(
            r#"
            [key_value_store.default]
            type = "redis"
            url = "redis://127.0.0.1:6379"

            [key_value_store.local]
            type = "spin"
            path = ".spin/kv.db"

            [[variables_provider]]
            type = "vault"
            url = "http://127.0.0.1:8200"
            "#,
        )
        .unwrap();
        assert_eq!(
            config.key_value_stores["default"],
            StoreConfig::Redis {
                url: "redis://127.0.0.1:6379".into()
            }
        );
        assert_eq!(config.key_value_stores["local"], StoreConfig::Local);
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        for (text, needle) in [
            (
                "[key_value_store.default]\ntype = \"azure_cosmos\"",
                "azure_cosmos",
            ),
            ("[key_value_store.default]\ntype = \"redis\"", "url"),
            (
                "[key_value_store.default]\ntype = \"redis\"\nurl = \"nope\"",
                "nope",
            ),
            ("[key_value_store.default]\nurl = \"redis://x\"", "type"),
        ] {
            let err = format!("{:#}", RuntimeConfig::parse(text).unwrap_err());
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
