//! Test fixture for `spintemp-host`: a spin-sdk 5.2 HTTP component that calls
//! the Spin host APIs as told and answers with JSON describing exactly what
//! the host returned (values with their `DbValue` variant names, or the error
//! variant and its text).
//!
//! The scenario is chosen by the `op` query parameter:
//! - `op=pg`: body `{"address"?, "steps": [{"query"|"execute": sql, "params"?: [{"Str": "x"}, ...]}]}`,
//!   all steps on one connection (default address: variable `db_url`);
//! - `op=redis`: body `{"address"?, "steps": [{"op": "set", "key", "value"}, ...]}`
//!   (default address: variable `redis_url`);
//! - `op=kv`: body `{"label"?, "steps": [{"op": "set", "key", "value"}, {"op": "get"|"delete"|"exists", "key"}, {"op": "keys"}]}`
//!   on one store (default label: `default`);
//! - `op=var&name=<name>`: `variables::get(name)`;
//! - `op=http`: body `{"method"?, "url", "headers"?: [[k, v]], "body"?}`, sent with `spin_sdk::http::send`;
//! - `op=counter`: how many requests this instance has handled;
//! - `op=log`: writes a line to stdout and one to stderr;
//! - `op=trap`: panics;
//! - anything else: echoes the request (method, uri, headers, body).

use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::{json, Value};
use spin_sdk::{
    http::{Method, Request, Response},
    http_component, key_value, pg4, redis, variables,
};

/// Counts requests per instance: a fresh instance per request keeps it at 1.
static INVOCATIONS: AtomicU32 = AtomicU32::new(0);

#[http_component]
async fn handle(req: Request) -> Response {
    let invocations = INVOCATIONS.fetch_add(1, Ordering::SeqCst) + 1;
    let body: Value = serde_json::from_slice(req.body()).unwrap_or(Value::Null);
    let result = match query_param(&req, "op").as_deref() {
        Some("pg") => pg_script(&body),
        Some("redis") => redis_script(&body),
        Some("kv") => kv_script(&body),
        Some("var") => variable(&query_param(&req, "name").unwrap_or_default()),
        Some("http") => outbound_http(&body).await,
        Some("counter") => json!({ "invocations": invocations }),
        Some("log") => {
            println!("probe stdout line");
            eprintln!("probe stderr line");
            json!({ "logged": true })
        }
        Some("trap") => panic!("probe was asked to trap"),
        _ => echo(&req),
    };
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(result.to_string())
        .build()
}

fn query_param(req: &Request, key: &str) -> Option<String> {
    req.query()
        .split('&')
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| percent_decode(v))
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 3;
                    }
                    Err(_) => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn echo(req: &Request) -> Value {
    let headers: Vec<Value> = req
        .headers()
        .map(|(k, v)| json!([k, String::from_utf8_lossy(v.as_bytes())]))
        .collect();
    json!({
        "method": format!("{:?}", req.method()),
        "uri": req.uri(),
        "path": req.path(),
        "query": req.query(),
        "headers": headers,
        "body": String::from_utf8_lossy(req.body()),
    })
}

fn steps(body: &Value) -> &[Value] {
    body.get("steps")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

// ---------------------------------------------------------------- variables

fn variable(name: &str) -> Value {
    match variables::get(name) {
        Ok(value) => json!({ "ok": value }),
        Err(e) => json!({ "err": variable_error(&e) }),
    }
}

fn variable_error(e: &variables::Error) -> Value {
    let (variant, text) = match e {
        variables::Error::InvalidName(t) => ("InvalidName", t),
        variables::Error::Undefined(t) => ("Undefined", t),
        variables::Error::Provider(t) => ("Provider", t),
        variables::Error::Other(t) => ("Other", t),
    };
    json!({ "variant": variant, "text": text })
}

fn address(body: &Value, variable: &str) -> Result<String, Value> {
    match body.get("address").and_then(Value::as_str) {
        Some(address) => Ok(address.to_string()),
        None => variables::get(variable).map_err(|e| variable_error(&e)),
    }
}

// ---------------------------------------------------------------- postgres

fn pg_script(body: &Value) -> Value {
    let address = match address(body, "db_url") {
        Ok(address) => address,
        Err(e) => return json!({ "open": { "err": e } }),
    };
    let conn = match pg4::Connection::open(&address) {
        Ok(conn) => conn,
        Err(e) => return json!({ "open": { "err": pg_error(&e) } }),
    };
    let results: Vec<Value> = steps(body).iter().map(|s| pg_step(&conn, s)).collect();
    json!({ "open": { "ok": null }, "results": results })
}

fn pg_step(conn: &pg4::Connection, step: &Value) -> Value {
    let params = match step
        .get("params")
        .and_then(Value::as_array)
        .map(|ps| ps.iter().map(parameter).collect::<Result<Vec<_>, _>>())
        .transpose()
    {
        Ok(params) => params.unwrap_or_default(),
        Err(e) => return json!({ "probe_error": e }),
    };
    if let Some(sql) = step.get("query").and_then(Value::as_str) {
        match conn.query(sql, &params) {
            Ok(rows) => json!({ "ok": row_set(&rows) }),
            Err(e) => json!({ "err": pg_error(&e) }),
        }
    } else if let Some(sql) = step.get("execute").and_then(Value::as_str) {
        match conn.execute(sql, &params) {
            Ok(n) => json!({ "ok": n }),
            Err(e) => json!({ "err": pg_error(&e) }),
        }
    } else {
        json!({ "probe_error": "a step needs `query` or `execute`" })
    }
}

fn pg_error(e: &pg4::PgError) -> Value {
    use pg4::PgError as E;
    match e {
        E::ConnectionFailed(t) => json!({ "variant": "ConnectionFailed", "text": t }),
        E::BadParameter(t) => json!({ "variant": "BadParameter", "text": t }),
        E::ValueConversionFailed(t) => json!({ "variant": "ValueConversionFailed", "text": t }),
        E::Other(t) => json!({ "variant": "Other", "text": t }),
        E::QueryFailed(pg4::QueryError::Text(t)) => {
            json!({ "variant": "QueryFailed", "kind": "Text", "text": t })
        }
        E::QueryFailed(pg4::QueryError::DbError(d)) => json!({
            "variant": "QueryFailed",
            "kind": "DbError",
            "code": d.code,
            "message": d.message,
            "severity": d.severity,
            "detail": d.detail,
            "as_text": d.as_text,
            "extras": d.extras,
        }),
    }
}

fn row_set(rows: &pg4::RowSet) -> Value {
    let columns: Vec<Value> = rows
        .columns
        .iter()
        .map(|c| json!({ "name": c.name, "type": format!("{:?}", c.data_type) }))
        .collect();
    let rows: Vec<Value> = rows
        .rows
        .iter()
        .map(|row| Value::Array(row.iter().map(db_value).collect()))
        .collect();
    json!({ "columns": columns, "rows": rows })
}

type Bound<T> = Option<(T, pg4::RangeBoundKind)>;

fn range<T: serde::Serialize>((lower, upper): &(Bound<T>, Bound<T>)) -> Value {
    let bound = |b: &Bound<T>| b.as_ref().map(|(v, k)| json!([v, format!("{k:?}")]));
    json!([bound(lower), bound(upper)])
}

fn db_value(value: &pg4::DbValue) -> Value {
    use pg4::DbValue as D;
    match value {
        D::Boolean(v) => json!({ "Boolean": v }),
        D::Int8(v) => json!({ "Int8": v }),
        D::Int16(v) => json!({ "Int16": v }),
        D::Int32(v) => json!({ "Int32": v }),
        D::Int64(v) => json!({ "Int64": v }),
        D::Floating32(v) => json!({ "Floating32": v }),
        D::Floating64(v) => json!({ "Floating64": v }),
        D::Str(v) => json!({ "Str": v }),
        D::Binary(v) => json!({ "Binary": v }),
        D::Date((y, m, d)) => json!({ "Date": [y, m, d] }),
        D::Time((h, m, s, ns)) => json!({ "Time": [h, m, s, ns] }),
        D::Datetime((y, mo, d, h, mi, s, ns)) => json!({ "Datetime": [y, mo, d, h, mi, s, ns] }),
        D::Timestamp(v) => json!({ "Timestamp": v }),
        D::Uuid(v) => json!({ "Uuid": v }),
        D::Jsonb(v) => json!({ "Jsonb": String::from_utf8_lossy(v) }),
        D::Decimal(v) => json!({ "Decimal": v }),
        D::RangeInt32(r) => json!({ "RangeInt32": range(r) }),
        D::RangeInt64(r) => json!({ "RangeInt64": range(r) }),
        D::RangeDecimal(r) => json!({ "RangeDecimal": range(r) }),
        D::ArrayInt32(v) => json!({ "ArrayInt32": v }),
        D::ArrayInt64(v) => json!({ "ArrayInt64": v }),
        D::ArrayDecimal(v) => json!({ "ArrayDecimal": v }),
        D::ArrayStr(v) => json!({ "ArrayStr": v }),
        D::Interval(i) => {
            json!({ "Interval": { "micros": i.micros, "days": i.days, "months": i.months } })
        }
        D::DbNull => json!({ "DbNull": null }),
        D::Unsupported(v) => json!({ "Unsupported": String::from_utf8_lossy(v) }),
    }
}

fn from<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, String> {
    serde_json::from_value(v.clone()).map_err(|e| e.to_string())
}

/// `{"Variant": value}` to a `ParameterValue`.
fn parameter(v: &Value) -> Result<pg4::ParameterValue, String> {
    use pg4::ParameterValue as P;
    let (variant, x) = v
        .as_object()
        .and_then(|o| o.iter().next())
        .ok_or("a parameter is {\"Variant\": value}")?;
    Ok(match variant.as_str() {
        "Boolean" => P::Boolean(from(x)?),
        "Int8" => P::Int8(from(x)?),
        "Int16" => P::Int16(from(x)?),
        "Int32" => P::Int32(from(x)?),
        "Int64" => P::Int64(from(x)?),
        "Floating32" => P::Floating32(from(x)?),
        "Floating64" => P::Floating64(from(x)?),
        "Str" => P::Str(from(x)?),
        "Binary" => P::Binary(from(x)?),
        "Date" => P::Date(from(x)?),
        "Time" => P::Time(from(x)?),
        "Datetime" => P::Datetime(from(x)?),
        "Timestamp" => P::Timestamp(from(x)?),
        "Uuid" => P::Uuid(from(x)?),
        "Jsonb" => P::Jsonb(serde_json::to_vec(x).map_err(|e| e.to_string())?),
        "Decimal" => P::Decimal(from(x)?),
        "ArrayInt32" => P::ArrayInt32(from(x)?),
        "ArrayInt64" => P::ArrayInt64(from(x)?),
        "ArrayDecimal" => P::ArrayDecimal(from(x)?),
        "ArrayStr" => P::ArrayStr(from(x)?),
        "DbNull" => P::DbNull,
        other => return Err(format!("unknown parameter variant {other}")),
    })
}

// ---------------------------------------------------------------- redis

fn redis_script(body: &Value) -> Value {
    let address = match address(body, "redis_url") {
        Ok(address) => address,
        Err(e) => return json!({ "open": { "err": e } }),
    };
    let conn = match redis::Connection::open(&address) {
        Ok(conn) => conn,
        Err(e) => return json!({ "open": { "err": redis_error(&e) } }),
    };
    let results: Vec<Value> = steps(body).iter().map(|s| redis_step(&conn, s)).collect();
    json!({ "open": { "ok": null }, "results": results })
}

fn kv_script(body: &Value) -> Value {
    let label = body
        .get("label")
        .and_then(Value::as_str)
        .unwrap_or("default");
    let store = match key_value::Store::open(label) {
        Ok(store) => store,
        Err(e) => return json!({ "open": { "err": kv_error(&e) } }),
    };
    let results: Vec<Value> = steps(body).iter().map(|s| kv_step(&store, s)).collect();
    json!({ "open": { "ok": null }, "results": results })
}

fn kv_step(store: &key_value::Store, step: &Value) -> Value {
    let text = |k: &str| step.get(k).and_then(Value::as_str).unwrap_or("");
    let key = text("key");
    let result: Result<Value, key_value::Error> = match text("op") {
        "get" => store
            .get(key)
            .map(|v| json!(v.map(|b| String::from_utf8_lossy(&b).into_owned()))),
        "set" => store
            .set(key, text("value").as_bytes())
            .map(|()| Value::Null),
        "delete" => store.delete(key).map(|()| Value::Null),
        "exists" => store.exists(key).map(|b| json!(b)),
        "keys" => store.get_keys().map(|keys| json!(keys)),
        other => return json!({ "err": format!("unknown kv op {other:?}") }),
    };
    match result {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "err": kv_error(&e) }),
    }
}

fn kv_error(e: &key_value::Error) -> Value {
    match e {
        key_value::Error::StoreTableFull => json!({ "variant": "StoreTableFull" }),
        key_value::Error::NoSuchStore => json!({ "variant": "NoSuchStore" }),
        key_value::Error::AccessDenied => json!({ "variant": "AccessDenied" }),
        key_value::Error::Other(t) => json!({ "variant": "Other", "text": t }),
    }
}

fn redis_error(e: &redis::Error) -> Value {
    match e {
        redis::Error::InvalidAddress => json!({ "variant": "InvalidAddress" }),
        redis::Error::TooManyConnections => json!({ "variant": "TooManyConnections" }),
        redis::Error::TypeError => json!({ "variant": "TypeError" }),
        redis::Error::Other(t) => json!({ "variant": "Other", "text": t }),
    }
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(|v| from(v).ok()).unwrap_or_default()
}

fn redis_step(conn: &redis::Connection, step: &Value) -> Value {
    let text = |k: &str| {
        step.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let result: Result<Value, redis::Error> = match text("op").as_str() {
        "get" => conn
            .get(&text("key"))
            .map(|v| json!(v.map(|b| String::from_utf8_lossy(&b).into_owned()))),
        "set" => conn
            .set(&text("key"), &text("value").into_bytes())
            .map(|()| Value::Null),
        "incr" => conn.incr(&text("key")).map(|n| json!(n)),
        "del" => conn.del(&strings(step.get("keys"))).map(|n| json!(n)),
        "sadd" => conn
            .sadd(&text("key"), &strings(step.get("values")))
            .map(|n| json!(n)),
        "smembers" => conn.smembers(&text("key")).map(|v| json!(v)),
        "srem" => conn
            .srem(&text("key"), &strings(step.get("values")))
            .map(|n| json!(n)),
        "publish" => conn
            .publish(&text("channel"), &text("payload").into_bytes())
            .map(|()| Value::Null),
        "execute" => {
            let args: Vec<redis::RedisParameter> = step
                .get("args")
                .and_then(Value::as_array)
                .map(|args| args.iter().filter_map(redis_parameter).collect())
                .unwrap_or_default();
            conn.execute(&text("command"), &args)
                .map(|results| Value::Array(results.iter().map(redis_result).collect()))
        }
        other => return json!({ "probe_error": format!("unknown redis op {other:?}") }),
    };
    match result {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "err": redis_error(&e) }),
    }
}

fn redis_parameter(v: &Value) -> Option<redis::RedisParameter> {
    let (variant, x) = v.as_object()?.iter().next()?;
    match variant.as_str() {
        "Int64" => Some(redis::RedisParameter::Int64(x.as_i64()?)),
        "Binary" => Some(redis::RedisParameter::Binary(
            x.as_str()?.as_bytes().to_vec(),
        )),
        _ => None,
    }
}

fn redis_result(r: &redis::RedisResult) -> Value {
    match r {
        redis::RedisResult::Nil => json!({ "Nil": null }),
        redis::RedisResult::Status(s) => json!({ "Status": s }),
        redis::RedisResult::Int64(n) => json!({ "Int64": n }),
        redis::RedisResult::Binary(b) => json!({ "Binary": String::from_utf8_lossy(b) }),
    }
}

// ---------------------------------------------------------------- http

async fn outbound_http(body: &Value) -> Value {
    let method = match body.get("method").and_then(Value::as_str).unwrap_or("GET") {
        "POST" => Method::Post,
        "PUT" => Method::Put,
        "DELETE" => Method::Delete,
        _ => Method::Get,
    };
    let mut builder = Request::builder();
    builder
        .method(method)
        .uri(body.get("url").and_then(Value::as_str).unwrap_or_default());
    for (k, v) in body
        .get("headers")
        .and_then(|h| from::<Vec<(String, String)>>(h).ok())
        .unwrap_or_default()
    {
        builder.header(k, v);
    }
    builder.body(
        body.get("body")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .as_bytes()
            .to_vec(),
    );
    match spin_sdk::http::send::<_, Response>(builder.build()).await {
        Ok(response) => {
            let headers: Vec<Value> = response
                .headers()
                .map(|(k, v)| json!([k, String::from_utf8_lossy(v.as_bytes())]))
                .collect();
            json!({ "ok": {
                "status": response.status(),
                "headers": headers,
                "body": String::from_utf8_lossy(response.body()),
            }})
        }
        Err(e) => json!({ "err": { "debug": format!("{e:?}"), "text": e.to_string() } }),
    }
}
