//! GET /api/openapi.json — the OpenAPI 3.1 description of every route — and,
//! as the component behind `/api/...`, the 404 for every path no operation
//! owns. It holds nothing: no variables, no outbound hosts.

use kit::Reply;
use spin_sdk::http::{IncomingRequest, ResponseOutparam};
use spin_sdk::http_component;

/// Tested against kit's route table, so the two cannot drift apart.
const OPENAPI: &str = include_str!("../api/openapi.json");

#[http_component]
async fn handle(req: IncomingRequest, out: ResponseOutparam) {
    kit::run(req, out, "openapi", |_| {
        Ok(Reply::json_bytes(200, OPENAPI.as_bytes().to_vec()))
    })
    .await
}

#[cfg(test)]
mod tests {
    use kit::routes::ROUTES;

    /// The document describes exactly the routed operations.
    #[test]
    fn openapi_describes_exactly_the_route_table() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
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
        documented.sort();
        routed.sort();
        assert_eq!(documented, routed);
    }
}
