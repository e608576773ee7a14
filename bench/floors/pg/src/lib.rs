//! The hello floor plus a Postgres open and one point query (a cold read
//! without the token check, the cache or the record's JSON).

use spin_sdk::http::{IncomingRequest, Response};
use spin_sdk::http_component;
use spin_sdk::pg4::{Connection, DbValue};

#[http_component]
fn handle(_req: IncomingRequest) -> Response {
    let result = spin_sdk::variables::get("db_url")
        .map_err(|e| e.to_string())
        .and_then(|url| Connection::open(&url).map_err(|e| e.to_string()))
        .and_then(|db| db.query("SELECT 1::int4", &[]).map_err(|e| e.to_string()));
    match result {
        Ok(rows) => match rows.rows.first().map(|row| &row[0]) {
            Some(DbValue::Int32(n)) => Response::new(200, n.to_string()),
            _ => Response::new(500, "no row"),
        },
        Err(e) => Response::new(500, e),
    }
}
