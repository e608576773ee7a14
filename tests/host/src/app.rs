//! Loading an app: manifest, variables, routes, and one pre-instantiated
//! component per HTTP trigger.

use std::{
    collections::{HashMap, HashSet},
    path::Path,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

use anyhow::{bail, Context as _};
use wasmtime::{
    component::{HasSelf, Linker},
    Engine,
};
use wasmtime_wasi_http::bindings::ProxyPre;

use crate::{
    bindings::SpinImports,
    compile,
    kv::KvStores,
    manifest::{self, LoadedComponent},
    outbound::AllowedHosts,
    pg::PgPools,
    routes::Router,
    runtime_config::RuntimeConfig,
    state::HostState,
    variables::Variables,
    HostOptions, LogWrites, ZeroRowQueries,
};

/// Everything one component needs per request.
pub struct ComponentRuntime {
    pub id: String,
    pub pre: ProxyPre<HostState>,
    pub allowed_hosts: AllowedHosts,
    pub environment: Vec<(String, String)>,
    pub key_value_stores: HashSet<String>,
}

/// What [`crate::App::log_writes`] reports, counted as the guests write.
#[derive(Default)]
pub struct LogWriteCounts {
    whole_lines: AtomicU64,
    torn: AtomicU64,
}

impl LogWriteCounts {
    /// Counts one guest write to stdout or stderr by how it ends.
    pub fn record(&self, write: &[u8]) {
        if write.is_empty() {
            return;
        }
        let count = if write.ends_with(b"\n") {
            &self.whole_lines
        } else {
            &self.torn
        };
        count.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> LogWrites {
        LogWrites {
            whole_lines: self.whole_lines.load(Ordering::Relaxed),
            torn: self.torn.load(Ordering::Relaxed),
        }
    }
}

/// The loaded app, shared by every request and every instance.
pub struct AppInner {
    pub name: String,
    pub version: Option<String>,
    pub engine: Engine,
    pub router: Router,
    pub components: HashMap<String, Arc<ComponentRuntime>>,
    pub variables: Variables,
    pub pg_pools: PgPools,
    pub zero_row_queries: ZeroRowQueries,
    pub kv: KvStores,
    /// Guest writes to stdout/stderr (see [`crate::LogWrites`]).
    pub log_writes: Arc<LogWriteCounts>,
}

impl AppInner {
    pub async fn load(manifest_path: &Path, options: HostOptions) -> anyhow::Result<Self> {
        let manifest = manifest::load(manifest_path)?;
        let variables = Variables::new(
            manifest.variables.clone(),
            &options.variables,
            manifest
                .components
                .iter()
                .map(|c| (c.id.clone(), c.variables.clone())),
        )?;
        let router = Router::build(&manifest.routes)?;
        let runtime_config = match &options.runtime_config {
            Some(path) => RuntimeConfig::load(path)?,
            None => RuntimeConfig::default(),
        };
        let kv = KvStores::new(&runtime_config.key_value_stores)?;
        let engine = compile::engine()?;
        let linker = linker(&engine)?;

        // Like Spin's HTTP trigger, only components that a trigger names are
        // loaded (and so reachable, also through service chaining).
        let triggered: Vec<&LoadedComponent> = manifest
            .components
            .iter()
            .filter(|c| manifest.routes.iter().any(|r| r.component_id == c.id))
            .collect();
        for component in &triggered {
            kv.check_labels(&component.id, &component.key_value_stores)?;
            if !component.wasm_path.exists() {
                bail!(
                    "component {:?}: {} does not exist; build the components first \
                     (`cargo build --target wasm32-wasip2 --release`, or `spin build`)",
                    component.id,
                    component.wasm_path.display()
                );
            }
        }
        let compiled = compile_all(&engine, &triggered).await?;
        let mut components = HashMap::new();
        for (loaded, compiled) in triggered.into_iter().zip(compiled) {
            let runtime = prepare(&linker, loaded, compiled, &variables)?;
            components.insert(loaded.id.clone(), Arc::new(runtime));
        }
        Ok(Self {
            name: manifest.app_name,
            version: manifest.app_version,
            engine,
            log_writes: Arc::default(),
            router,
            components,
            variables,
            pg_pools: PgPools::default(),
            zero_row_queries: options.zero_row_queries,
            kv,
        })
    }
}

fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::add_only_http_to_linker_async(&mut linker)?;
    SpinImports::add_to_linker::<_, HasSelf<HostState>>(&mut linker, |state| state)?;
    Ok(linker)
}

/// Compiles the components in parallel (each compilation is itself
/// parallel), once per distinct `.wasm` file.
async fn compile_all(
    engine: &Engine,
    components: &[&LoadedComponent],
) -> anyhow::Result<Vec<wasmtime::component::Component>> {
    let mut paths: Vec<&Path> = components.iter().map(|c| c.wasm_path.as_path()).collect();
    paths.sort();
    paths.dedup();
    let tasks: Vec<_> = paths
        .iter()
        .map(|path| {
            let engine = engine.clone();
            let path = path.to_path_buf();
            tokio::task::spawn_blocking(move || compile::load_component(&engine, &path))
        })
        .collect();
    let mut compiled = HashMap::new();
    for (path, task) in paths.into_iter().zip(tasks) {
        compiled.insert(path, task.await??);
    }
    Ok(components
        .iter()
        .map(|c| compiled[c.wasm_path.as_path()].clone())
        .collect())
}

fn prepare(
    linker: &Linker<HostState>,
    loaded: &LoadedComponent,
    component: wasmtime::component::Component,
    variables: &Variables,
) -> anyhow::Result<ComponentRuntime> {
    let context = || format!("component {:?}", loaded.id);
    // A component importing an interface this host does not implement
    // (key-value, sqlite, ...) fails here, naming the import.
    let pre = linker.instantiate_pre(&component).with_context(context)?;
    let pre = ProxyPre::new(pre).with_context(|| {
        format!(
            "component {:?} does not export wasi:http/incoming-handler@0.2",
            loaded.id
        )
    })?;
    let allowed_hosts =
        AllowedHosts::resolve(&loaded.id, &loaded.allowed_outbound_hosts, variables)?;
    Ok(ComponentRuntime {
        id: loaded.id.clone(),
        pre,
        allowed_hosts,
        environment: loaded.environment.clone(),
        key_value_stores: loaded.key_value_stores.iter().cloned().collect(),
    })
}
