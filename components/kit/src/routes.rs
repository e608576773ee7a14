//! The API's route table: (method, path pattern) → operation component.
//!
//! Spin routes by path only (spinframework/spin#1945), so spin.toml gives
//! each path to one component: the one that serves its GET, so that a read
//! is a single component instance. That component hands the path's other
//! methods on to their own components ([`crate::forward`]); every component
//! answers 404 for a path and 405 (with `Allow`) for a method its route does
//! not have. The same table is checked against the OpenAPI document.

pub struct Route {
    pub pattern: &'static str,
    /// (method, component id). The first serves the path in spin.toml: its
    /// GET where it has one.
    pub operations: &'static [(&'static str, &'static str)],
    /// The `Allow` header of a 405: the methods above.
    pub allow: &'static str,
}

pub const ROUTES: &[Route] = &[
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
        pattern: "/api/products",
        operations: &[("GET", "products-list"), ("POST", "products-create")],
        allow: "GET, POST",
    },
    Route {
        pattern: "/api/products/:id",
        operations: &[
            ("GET", "products-get"),
            ("PUT", "products-update"),
            ("DELETE", "products-delete"),
        ],
        allow: "GET, PUT, DELETE",
    },
    Route {
        pattern: "/api/promotions",
        operations: &[("GET", "promotions-list"), ("POST", "promotions-create")],
        allow: "GET, POST",
    },
    Route {
        pattern: "/api/promotions/:id",
        operations: &[
            ("GET", "promotions-get"),
            ("PUT", "promotions-update"),
            ("DELETE", "promotions-delete"),
        ],
        allow: "GET, PUT, DELETE",
    },
    // The workflow is its own operation: a status changes only here.
    Route {
        pattern: "/api/promotions/:id/transitions",
        operations: &[("POST", "promotions-transition")],
        allow: "POST",
    },
    Route {
        pattern: "/api/auth/register",
        operations: &[("POST", "auth-register")],
        allow: "POST",
    },
    Route {
        pattern: "/api/auth/login",
        operations: &[("POST", "auth-login")],
        allow: "POST",
    },
    Route {
        pattern: "/api/auth/refresh",
        operations: &[("POST", "auth-refresh")],
        allow: "POST",
    },
    Route {
        pattern: "/api/auth/logout",
        operations: &[("POST", "auth-logout")],
        allow: "POST",
    },
    Route {
        pattern: "/api/auth/me",
        operations: &[("GET", "auth-me")],
        allow: "GET",
    },
    // Users are created by registering, so the collection has no POST.
    Route {
        pattern: "/api/users",
        operations: &[("GET", "users-list")],
        allow: "GET",
    },
    Route {
        pattern: "/api/users/:id",
        operations: &[
            ("GET", "users-get"),
            ("PUT", "users-update"),
            ("DELETE", "users-delete"),
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
    Route {
        pattern: "/api/health",
        operations: &[("GET", "health")],
        allow: "GET",
    },
    Route {
        pattern: "/api/openapi.json",
        operations: &[("GET", "openapi")],
        allow: "GET",
    },
];

/// Where a request to `operation`'s component should go.
#[derive(Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// The component's own operation.
    Here,
    /// Another operation on the same path.
    Forward(&'static str),
}

/// The route `operation` belongs to.
pub fn route_of(operation: &str) -> Option<&'static Route> {
    ROUTES
        .iter()
        .find(|r| r.operations.iter().any(|(_, o)| *o == operation))
}

/// What `operation`'s component does with (method, path): 404 for a path that
/// is not its route's (Spin sent it here through a wildcard), 405 for a
/// method the route does not have.
pub fn dispatch(operation: &str, method: &str, path: &str) -> Result<Dispatch, crate::ApiError> {
    let route = route_of(operation)
        .filter(|r| matches(r.pattern, path))
        .ok_or(crate::ApiError::NotFound)?;
    match route.operations.iter().find(|(m, _)| *m == method) {
        Some((_, target)) if *target == operation => Ok(Dispatch::Here),
        Some((_, target)) => Ok(Dispatch::Forward(target)),
        None => Err(crate::ApiError::MethodNotAllowed(route.allow)),
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiError;

    #[test]
    fn allow_lists_exactly_the_routed_methods() {
        for route in ROUTES {
            let methods: Vec<_> = route.operations.iter().map(|(m, _)| *m).collect();
            assert_eq!(route.allow, methods.join(", "));
            if methods.contains(&"GET") {
                assert_eq!(
                    route.operations[0].0, "GET",
                    "{}: GET serves the path",
                    route.pattern
                );
            }
        }
    }

    #[test]
    fn each_component_serves_its_method_and_hands_on_the_others() {
        use Dispatch::*;
        assert_eq!(
            dispatch("customers-list", "GET", "/api/customers").unwrap(),
            Here
        );
        assert_eq!(
            dispatch("customers-list", "POST", "/api/customers/").unwrap(),
            Forward("customers-create")
        );
        assert_eq!(
            dispatch("customers-get", "PUT", "/api/customers/abc").unwrap(),
            Forward("customers-update")
        );
        // The target, reached by chaining, serves it.
        assert_eq!(
            dispatch("customers-update", "PUT", "/api/customers/abc").unwrap(),
            Here
        );
        assert!(matches!(
            dispatch("customers-get", "PATCH", "/api/customers/abc"),
            Err(ApiError::MethodNotAllowed("GET, PUT, DELETE"))
        ));
        assert!(matches!(
            dispatch("customers-list", "DELETE", "/api/customers"),
            Err(ApiError::MethodNotAllowed("GET, POST"))
        ));
        assert!(matches!(
            dispatch("customers-get", "GET", "/api/customers/a/b"),
            Err(ApiError::NotFound)
        ));
        // The fallback for /api/... owns only its own path.
        assert!(matches!(
            dispatch("openapi", "POST", "/api/customersx"),
            Err(ApiError::NotFound)
        ));
        assert!(matches!(
            dispatch("no-such-operation", "GET", "/api/customers"),
            Err(ApiError::NotFound)
        ));
    }
}
