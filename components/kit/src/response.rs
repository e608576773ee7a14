//! What a handler returns.

use crate::error::ApiError;
use spin_sdk::http::{Fields, OutgoingResponse, ResponseOutparam};

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

    /// Sends the reply, its body complete before its head reaches the host
    /// ([`crate::body::write_around`]).
    pub(crate) fn send(self, request_id: &str, out: ResponseOutparam) {
        let mut fields: Vec<(String, Vec<u8>)> = self
            .headers
            .into_iter()
            .map(|(name, value)| (name.to_owned(), value.into_bytes()))
            .collect();
        fields.push(("x-request-id".to_owned(), request_id.as_bytes().to_vec()));
        fields.push(("cache-control".to_owned(), b"no-store".to_vec()));
        // Every value is ours or passed on from a component's reply; none
        // can be refused, but never leave the client without an answer.
        let headers = Fields::from_list(&fields).unwrap_or_else(|e| {
            crate::log_line!("request_id={request_id} response headers refused: {e:?}");
            Fields::new()
        });
        let response = OutgoingResponse::new(headers);
        let _ = response.set_status_code(self.status);
        let Ok(body) = response.body() else {
            return out.set(response);
        };
        let ((), written) = crate::body::write_around(body, &self.body, || out.set(response));
        if let Err(e) = written {
            crate::log_line!("request_id={request_id} the response body was cut short: {e}");
        }
    }
}
