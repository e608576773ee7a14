//! Counting failures (and registrations) per email and per client address
//! in Redis, through Spin's outbound Redis: `INCR`, then `EXPIRE … NX` so the
//! window starts at the first attempt and is not pushed back by later ones.
//!
//! Throttling protects the login; it must never take it down. If Redis
//! cannot be reached, every check passes and the failure is logged.

use crate::config;
use crate::error::ApiError;
use crate::request::Ctx;
use sha2::{Digest, Sha256};
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};

pub struct Throttle {
    conn: Option<Connection>,
    window_seconds: i64,
}

/// One counter and how many it may reach.
pub struct Limit {
    pub key: String,
    pub max: i64,
}

impl Limit {
    /// `spintemp:throttle:<what>:<whom>`; `max` from the variable `max_variable`.
    pub fn new(what: &str, whom: &str, max_variable: &str) -> Result<Limit, ApiError> {
        Ok(Limit {
            key: format!("spintemp:throttle:{what}:{whom}"),
            max: config::positive_number(max_variable)?,
        })
    }
}

impl Throttle {
    pub fn open() -> Result<Throttle, ApiError> {
        let window_seconds = config::positive_number("throttle_window_seconds")?;
        let url = config::required("redis_url")?;
        let conn = Connection::open(&url)
            .inspect_err(|e| crate::log_line!("throttling is off: redis unavailable: {e}"))
            .ok();
        Ok(Throttle {
            conn,
            window_seconds,
        })
    }

    /// 429 (with the seconds until the window ends) if any counter is at
    /// its limit. `why` is the problem's detail: the same whichever counter
    /// it was, so the answer does not tell whether an email has an account.
    pub fn refuse_if_over(&self, limits: &[&Limit], why: &'static str) -> Result<(), ApiError> {
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        for limit in limits {
            let count = match conn.get(&limit.key) {
                Ok(value) => value
                    .and_then(|v| String::from_utf8(v).ok())
                    .and_then(|v| v.parse::<i64>().ok())
                    .unwrap_or(0),
                Err(e) => {
                    crate::log_line!("throttling is off: redis GET failed: {e}");
                    return Ok(());
                }
            };
            if count >= limit.max {
                let retry_after = match conn.execute("TTL", &[key_parameter(&limit.key)]) {
                    Ok(reply) => match reply.first() {
                        Some(RedisResult::Int64(seconds)) if *seconds > 0 => *seconds as u64,
                        _ => self.window_seconds as u64,
                    },
                    Err(_) => self.window_seconds as u64,
                };
                return Err(ApiError::TooManyRequests(why, retry_after));
            }
        }
        Ok(())
    }

    /// One more attempt on each counter.
    pub fn count(&self, limits: &[&Limit]) {
        let Some(conn) = &self.conn else {
            return;
        };
        for limit in limits {
            let counted = conn.incr(&limit.key).and_then(|_| {
                conn.execute(
                    "EXPIRE",
                    &[
                        key_parameter(&limit.key),
                        RedisParameter::Int64(self.window_seconds),
                        RedisParameter::Binary(b"NX".to_vec()),
                    ],
                )
            });
            if let Err(e) = counted {
                crate::log_line!("throttling: redis could not count an attempt: {e}");
            }
        }
    }

    /// Forgets a counter (an email's failures, after a successful login).
    pub fn clear(&self, limit: &Limit) {
        if let Some(conn) = &self.conn {
            if let Err(e) = conn.del(&[limit.key.clone()]) {
                crate::log_line!("throttling: redis could not clear a counter: {e}");
            }
        }
    }
}

fn key_parameter(key: &str) -> RedisParameter {
    RedisParameter::Binary(key.as_bytes().to_vec())
}

/// The client's IP address as Spin reports it (`spin-client-addr`, without
/// the port). The *last* such header: a client may send its own, but the
/// host's comes after the client's headers, so a forged address cannot
/// dodge its limit.
pub fn client_address(ctx: &Ctx) -> String {
    ctx.headers()
        .iter()
        .rev()
        .find(|(name, _)| name.eq_ignore_ascii_case("spin-client-addr"))
        .and_then(|(_, value)| std::str::from_utf8(value).ok())
        .and_then(|addr| addr.parse::<std::net::SocketAddr>().ok())
        .map(|addr| addr.ip().to_string())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// An email as a counter name: hashed, so that Redis holds no addresses.
pub fn email_key(email: &str) -> String {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::email_key;

    #[test]
    fn emails_count_alike_however_they_are_typed() {
        assert_eq!(email_key("Ana@Example.com "), email_key("ana@example.com"));
        assert_ne!(email_key("ana@example.com"), email_key("ana@example.org"));
        assert!(!email_key("ana@example.com").contains("ana"));
    }
}
