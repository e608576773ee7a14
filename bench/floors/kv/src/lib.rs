//! The hello floor plus one key-value GET from the store `default` (a warm
//! read's cache lookup without the token check or the record).

use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;
use spin_sdk::key_value::Store;

#[http_component]
fn handle(_req: IncomingRequest) -> Response {
    match Store::open_default().and_then(|store| store.get("spintemp:bench:floor")) {
        Ok(value) => Response::new(200, value.unwrap_or_default()),
        Err(e) => Response::new(500, e.to_string()),
    }
}
