//! Cache-aside over Redis. The cache is an optimisation: when Redis is down or
//! unset, reads go to Postgres and writes still succeed.

use crate::config;
use spin_sdk::redis::{Connection, RedisParameter};
use uuid::Uuid;

pub struct Cache {
    conn: Option<Connection>,
}

/// `spintemp:<objectType>:<id>`: one key per record.
pub fn key(object_type: &str, id: Uuid) -> String {
    format!("spintemp:{object_type}:{id}")
}

impl Cache {
    pub fn open() -> Cache {
        let conn =
            config::required("redis_url")
                .ok()
                .and_then(|url| match Connection::open(&url) {
                    Ok(conn) => Some(conn),
                    Err(e) => {
                        eprintln!("cache unavailable, reading through: {e}");
                        None
                    }
                });
        Cache { conn }
    }

    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let conn = self.conn.as_ref()?;
        conn.get(key)
            .inspect_err(|e| eprintln!("cache get failed: {e}"))
            .ok()
            .flatten()
    }

    /// Only readers fill the cache, so only they read (and are given)
    /// `cache_ttl_seconds`.
    pub fn put(&self, key: &str, value: &[u8]) {
        if let Some(conn) = &self.conn {
            let ttl_seconds = config::number_or("cache_ttl_seconds", 60).clamp(1, 86_400) as i64;
            let args = [
                RedisParameter::Binary(key.as_bytes().to_vec()),
                RedisParameter::Binary(value.to_vec()),
                RedisParameter::Binary(b"EX".to_vec()),
                RedisParameter::Int64(ttl_seconds),
            ];
            if let Err(e) = conn.execute("SET", &args) {
                eprintln!("cache put failed: {e}");
            }
        }
    }

    /// After a committed change. If Redis is unreachable the stale entry
    /// lives at most `cache_ttl_seconds`.
    pub fn invalidate(&self, key: &str) {
        if let Some(conn) = &self.conn {
            if let Err(e) = conn.del(&[key.to_owned()]) {
                eprintln!("cache invalidation failed for {key}: {e}");
            }
        }
    }
}

/// For the health check: can Redis answer at all?
pub fn ping() -> Result<(), String> {
    let url = config::required("redis_url").map_err(|_| "redis_url is not set".to_owned())?;
    let conn = Connection::open(&url).map_err(|e| e.to_string())?;
    conn.execute("PING", &[])
        .map(|_| ())
        .map_err(|e| e.to_string())
}
