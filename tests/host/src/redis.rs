//! `fermyon:spin/redis@2.0.0` against a real Redis, as Spin does it: one
//! multiplexed connection per `open` (no pooling across requests), made
//! with redis-rs 0.32's default `AsyncConnectionConfig` as Spin makes it (no
//! connection or response timeout: a hung Redis holds the call for as long
//! as it hangs), addresses checked against `allowed_outbound_hosts` before
//! any I/O, and `execute` replies flattened into a list of `redis-result`.

use redis::{
    aio::MultiplexedConnection, AsyncCommands as _, AsyncConnectionConfig, FromRedisValue,
    RedisResult as ClientResult, Value,
};
use wasmtime::component::Resource;

use crate::bindings::fermyon::spin2_0_0::redis::{self as wit, Error, RedisParameter, RedisResult};
use crate::state::HostState;

/// The host side of a guest's redis `connection` resource.
pub struct RedisConnection {
    conn: MultiplexedConnection,
}

fn other(e: impl std::fmt::Display) -> Error {
    Error::Other(e.to_string())
}

impl HostState {
    fn redis_conn(
        &mut self,
        connection: &Resource<RedisConnection>,
    ) -> Result<&mut MultiplexedConnection, Error> {
        self.table
            .get_mut(connection)
            .map(|c| &mut c.conn)
            .map_err(|_| Error::Other("could not find connection for resource".into()))
    }
}

impl wit::HostConnection for HostState {
    async fn open(&mut self, address: String) -> Result<Resource<RedisConnection>, Error> {
        let allowed = self
            .component
            .allowed_hosts
            .check_url(&address, "redis")
            .map_err(other)?;
        if !allowed {
            return Err(Error::InvalidAddress);
        }
        let conn = redis::Client::open(address.as_str())
            .map_err(|_| Error::InvalidAddress)?
            .get_multiplexed_async_connection_with_config(&AsyncConnectionConfig::new())
            .await
            .map_err(other)?;
        self.table
            .push(RedisConnection { conn })
            .map_err(|_| Error::TooManyConnections)
    }

    async fn publish(
        &mut self,
        connection: Resource<RedisConnection>,
        channel: String,
        payload: Vec<u8>,
    ) -> Result<(), Error> {
        let () = self
            .redis_conn(&connection)?
            .publish(&channel, &payload)
            .await
            .map_err(other)?;
        Ok(())
    }

    async fn get(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<Option<Vec<u8>>, Error> {
        self.redis_conn(&connection)?
            .get::<_, Option<Vec<u8>>>(&key)
            .await
            .map_err(other)
    }

    async fn set(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        value: Vec<u8>,
    ) -> Result<(), Error> {
        let () = self
            .redis_conn(&connection)?
            .set(&key, &value)
            .await
            .map_err(other)?;
        Ok(())
    }

    async fn incr(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<i64, Error> {
        self.redis_conn(&connection)?
            .incr(&key, 1)
            .await
            .map_err(other)
    }

    async fn del(
        &mut self,
        connection: Resource<RedisConnection>,
        keys: Vec<String>,
    ) -> Result<u32, Error> {
        self.redis_conn(&connection)?
            .del(&keys)
            .await
            .map_err(other)
    }

    async fn sadd(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        self.redis_conn(&connection)?
            .sadd(&key, &values)
            .await
            .map_err(|e| {
                if e.kind() == redis::ErrorKind::TypeError {
                    Error::TypeError
                } else {
                    other(e)
                }
            })
    }

    async fn smembers(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
    ) -> Result<Vec<String>, Error> {
        self.redis_conn(&connection)?
            .smembers(&key)
            .await
            .map_err(other)
    }

    async fn srem(
        &mut self,
        connection: Resource<RedisConnection>,
        key: String,
        values: Vec<String>,
    ) -> Result<u32, Error> {
        self.redis_conn(&connection)?
            .srem(&key, &values)
            .await
            .map_err(other)
    }

    async fn execute(
        &mut self,
        connection: Resource<RedisConnection>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> Result<Vec<RedisResult>, Error> {
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(v) => cmd.arg(v),
                RedisParameter::Binary(v) => cmd.arg(v),
            };
        }
        let results = cmd
            .query_async::<RedisResults>(self.redis_conn(&connection)?)
            .await
            .map_err(other)?;
        Ok(results.0)
    }

    async fn drop(&mut self, connection: Resource<RedisConnection>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

impl wit::Host for HostState {}

/// A reply as Spin hands it to the guest: nested arrays flattened, maps and
/// other RESP3-only shapes refused.
struct RedisResults(Vec<RedisResult>);

impl FromRedisValue for RedisResults {
    fn from_redis_value(value: &Value) -> ClientResult<Self> {
        let mut results = Vec::new();
        flatten(&mut results, value)?;
        Ok(Self(results))
    }
}

fn refused(what: &str) -> redis::RedisError {
    redis::RedisError::from((
        redis::ErrorKind::TypeError,
        "Could not convert Redis response",
        format!("Redis {what} is not supported"),
    ))
}

fn flatten(out: &mut Vec<RedisResult>, value: &Value) -> ClientResult<()> {
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(v) => out.push(RedisResult::Int64(*v)),
        Value::BulkString(bytes) => out.push(RedisResult::Binary(bytes.clone())),
        Value::SimpleString(s) => out.push(RedisResult::Status(s.clone())),
        Value::Okay => out.push(RedisResult::Status("OK".to_string())),
        Value::Array(values) | Value::Set(values) => {
            for value in values {
                flatten(out, value)?;
            }
        }
        Value::Double(v) => out.push(RedisResult::Binary(v.to_string().into_bytes())),
        Value::Boolean(v) => out.push(RedisResult::Int64(i64::from(*v))),
        Value::BigNumber(v) => out.push(RedisResult::Binary(v.to_string().into_bytes())),
        Value::Map(_) => return Err(refused("Map type")),
        Value::Attribute { .. } => return Err(refused("Attribute type")),
        Value::VerbatimString { .. } => return Err(refused("string with format attribute")),
        Value::Push { .. } => return Err(refused("Pub/Sub types")),
        Value::ServerError(err) => {
            return Err(redis::RedisError::from((
                redis::ErrorKind::ResponseError,
                "Server error",
                format!("{err:?}"),
            )))
        }
    }
    Ok(())
}
