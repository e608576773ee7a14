//! `fermyon:spin/key-value@2.0.0`, as Spin does it.
//!
//! Stores come from the runtime config (`[key_value_store.<label>]`); `default`
//! exists without one. A component opens only the labels in its
//! `key_value_stores` (`access-denied` otherwise), and the app refuses to
//! start when a component names a label nothing defines.
//!
//! A Redis store is what Spin 3.6.3 and 4.0.2's `key-value-redis` make of
//! it, with the redis-rs version they lock (0.32.5): one
//! `ConnectionManager` for the whole app, made on the first `open` with the
//! client's defaults (no connection or response timeout; a lost connection
//! is made again in the background, 6 tries from 100 ms, doubling), and a
//! PING on every `open` whose failure is ignored. So a hung Redis holds
//! `open`, `get` and the rest for as long as it hangs, and a dead one holds
//! each call for the reconnect's tries, as under Spin. Keys are stored as
//! given. The local store (`type = "spin"`), which Spin keeps in SQLite
//! (under `.spin/` for `default`, in memory without a `path`), lives in
//! memory here for the life of the process.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use anyhow::bail;
use redis::{aio::ConnectionManager, AsyncCommands as _};
use tokio::sync::OnceCell;
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin2_0_0::key_value::{self as wit, Error};
use crate::runtime_config::StoreConfig;
use crate::state::HostState;

/// The label Spin defines for every app.
const DEFAULT_STORE: &str = "default";

/// The app's stores, by label.
pub struct KvStores {
    stores: HashMap<String, Arc<Backend>>,
}

enum Backend {
    Redis {
        client: redis::Client,
        connection: OnceCell<ConnectionManager>,
    },
    Local(Mutex<HashMap<String, Vec<u8>>>),
}

/// The host side of a guest's `store` resource.
pub struct KvStore {
    backend: Arc<Backend>,
}

impl KvStores {
    /// The configured stores, plus a local `default` unless configured.
    pub fn new(config: &BTreeMap<String, StoreConfig>) -> anyhow::Result<Self> {
        let mut stores = HashMap::new();
        for (label, store) in config {
            let backend = match store {
                StoreConfig::Redis { url } => Backend::Redis {
                    client: redis::Client::open(url.as_str())?,
                    connection: OnceCell::new(),
                },
                StoreConfig::Local => Backend::Local(Mutex::default()),
            };
            stores.insert(label.clone(), Arc::new(backend));
        }
        stores
            .entry(DEFAULT_STORE.to_owned())
            .or_insert_with(|| Arc::new(Backend::Local(Mutex::default())));
        Ok(Self { stores })
    }

    /// Spin's start-up check of a component's `key_value_stores`.
    pub fn check_labels(&self, component_id: &str, labels: &[String]) -> anyhow::Result<()> {
        for label in labels {
            if !self.stores.contains_key(label) {
                bail!("unknown key_value_stores label {label:?} for component {component_id:?}");
            }
        }
        Ok(())
    }

    fn local_store(&self, label: &str) -> anyhow::Result<&Backend> {
        match self.stores.get(label).map(Arc::as_ref) {
            Some(backend @ Backend::Local(_)) => Ok(backend),
            Some(Backend::Redis { .. }) => bail!("key-value store {label:?} is Redis, not local"),
            None => bail!("no key-value store {label:?}"),
        }
    }

    /// See `App::local_store_set`.
    pub fn local_set(&self, label: &str, key: &str, value: &[u8]) -> anyhow::Result<()> {
        self.local_store(label)?
            .local()
            .insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    /// See `App::local_store_get`.
    pub fn local_get(&self, label: &str, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        Ok(self.local_store(label)?.local().get(key).cloned())
    }
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

impl Backend {
    async fn redis(&self) -> Result<Option<ConnectionManager>, Error> {
        match self {
            Backend::Local(_) => Ok(None),
            Backend::Redis { client, connection } => connection
                .get_or_try_init(|| client.get_connection_manager())
                .await
                .map(|c| Some(c.clone()))
                .map_err(other),
        }
    }

    fn local(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        match self {
            Backend::Local(map) => map.lock().unwrap_or_else(|e| e.into_inner()),
            Backend::Redis { .. } => unreachable!("local() on a Redis store"),
        }
    }
}

impl HostState {
    fn kv_backend(&self, store: &Resource<KvStore>) -> Result<Arc<Backend>, Error> {
        self.table
            .get(store)
            .map(|s| s.backend.clone())
            .map_err(|_| Error::Other("invalid store".into()))
    }
}

impl wit::HostStore for HostState {
    async fn open(&mut self, label: String) -> Result<Resource<KvStore>, Error> {
        if !self.component.key_value_stores.contains(&label) {
            return Err(Error::AccessDenied);
        }
        let backend = self
            .app
            .kv
            .stores
            .get(&label)
            .ok_or(Error::NoSuchStore)?
            .clone();
        // Spin connects on the first open (once per app) and fails that open
        // if it cannot; every open then PINGs, ignoring the answer (the
        // connection manager reconnects on its own), but waiting for it.
        if let Some(mut redis) = backend.redis().await? {
            let _: Result<(), _> = redis::cmd("PING").query_async(&mut redis).await;
        }
        self.table
            .push(KvStore { backend })
            .map_err(|_| Error::StoreTableFull)
    }

    async fn get(
        &mut self,
        store: Resource<KvStore>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        let backend = self.kv_backend(&store)?;
        match backend.redis().await? {
            Some(mut redis) => redis.get(&key).await.map_err(other),
            None => Ok(backend.local().get(&key).cloned()),
        }
    }

    async fn set(
        &mut self,
        store: Resource<KvStore>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        let backend = self.kv_backend(&store)?;
        match backend.redis().await? {
            Some(mut redis) => redis.set(&key, value).await.map_err(other),
            None => {
                backend.local().insert(key, value);
                Ok(())
            }
        }
    }

    async fn delete(&mut self, store: Resource<KvStore>, key: String) -> Result<(), Error> {
        let backend = self.kv_backend(&store)?;
        match backend.redis().await? {
            Some(mut redis) => redis.del(&key).await.map_err(other),
            None => {
                backend.local().remove(&key);
                Ok(())
            }
        }
    }

    async fn exists(&mut self, store: Resource<KvStore>, key: String) -> Result<bool, Error> {
        let backend = self.kv_backend(&store)?;
        match backend.redis().await? {
            Some(mut redis) => redis.exists(&key).await.map_err(other),
            None => Ok(backend.local().contains_key(&key)),
        }
    }

    async fn get_keys(&mut self, store: Resource<KvStore>) -> Result<Vec<String>, Error> {
        let backend = self.kv_backend(&store)?;
        match backend.redis().await? {
            Some(mut redis) => redis.keys("*").await.map_err(other),
            None => Ok(backend.local().keys().cloned().collect()),
        }
    }

    async fn drop(&mut self, store: Resource<KvStore>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

impl wit::Host for HostState {}
