//! The wasmtime engine (Spin-like pooling allocator, async) and component
//! compilation with an on-disk cache next to the `.wasm`, so that only the
//! first run after a component changes pays for Cranelift.

use std::{
    hash::{Hash as _, Hasher as _},
    path::{Path, PathBuf},
    sync::OnceLock,
};

use anyhow::Context as _;
use sha2::{Digest as _, Sha256};
use wasmtime::{
    component::Component, Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig,
};

const CACHE_DIR: &str = ".spintemp-host-cache";

/// The process-wide engine, configured like Spin's: async host calls and a
/// pooling allocator sized for up to 1000 concurrent instances.
///
/// One engine is shared by every `App` in the process: each pooling engine
/// reserves terabytes of address space up front, so an engine per `App`
/// would run out of address space with a few dozen apps loaded at once.
pub fn engine() -> anyhow::Result<Engine> {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    if let Some(engine) = ENGINE.get() {
        return Ok(engine.clone());
    }
    let engine = new_engine()?;
    Ok(ENGINE.get_or_init(|| engine).clone())
}

fn new_engine() -> anyhow::Result<Engine> {
    let mut pooling = PoolingAllocationConfig::default();
    pooling
        .total_component_instances(1000)
        .total_core_instances(4000)
        .total_memories(1000)
        .total_tables(2000)
        .table_elements(100_000)
        .max_component_instance_size(10 << 20)
        .max_core_instance_size(10 << 20)
        .max_core_instances_per_component(50)
        .max_memories_per_component(10)
        .max_tables_per_component(20);
    let mut config = Config::new();
    config
        .async_support(true)
        .wasm_component_model(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    Engine::new(&config)
}

/// Compiles `wasm_path`, or loads the result of an earlier compilation of
/// the same bytes with the same engine settings.
pub fn load_component(engine: &Engine, wasm_path: &Path) -> anyhow::Result<Component> {
    let bytes =
        std::fs::read(wasm_path).with_context(|| format!("reading {}", wasm_path.display()))?;
    let cached = cache_path(engine, wasm_path, &bytes);
    if let Some(cached) = &cached {
        if cached.exists() {
            // SAFETY: the file was written by `Component::serialize` below, for
            // these exact bytes and this engine configuration (both are in
            // the file name); wasmtime also checks engine compatibility.
            match unsafe { Component::deserialize_file(engine, cached) } {
                Ok(component) => return Ok(component),
                Err(e) => eprintln!(
                    "warning: ignoring unusable compilation cache {}: {e}",
                    cached.display()
                ),
            }
        }
    }
    let component = Component::new(engine, &bytes)
        .with_context(|| format!("compiling {}", wasm_path.display()))?;
    if let Some(cached) = &cached {
        if let Err(e) = store(&component, cached) {
            eprintln!("warning: not caching {}: {e:#}", cached.display());
        }
    }
    Ok(component)
}

fn cache_path(engine: &Engine, wasm_path: &Path, bytes: &[u8]) -> Option<PathBuf> {
    let dir = wasm_path.parent()?.join(CACHE_DIR);
    let stem = wasm_path.file_stem()?.to_string_lossy().into_owned();
    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let mut digest = Sha256::new();
    digest.update(bytes);
    digest.update(engine_hash.finish().to_le_bytes());
    digest.update(env!("CARGO_PKG_VERSION").as_bytes());
    let key: String = digest.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(dir.join(format!("{stem}-{key}.cwasm")))
}

/// Writes atomically (tests in parallel processes may race) and removes
/// stale entries for the same component.
fn store(component: &Component, path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().context("cache path has a parent")?;
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, component.serialize()?)?;
    std::fs::rename(&tmp, path)?;
    prune_stale(path);
    Ok(())
}

fn prune_stale(current: &Path) {
    let (Some(dir), Some(name)) = (current.parent(), current.file_name()) else {
        return;
    };
    let name = name.to_string_lossy();
    let Some((stem, _)) = name.rsplit_once('-') else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let other = entry.file_name().to_string_lossy().into_owned();
        let same_component = other
            .rsplit_once('-')
            .is_some_and(|(s, rest)| s == stem && rest.ends_with(".cwasm"));
        if same_component && other != name {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
