//! What a handler returns.

use crate::error::ApiError;
use spin_sdk::http::Response;

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    /// A JSON body that is already serialized (records come out of Postgres
    /// as JSON and go out unchanged).
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".to_owned())],
            body,
        }
    }

    pub fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply::json_bytes(status, serde_json::to_vec(value).unwrap_or_default())
    }

    pub fn no_content() -> Reply {
        Reply {
            status: 204,
            headers: vec![],
            body: vec![],
        }
    }

    pub fn problem(error: &ApiError, request_id: &str) -> Reply {
        let (body, mut headers) = error.to_problem(request_id);
        headers.push(("content-type", "application/problem+json".to_owned()));
        Reply {
            status: error.status(),
            headers,
            body,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    pub(crate) fn into_response(self, request_id: &str) -> Response {
        let mut builder = Response::builder();
        builder.status(self.status);
        for (name, value) in self.headers {
            builder.header(name, value);
        }
        builder
            .header("x-request-id", request_id)
            .header("cache-control", "no-store")
            .body(self.body)
            .build()
    }
}
