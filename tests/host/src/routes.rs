//! HTTP routing with Spin's rules and the `spin-*` request headers.
//!
//! Like Spin, the matching is done by the `routefinder` crate: `:name` matches
//! one segment, a trailing `/...` matches the rest, an exact route beats a
//! parameter which beats a wildcard, and among wildcards the longest prefix
//! wins. `route = { private = true }` components get no route: they are only
//! reachable through service chaining.

use std::{collections::HashMap, net::SocketAddr};

use anyhow::{anyhow, bail};
use indexmap::IndexMap;

use crate::manifest::{LoadedRoute, RouteConfig};

#[derive(Debug, Clone)]
struct RouteHandler {
    component_id: String,
    /// The route combined with the (always `/`) base.
    based_route: String,
    /// The route as written in the manifest.
    raw_route: String,
    wildcard: bool,
}

#[derive(Debug)]
pub struct Router {
    router: routefinder::Router<RouteHandler>,
}

impl Router {
    /// Builds the router; a later route with the same pattern replaces an
    /// earlier one (Spin logs those duplicates and does the same).
    pub fn build(routes: &[LoadedRoute]) -> anyhow::Result<Self> {
        let mut unique: IndexMap<&str, RouteHandler> = IndexMap::new();
        for route in routes {
            let raw = match &route.route {
                RouteConfig::Route(raw) => raw,
                RouteConfig::Private(p) if p.private => continue,
                RouteConfig::Private(_) => bail!(
                    "route must be a string pattern or '{{ private = true }}': component '{}' has {{ private = false }}",
                    route.component_id
                ),
            };
            let based_route = sanitize(&absolutize(raw));
            let handler = RouteHandler {
                component_id: route.component_id.clone(),
                wildcard: based_route.ends_with("/..."),
                based_route,
                raw_route: raw.clone(),
            };
            if let Some(replaced) = unique.insert(raw.as_str(), handler) {
                eprintln!(
                    "warning: route {raw} of component {} is a duplicate and will never be used",
                    replaced.component_id
                );
            }
        }
        let mut router = routefinder::Router::new();
        for handler in unique.into_values() {
            let spec = match handler.based_route.strip_suffix("/...") {
                Some(prefix) => format!("{prefix}/*"),
                None => handler.based_route.clone(),
            };
            router.add(spec.as_str(), handler.clone()).map_err(|e| {
                anyhow!(
                    "Error parsing route {} associated with component {}: {e}",
                    handler.based_route,
                    handler.component_id
                )
            })?;
        }
        Ok(Self { router })
    }

    /// The best route for `path`, if any.
    pub fn route(&self, path: &str) -> Option<RouteMatch> {
        let best = self.router.best_match(path)?;
        let handler = best.handler().clone();
        let captures = best.captures();
        let named = captures
            .params()
            .iter()
            .map(|c| (c.name().to_string(), c.value().to_string()))
            .collect();
        let trailing = captures
            .wildcard()
            .map(|s| match (s.is_empty(), path.ends_with('/')) {
                (true, false) => String::new(),
                (true, true) => "/".to_string(),
                (false, false) => format!("/{s}"),
                (false, true) => format!("/{s}/"),
            })
            .unwrap_or_default();
        Some(RouteMatch {
            component_id: handler.component_id,
            based_route: handler.based_route,
            raw_route: handler.raw_route,
            named_wildcards: named,
            trailing_wildcard: trailing,
        })
    }

    /// `(component id, route for display)` in the order Spin lists them.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.router
            .iter()
            .map(|(_, h)| {
                let display = if h.wildcard {
                    format!(
                        "{} (wildcard)",
                        h.based_route.strip_suffix("/...").unwrap_or("")
                    )
                } else {
                    h.based_route.clone()
                };
                (h.component_id.clone(), display)
            })
            .collect()
    }
}

fn absolutize(route: &str) -> String {
    if route.starts_with('/') {
        route.to_string()
    } else {
        format!("/{route}")
    }
}

/// Strips a single trailing slash, as Spin does.
fn sanitize(route: &str) -> String {
    route.strip_suffix('/').unwrap_or(route).to_string()
}

/// Which component a request goes to, and what the route captured.
#[derive(Debug, Clone)]
pub struct RouteMatch {
    pub component_id: String,
    based_route: String,
    raw_route: String,
    named_wildcards: HashMap<String, String>,
    trailing_wildcard: String,
}

impl RouteMatch {
    /// The match Spin makes for a service-chaining request: as if the whole
    /// path had matched a `/...` route.
    pub fn synthetic(component_id: &str, path: &str) -> Self {
        Self {
            component_id: component_id.to_string(),
            based_route: "/...".into(),
            raw_route: "/...".into(),
            named_wildcards: HashMap::new(),
            trailing_wildcard: path.to_string(),
        }
    }

    pub fn raw_route(&self) -> &str {
        &self.raw_route
    }

    /// The `spin-*` headers Spin adds to the request the component sees.
    pub fn spin_headers(&self, full_url: &str, client_addr: SocketAddr) -> Vec<(String, String)> {
        let raw_or_prefix = self
            .raw_route
            .strip_suffix("/...")
            .unwrap_or(&self.raw_route)
            .to_string();
        let mut headers = vec![
            ("spin-path-info".into(), self.trailing_wildcard.clone()),
            ("spin-full-url".into(), full_url.to_string()),
            ("spin-matched-route".into(), self.based_route.clone()),
            ("spin-base-path".into(), "/".into()),
            ("spin-raw-component-route".into(), self.raw_route.clone()),
            ("spin-component-route".into(), raw_or_prefix),
            ("spin-client-addr".into(), client_addr.to_string()),
        ];
        for (name, value) in &self.named_wildcards {
            headers.push((
                format!(
                    "spin-path-match-{}",
                    name.to_ascii_lowercase().replace('_', "-")
                ),
                value.clone(),
            ));
        }
        headers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str)]) -> Router {
        let routes: Vec<LoadedRoute> = routes
            .iter()
            .map(|(id, route)| LoadedRoute {
                component_id: id.to_string(),
                route: RouteConfig::Route(route.to_string()),
            })
            .collect();
        Router::build(&routes).unwrap()
    }

    fn component(r: &Router, path: &str) -> Option<String> {
        r.route(path).map(|m| m.component_id)
    }

    #[test]
    fn exact_beats_wildcard_and_longest_prefix_wins() {
        let r = router(&[
            ("all", "/..."),
            ("one", "/one"),
            ("one_wild", "/one/..."),
            ("one_two_wild", "/one/two/..."),
        ]);
        assert_eq!(component(&r, "/one").as_deref(), Some("one"));
        assert_eq!(component(&r, "/one/x").as_deref(), Some("one_wild"));
        assert_eq!(
            component(&r, "/one/two/three").as_deref(),
            Some("one_two_wild")
        );
        assert_eq!(component(&r, "/").as_deref(), Some("all"));
    }

    #[test]
    fn named_segments_and_path_info() {
        let r = router(&[("probe", "/probe/:id/...")]);
        let m = r.route("/probe/42/rest/of").unwrap();
        let headers: HashMap<_, _> = m
            .spin_headers("http://h/probe/42/rest/of", "127.0.0.1:1".parse().unwrap())
            .into_iter()
            .collect();
        assert_eq!(headers["spin-path-match-id"], "42");
        assert_eq!(headers["spin-path-info"], "/rest/of");
        assert_eq!(headers["spin-matched-route"], "/probe/:id/...");
        assert_eq!(headers["spin-component-route"], "/probe/:id");
        assert_eq!(r.route("/probe/42/").unwrap().trailing_wildcard, "/");
        assert!(r.route("/other").is_none());
    }

    #[test]
    fn private_routes_are_not_routable() {
        let r = Router::build(&[LoadedRoute {
            component_id: "p".into(),
            route: RouteConfig::Private(crate::manifest::PrivateRoute { private: true }),
        }])
        .unwrap();
        assert!(r.route("/").is_none());
        assert!(r.routes().is_empty());
    }
}
