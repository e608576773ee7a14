//! The parts of a Spin v2 manifest (`spin.toml`) that the test host runs.
//!
//! Fields that change what a component can do at run time but that this host
//! does not implement (files, key-value stores, SQLite, dependencies, static
//! responses, the Wagi executor, remote sources) are rejected with an error
//! instead of being ignored, so a test never silently runs a different app.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
};

use anyhow::{bail, Context as _};
use indexmap::IndexMap;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub spin_manifest_version: u32,
    pub application: Application,
    #[serde(default)]
    pub variables: HashMap<String, VariableDecl>,
    #[serde(default)]
    pub trigger: Triggers,
    #[serde(default)]
    pub component: IndexMap<String, Component>,
}

#[derive(Debug, Deserialize)]
pub struct Application {
    pub name: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub targets: Vec<String>,
    #[serde(default)]
    pub trigger: Option<toml::Table>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariableDecl {
    #[serde(default)]
    pub default: Option<String>,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Triggers {
    #[serde(default)]
    pub http: Vec<HttpTrigger>,
    #[serde(flatten)]
    pub other: HashMap<String, toml::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    #[serde(default)]
    pub id: Option<String>,
    pub route: RouteConfig,
    #[serde(default)]
    pub component: Option<ComponentRef>,
    #[serde(default)]
    pub executor: Option<toml::Table>,
    #[serde(default)]
    pub static_response: Option<toml::Table>,
}

/// `route = "/path"` or `route = { private = true }`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum RouteConfig {
    Route(String),
    Private(PrivateRoute),
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PrivateRoute {
    pub private: bool,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ComponentRef {
    Id(String),
    Inline(Box<toml::Table>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Component {
    pub source: ComponentSource,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub variables: HashMap<String, String>,
    #[serde(default)]
    pub environment: IndexMap<String, String>,
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    #[serde(default)]
    pub allowed_http_hosts: Vec<String>,
    #[serde(default)]
    pub files: Vec<toml::Value>,
    #[serde(default)]
    pub exclude_files: Vec<String>,
    #[serde(default)]
    pub key_value_stores: Vec<String>,
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    #[serde(default)]
    pub ai_models: Vec<String>,
    #[serde(default)]
    pub targets: Option<toml::Value>,
    #[serde(default)]
    pub build: Option<toml::Table>,
    #[serde(default)]
    pub tool: Option<toml::Table>,
    #[serde(default)]
    pub profile: Option<toml::Table>,
    #[serde(default)]
    pub dependencies_inherit_configuration: bool,
    #[serde(default)]
    pub dependencies: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ComponentSource {
    Local(String),
    Remote(toml::Table),
}

/// A component with its `.wasm` path made absolute.
#[derive(Debug)]
pub struct LoadedComponent {
    pub id: String,
    pub wasm_path: PathBuf,
    pub description: Option<String>,
    pub variables: HashMap<String, String>,
    pub environment: Vec<(String, String)>,
    pub allowed_outbound_hosts: Vec<String>,
    /// The key-value store labels the component may open.
    pub key_value_stores: Vec<String>,
}

/// An HTTP route as written in the manifest.
#[derive(Debug, Clone)]
pub struct LoadedRoute {
    pub component_id: String,
    pub route: RouteConfig,
}

#[derive(Debug)]
pub struct LoadedManifest {
    pub app_name: String,
    pub app_version: Option<String>,
    pub variables: HashMap<String, VariableDecl>,
    pub components: Vec<LoadedComponent>,
    pub routes: Vec<LoadedRoute>,
}

pub fn load(path: &Path) -> anyhow::Result<LoadedManifest> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading manifest {}", path.display()))?;
    let manifest: Manifest =
        toml::from_str(&text).with_context(|| format!("parsing manifest {}", path.display()))?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    resolve(manifest, &base_dir)
}

fn resolve(manifest: Manifest, base_dir: &Path) -> anyhow::Result<LoadedManifest> {
    if manifest.spin_manifest_version != 2 {
        bail!("only spin_manifest_version = 2 is supported");
    }
    if let Some(kind) = manifest.trigger.other.keys().next() {
        bail!("[[trigger.{kind}]] is not supported by the test host (HTTP triggers only)");
    }
    let routes = manifest
        .trigger
        .http
        .iter()
        .map(loaded_route)
        .collect::<anyhow::Result<Vec<_>>>()?;
    for id in manifest.component.keys() {
        check_component_id(id)
            .map_err(|why| anyhow::anyhow!("invalid component id {id:?}: {why}"))?;
    }
    for (id, component) in &manifest.component {
        for label in &component.key_value_stores {
            check_label(label).map_err(|why| {
                anyhow::anyhow!("component {id:?}: key_value_stores label {label:?}: {why}")
            })?;
        }
    }
    for route in &routes {
        check_component_id(&route.component_id).map_err(|why| {
            anyhow::anyhow!("HTTP trigger refers to {:?}: {why}", route.component_id)
        })?;
    }
    let components = manifest
        .component
        .into_iter()
        .map(|(id, component)| loaded_component(id, component, base_dir))
        .collect::<anyhow::Result<Vec<_>>>()?;
    for route in &routes {
        if !components.iter().any(|c| c.id == route.component_id) {
            bail!(
                "HTTP trigger refers to component {:?}, which is not defined",
                route.component_id
            );
        }
    }
    Ok(LoadedManifest {
        app_name: manifest.application.name,
        app_version: manifest.application.version,
        variables: manifest.variables,
        components,
        routes,
    })
}

/// Spin's rule for component ids (its `KebabId`): words separated by single
/// `-`, each starting with an ASCII letter and made of ASCII letters and
/// digits, all lower-case or all upper-case. Spin refuses the manifest
/// otherwise (`now-64`: "'-'-separated words must start with an ASCII
/// letter; got '6'"), so the host must too.
fn check_component_id(id: &str) -> Result<(), String> {
    check_id(id, '-')
}

/// Spin's rule for key-value store labels: kebab-case or snake_case words
/// as in [`check_component_id`] (`cache_2` is refused: "expected kebab-case
/// or snake_case").
fn check_label(label: &str) -> Result<(), String> {
    match check_id(label, '-').or_else(|_| check_id(label, '_')) {
        Ok(()) => Ok(()),
        Err(_) => Err("expected kebab-case or snake_case".to_owned()),
    }
}

/// Words separated by single `delim`s (Spin's `Id<DELIM>`).
fn check_id(id: &str, delim: char) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty".to_owned());
    }
    let wrong = if delim == '-' { '_' } else { '-' };
    if id.contains(wrong) {
        return Err(format!(
            "words must be separated with {delim:?}, not {wrong:?}"
        ));
    }
    for word in id.split(delim) {
        let Some(first) = word.chars().next() else {
            return Err(format!("{delim:?}-separated words must not be empty"));
        };
        if !first.is_ascii_alphabetic() {
            return Err(format!(
                "{delim:?}-separated words must start with an ASCII letter; got {first:?}"
            ));
        }
        if let Some(c) = word.chars().find(|c| !c.is_ascii_alphanumeric()) {
            return Err(format!(
                "{delim:?}-separated words may only contain alphanumeric ASCII; got {c:?}"
            ));
        }
        let upper = first.is_ascii_uppercase();
        if word
            .chars()
            .any(|c| c.is_ascii_alphabetic() && c.is_ascii_uppercase() != upper)
        {
            return Err(format!(
                "{delim:?}-separated words must be all lowercase or all UPPERCASE; got {word:?}"
            ));
        }
    }
    Ok(())
}

fn loaded_route(trigger: &HttpTrigger) -> anyhow::Result<LoadedRoute> {
    if trigger.static_response.is_some() {
        bail!("static_response triggers are not supported by the test host");
    }
    if trigger.executor.as_ref().is_some_and(|e| {
        e.get("type")
            .and_then(|t| t.as_str())
            .is_some_and(|t| t != "spin" && t != "http")
    }) {
        bail!("only the default (wasi-http) executor is supported by the test host");
    }
    let component_id = match &trigger.component {
        Some(ComponentRef::Id(id)) => id.clone(),
        Some(ComponentRef::Inline(_)) => {
            bail!("inline trigger components are not supported by the test host; use [component.<id>]")
        }
        None => bail!("every [[trigger.http]] needs a component"),
    };
    Ok(LoadedRoute {
        component_id,
        route: trigger.route.clone(),
    })
}

fn loaded_component(
    id: String,
    component: Component,
    base_dir: &Path,
) -> anyhow::Result<LoadedComponent> {
    let unsupported = [
        ("files", !component.files.is_empty()),
        ("sqlite_databases", !component.sqlite_databases.is_empty()),
        ("ai_models", !component.ai_models.is_empty()),
        ("dependencies", component.dependencies.is_some()),
        (
            "allowed_http_hosts",
            !component.allowed_http_hosts.is_empty(),
        ),
    ];
    if let Some((field, _)) = unsupported.iter().find(|(_, used)| *used) {
        bail!("component {id:?}: `{field}` is not supported by the test host");
    }
    let wasm_path = match component.source {
        ComponentSource::Local(path) => base_dir.join(path),
        ComponentSource::Remote(_) => {
            bail!("component {id:?}: only local `source` paths are supported by the test host")
        }
    };
    Ok(LoadedComponent {
        id,
        wasm_path,
        description: component.description,
        variables: component.variables,
        environment: component.environment.into_iter().collect(),
        allowed_outbound_hosts: component.allowed_outbound_hosts,
        key_value_stores: component.key_value_stores,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_routes_components_and_variables() {
        let manifest: Manifest = toml::from_str(
            r#"
            spin_manifest_version = 2
            [application]
            name = "t"
            [variables]
            v = { default = "x" }
            [[trigger.http]]
            route = "/a/..."
            component = "a"
            [[trigger.http]]
            route = { private = true }
            component = "b"
            [component.a]
            source = "a.wasm"
            allowed_outbound_hosts = ["http://b.spin.internal"]
            [component.a.variables]
            v = "{{ v }}"
            [component.b]
            source = "b.wasm"
            "#,
        )
        .unwrap();
        let loaded = resolve(manifest, Path::new("/base")).unwrap();
        assert_eq!(loaded.components.len(), 2);
        assert_eq!(loaded.components[0].wasm_path, Path::new("/base/a.wasm"));
        assert_eq!(loaded.routes[0].route, RouteConfig::Route("/a/...".into()));
        assert_eq!(
            loaded.routes[1].route,
            RouteConfig::Private(PrivateRoute { private: true })
        );
    }

    #[test]
    fn rejects_features_the_host_does_not_run() {
        let manifest: Manifest = toml::from_str(
            r#"
            spin_manifest_version = 2
            [application]
            name = "t"
            [component.a]
            source = "a.wasm"
            sqlite_databases = ["default"]
            "#,
        )
        .unwrap();
        let err = resolve(manifest, Path::new(".")).unwrap_err();
        assert!(err.to_string().contains("sqlite_databases"), "{err}");
    }

    #[test]
    fn refuses_store_labels_that_spin_refuses() {
        let load = |label: &str| {
            let manifest: Manifest = toml::from_str(&format!(
                "spin_manifest_version = 2\n[application]\nname = \"t\"\n\
                 [[trigger.http]]\nroute = \"/x\"\ncomponent = \"c\"\n\
                 [component.c]\nsource = \"x.wasm\"\nkey_value_stores = [\"{label}\"]\n"
            ))
            .unwrap();
            resolve(manifest, Path::new("."))
        };
        for label in ["default", "cache_b", "cache-b", "replica", "cache2"] {
            assert!(load(label).is_ok(), "{label}: {:?}", load(label).err());
        }
        for label in ["cache_2", "cache-2", "cache_b-c", "Cache", ""] {
            let err = load(label).unwrap_err().to_string();
            assert!(
                err.contains("expected kebab-case or snake_case"),
                "{label}: {err}"
            );
        }
    }

    #[test]
    fn refuses_component_ids_that_spin_refuses() {
        let load = |id: &str| {
            let manifest: Manifest = toml::from_str(&format!(
                "spin_manifest_version = 2\n[application]\nname = \"t\"\n\
                 [[trigger.http]]\nroute = \"/x\"\ncomponent = \"{id}\"\n\
                 [component.{id}]\nsource = \"x.wasm\"\n"
            ))
            .unwrap();
            resolve(manifest, Path::new("."))
        };
        for id in ["now", "now-bits64", "customers-get", "a1-b2", "HTTP-get"] {
            assert!(load(id).is_ok(), "{id}: {:?}", load(id).err());
        }
        for (id, why) in [
            ("now-64", "must start with an ASCII letter; got '6'"),
            ("now_64", "not '_'"),
            ("now--x", "must not be empty"),
            ("Now", "all lowercase or all UPPERCASE"),
        ] {
            let err = load(id).unwrap_err().to_string();
            assert!(err.contains(why), "{id}: {err}");
        }
    }
}
