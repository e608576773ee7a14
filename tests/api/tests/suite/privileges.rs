//! Least privilege, read off the built components instead of trusted: each
//! component fits the world spin.toml names for it in `wit/`, imports every
//! Spin API that world grants, may reach exactly the hosts those APIs need,
//! and is given no variable it never asks for.

use std::collections::BTreeSet;

use api_tests::{block_on, build_components, workspace_root};
use spintemp_host::manifest::{
    Component, ComponentRef, ComponentSource, Manifest, PrivateRoute, RouteConfig,
};
use wit_parser::{decoding::DecodedWasm, Resolve, UnresolvedPackageGroup, WorldId};

/// What spin.toml must grant a component for an API to reach anything.
#[derive(Clone, Copy)]
enum Grant {
    /// `allowed_outbound_hosts` with one of these schemes.
    Hosts(&'static [&'static str]),
    /// A `[variables]` table.
    Variables,
    /// `key_value_stores`.
    KeyValueStores,
}

/// The Spin APIs that reach outside the component, and their grants.
const SPIN_APIS: [(&str, Grant); 5] = [
    ("spin:postgres/postgres", Grant::Hosts(&["postgres"])),
    ("fermyon:spin/redis", Grant::Hosts(&["redis", "rediss"])),
    (
        "wasi:http/outgoing-handler",
        Grant::Hosts(&["http", "https"]),
    ),
    ("fermyon:spin/variables", Grant::Variables),
    ("fermyon:spin/key-value", Grant::KeyValueStores),
];

struct Built {
    id: String,
    component: Component,
    world: WorldId,
    wasm: Vec<u8>,
}

/// spin-sdk's interfaces, then our worlds over them.
fn worlds() -> Resolve {
    let mut resolve = Resolve::default();
    resolve
        .push_dir(spintemp_host::SPIN_SDK_WIT_DIR)
        .expect("the spin-sdk WIT folder resolves");
    let ours =
        UnresolvedPackageGroup::parse_dir(workspace_root().join("wit")).expect("wit/ parses");
    resolve
        .push_group(ours)
        .expect("wit/ resolves against spin-sdk's interfaces");
    resolve
}

/// Every component of spin.toml, built, with the world it names.
fn built(resolve: &Resolve) -> Vec<Built> {
    block_on(build_components()).expect("building the components");
    let root = workspace_root();
    let manifest: Manifest =
        toml::from_str(&std::fs::read_to_string(root.join("spin.toml")).unwrap()).unwrap();
    let package = resolve
        .package_names
        .iter()
        .find(|(name, _)| name.namespace == "spintemp" && name.name == "app")
        .map(|(_, id)| *id)
        .expect("wit/ defines spintemp:app");
    manifest
        .component
        .into_iter()
        .map(|(id, component)| {
            let world_name = component
                .tool
                .as_ref()
                .and_then(|tool| tool.get("spintemp"))
                .and_then(|spintemp| spintemp.get("world"))
                .and_then(|world| world.as_str())
                .unwrap_or_else(|| {
                    panic!("{id}: spin.toml names no world ([component.{id}.tool.spintemp] world)")
                })
                .to_owned();
            let world = *resolve.packages[package]
                .worlds
                .get(&world_name)
                .unwrap_or_else(|| panic!("{id}: wit/ has no world `{world_name}`"));
            let ComponentSource::Local(source) = &component.source else {
                panic!("{id}: not a local source");
            };
            let wasm = std::fs::read(root.join(source)).unwrap();
            Built {
                id,
                component,
                world,
                wasm,
            }
        })
        .collect()
}

/// `ns:pkg/interface` of every interface a world imports, versions dropped:
/// a component may import any semver-compatible version.
fn imported_interfaces(resolve: &Resolve, world: WorldId) -> BTreeSet<String> {
    resolve.worlds[world]
        .imports
        .keys()
        .filter_map(|key| match key {
            wit_parser::WorldKey::Interface(id) => resolve.id_of(*id),
            wit_parser::WorldKey::Name(_) => None,
        })
        .map(|name| match name.split_once('@') {
            Some((unversioned, _)) => unversioned.to_owned(),
            None => name,
        })
        .collect()
}

fn spin_apis(interfaces: &BTreeSet<String>) -> BTreeSet<&'static str> {
    SPIN_APIS
        .iter()
        .map(|(api, _)| *api)
        .filter(|api| interfaces.contains(*api))
        .collect()
}

#[test]
fn every_component_fits_the_world_it_names() {
    let mut resolve = worlds();
    let built = built(&resolve);
    for component in &built {
        // The components export incoming-handler@0.2.0 over the 0.2.6 types
        // they import; merging semver-compatible imports gives the world the
        // same shape, as wit-component does when it builds a component.
        resolve
            .merge_world_imports_based_on_semver(component.world)
            .unwrap();
        if let Err(e) = wit_component::targets(&resolve, component.world, &component.wasm) {
            panic!(
                "{} does not fit its world `{}`: {e:?}",
                component.id, resolve.worlds[component.world].name
            );
        }
    }
}

/// An `allowed_outbound_hosts` entry with every `{{ variable }}` replaced
/// by the app variable's default, as Spin checks it at start (an entry may
/// be a whole address, e.g. `{{ cache_address }}`).
fn with_defaults(host: &str) -> String {
    // Read once: it is called for every entry of every component.
    static MANIFEST: std::sync::LazyLock<Manifest> = std::sync::LazyLock::new(|| {
        toml::from_str(&std::fs::read_to_string(workspace_root().join("spin.toml")).unwrap())
            .unwrap()
    });
    let mut resolved = host.to_owned();
    for (name, declared) in &MANIFEST.variables {
        if let Some(default) = &declared.default {
            resolved = resolved.replace(&format!("{{{{ {name} }}}}"), default);
        }
    }
    resolved
}

#[test]
fn each_component_is_granted_exactly_the_spin_apis_it_imports() {
    let resolve = worlds();
    for component in built(&resolve) {
        let id = &component.id;
        let DecodedWasm::Component(own, own_world) =
            wit_parser::decoding::decode(&component.wasm).expect("a component")
        else {
            panic!("{id} is not a component");
        };
        let imports = spin_apis(&imported_interfaces(&own, own_world));
        let granted = spin_apis(&imported_interfaces(&resolve, component.world));
        assert_eq!(
            imports, granted,
            "{id}: imports {imports:?} but its world `{}` grants {granted:?}; \
             give it the narrowest world that covers what it imports",
            resolve.worlds[component.world].name
        );

        let hosts: Vec<String> = component
            .component
            .allowed_outbound_hosts
            .iter()
            .map(|host| with_defaults(host))
            .collect();
        let schemes: BTreeSet<&str> = hosts
            .iter()
            .map(|host| host.split_once("://").map_or(host.as_str(), |(s, _)| s))
            .collect();
        for (api, grant) in SPIN_APIS {
            let uses = imports.contains(api);
            let (granted, what) = match grant {
                Grant::Hosts(needs) => (
                    needs.iter().any(|scheme| schemes.contains(scheme)),
                    format!(
                        "{needs:?} hosts ({:?})",
                        component.component.allowed_outbound_hosts
                    ),
                ),
                Grant::Variables => (
                    !component.component.variables.is_empty(),
                    "variables".to_owned(),
                ),
                Grant::KeyValueStores => (
                    !component.component.key_value_stores.is_empty(),
                    format!("stores {:?}", component.component.key_value_stores),
                ),
            };
            assert!(
                uses || !granted,
                "{id} is granted {what} but never imports {api}"
            );
            assert!(
                granted || !uses,
                "{id} imports {api} but is granted no {what}"
            );
        }
    }
}

/// A component may chain to exactly the other operations of the path it
/// serves, and those are reachable only by chaining (private routes): the
/// front door is the only way in, and it is no wider than its route.
#[test]
fn a_component_hands_requests_on_only_to_the_operations_of_its_path() {
    let resolve = worlds();
    let root = workspace_root();
    let manifest: Manifest =
        toml::from_str(&std::fs::read_to_string(root.join("spin.toml")).unwrap()).unwrap();
    for component in built(&resolve) {
        let id = &component.id;
        let chained: BTreeSet<String> = component
            .component
            .allowed_outbound_hosts
            .iter()
            .filter_map(|host| host.strip_prefix("http://"))
            .filter_map(|host| host.strip_suffix(".spin.internal"))
            .map(str::to_owned)
            .collect();
        let others: BTreeSet<String> = kit::routes::route_of(id)
            .filter(|route| route.operations[0].1 == id)
            .map(|route| {
                route.operations[1..]
                    .iter()
                    .map(|(_, c)| c.to_string())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(chained, others, "{id} may chain to {chained:?}");
        for target in &chained {
            let public = manifest.trigger.http.iter().any(|t| {
                matches!(&t.component, Some(ComponentRef::Id(c)) if c == target)
                    && !matches!(
                        t.route,
                        RouteConfig::Private(PrivateRoute { private: true })
                    )
            });
            assert!(
                !public,
                "{target}, which {id} hands requests to, has a public route"
            );
        }
    }
}

/// A component can only ask for a variable by name, so a name that appears
/// nowhere in its `.wasm` is one it never reads: a secret it should not be
/// holding. (A name found may still be unused, e.g. `db_url` inside
/// `audit_db_url`; this catches the grants that are certainly too many.)
#[test]
fn no_component_holds_a_variable_it_never_reads() {
    let resolve = worlds();
    for component in built(&resolve) {
        for name in component.component.variables.keys() {
            assert!(
                component
                    .wasm
                    .windows(name.len())
                    .any(|window| window == name.as_bytes()),
                "{}: spin.toml gives it `{name}`, which it never reads",
                component.id
            );
        }
    }
}

/// A component may open the cache (under its three labels) only if it uses
/// it, and the replica's own store only if it keeps the memo of verified
/// tokens or the cache's breaker there: read off the `.wasm`, which names
/// the labels it opens (kit::cache::breaker::LABELS, kit::replica).
#[test]
fn no_component_may_open_a_store_it_never_names() {
    const CACHE: [&str; 3] = ["default", "cache_b", "cache_c"];
    let resolve = worlds();
    for component in built(&resolve) {
        let id = &component.id;
        let names = |label: &str| {
            component
                .wasm
                .windows(label.len())
                .any(|window| window == label.as_bytes())
        };
        let labels: BTreeSet<&str> = component
            .component
            .key_value_stores
            .iter()
            .map(String::as_str)
            .collect();
        // "default" is too common a word to look for; "cache_b" is not.
        let uses_cache = names("cache_b");
        assert_eq!(
            CACHE.iter().all(|label| labels.contains(label)),
            uses_cache,
            "{id}: stores {labels:?}"
        );
        assert!(
            uses_cache || !CACHE.iter().any(|label| labels.contains(label)),
            "{id} may open the cache, which it never uses: {labels:?}"
        );
        assert_eq!(
            labels.contains("replica"),
            names("replica"),
            "{id}: stores {labels:?}"
        );
        assert!(
            labels
                .iter()
                .all(|label| CACHE.contains(label) || *label == "replica"),
            "{id}: stores {labels:?}"
        );
    }
}

/// The signing key is readable by the two functions that mint tokens and by
/// no other: only they are given `jwt_private_key` in spin.toml (a component
/// can read no variable it is not given), and no other `.wasm` so much as
/// names it. They in turn do not hold the memo key, which would let them
/// make forged tokens pass without signing them.
#[test]
fn only_login_and_refresh_hold_the_signing_key() {
    const SIGNERS: [&str; 2] = ["auth-login", "auth-refresh"];
    let resolve = worlds();
    let built = built(&resolve);
    assert!(SIGNERS
        .iter()
        .all(|signer| built.iter().any(|c| c.id == *signer)));
    for component in &built {
        let id = component.id.as_str();
        let signer = SIGNERS.contains(&id);
        let holds = |name: &str| component.component.variables.contains_key(name);
        let names = |name: &str| {
            component
                .wasm
                .windows(name.len())
                .any(|window| window == name.as_bytes())
        };
        assert_eq!(holds("jwt_private_key"), signer, "{id} and jwt_private_key");
        assert_eq!(
            names("jwt_private_key"),
            signer,
            "{id}'s .wasm and jwt_private_key"
        );
        if signer {
            assert!(
                !holds("token_memo_key"),
                "{id} signs, so it must not hold the memo key"
            );
            assert!(!holds("jwt_public_key"), "{id} verifies no access token");
        }
    }
}
