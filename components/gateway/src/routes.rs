//! The API's route table: (method, path pattern) → operation component. It
//! mirrors API.md; spin.toml lists the same components as private routes and
//! as the gateway's allowed outbound hosts.

use kit::ApiError;

struct Route {
    pattern: &'static str,
    /// (method, component id)
    operations: &'static [(&'static str, &'static str)],
    /// The `Allow` header of a 405: the methods above.
    allow: &'static str,
}

const ROUTES: &[Route] = &[
    Route {
        pattern: "/api/customers",
        operations: &[("GET", "customers-list"), ("POST", "customers-create")],
        allow: "GET, POST",
    },
    Route {
        pattern: "/api/customers/:id",
        operations: &[
            ("GET", "customers-get"),
            ("PUT", "customers-update"),
            ("DELETE", "customers-delete"),
        ],
        allow: "GET, PUT, DELETE",
    },
    Route {
        pattern: "/api/audit",
        operations: &[("GET", "audit-list")],
        allow: "GET",
    },
    Route {
        pattern: "/api/audit/:id",
        operations: &[("GET", "audit-get")],
        allow: "GET",
    },
];

/// The component for this request: 404 for an unknown path, 405 (with
/// `Allow`) for a known path and the wrong method.
pub fn resolve(method: &str, path: &str) -> Result<&'static str, ApiError> {
    let route = ROUTES
        .iter()
        .find(|r| matches(r.pattern, path))
        .ok_or(ApiError::NotFound)?;
    route
        .operations
        .iter()
        .find(|(m, _)| *m == method)
        .map(|(_, component)| *component)
        .ok_or(ApiError::MethodNotAllowed(route.allow))
}

/// `:name` matches one non-empty segment; a trailing slash is ignored.
fn matches(pattern: &str, path: &str) -> bool {
    let path = path
        .strip_suffix('/')
        .filter(|p| !p.is_empty())
        .unwrap_or(path);
    let mut want = pattern.split('/');
    let mut got = path.split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return true,
            (Some(w), Some(g)) if w.starts_with(':') && !g.is_empty() => continue,
            (Some(w), Some(g)) if w == g => continue,
            _ => return false,
        }
    }
}

/// Response headers worth passing back to the client, by their static name.
pub fn response_header(name: &str) -> Option<&'static str> {
    const PASSED: &[&str] = &[
        "content-type",
        "etag",
        "location",
        "allow",
        "www-authenticate",
        "retry-after",
    ];
    PASSED
        .iter()
        .copied()
        .find(|p| p.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The OpenAPI document describes exactly the routed operations (plus
    /// the two the gateway does not forward: health and the document).
    #[test]
    fn openapi_describes_exactly_the_route_table() {
        let doc: serde_json::Value = serde_json::from_str(crate::OPENAPI).unwrap();
        let mut documented = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if method != "parameters" {
                    let pattern = path.replace("{id}", ":id");
                    documented.push((
                        method.to_uppercase(),
                        pattern,
                        op["operationId"].as_str().unwrap().to_owned(),
                    ));
                }
            }
        }
        let mut routed: Vec<_> = ROUTES
            .iter()
            .flat_map(|r| {
                r.operations
                    .iter()
                    .map(|(m, c)| (m.to_string(), r.pattern.to_owned(), c.to_string()))
            })
            .collect();
        routed.push(("GET".into(), "/api/health".into(), "health".into()));
        routed.push(("GET".into(), "/api/openapi.json".into(), "openapi".into()));
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
    }

    #[test]
    fn allow_lists_exactly_the_routed_methods() {
        for route in ROUTES {
            let methods: Vec<_> = route.operations.iter().map(|(m, _)| *m).collect();
            assert_eq!(route.allow, methods.join(", "));
        }
    }

    #[test]
    fn routes_by_method_and_path() {
        assert_eq!(resolve("GET", "/api/customers").unwrap(), "customers-list");
        assert_eq!(
            resolve("POST", "/api/customers/").unwrap(),
            "customers-create"
        );
        assert_eq!(
            resolve("PUT", "/api/customers/abc").unwrap(),
            "customers-update"
        );
        assert!(matches!(
            resolve("GET", "/api/customers/a/b"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            resolve("GET", "/api/customersx"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            resolve("PATCH", "/api/customers/abc"),
            Err(ApiError::MethodNotAllowed("GET, PUT, DELETE"))
        ));
        assert!(matches!(
            resolve("DELETE", "/api/customers"),
            Err(ApiError::MethodNotAllowed("GET, POST"))
        ));
    }
}
