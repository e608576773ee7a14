//! `fermyon:spin/redis@2.0.0` against a real Redis, as Spin does it: one
//! multiplexed connection per `open` (no pooling across requests), addresses
//! checked against `allowed_outbound_hosts` before any I/O, and `execute`
//! replies flattened into a list of `redis-result`.

use redis::{aio::MultiplexedConnection, AsyncCommands as _, FromRedisValue, ParsingError, Value};
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
            .get_multiplexed_async_connection()
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
                if e.kind() == redis::ErrorKind::UnexpectedReturnType {
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
    fn from_redis_value(value: Value) -> Result<Self, ParsingError> {
        let mut results = Vec::new();
        flatten(&mut results, value)?;
        Ok(Self(results))
    }
}

fn flatten(out: &mut Vec<RedisResult>, value: Value) -> Result<(), ParsingError> {
    match value {
        Value::Nil => out.push(RedisResult::Nil),
        Value::Int(v) => out.push(RedisResult::Int64(v)),
        Value::BulkString(bytes) => out.push(RedisResult::Binary(bytes)),
        Value::SimpleString(s) => out.push(RedisResult::Status(s)),
        Value::Okay => out.push(RedisResult::Status("OK".to_string())),
        Value::Array(values) | Value::Set(values) => {
            for value in values {
                flatten(out, value)?;
            }
        }
        Value::Double(v) => out.push(RedisResult::Binary(v.to_string().into_bytes())),
        Value::Boolean(v) => out.push(RedisResult::Int64(i64::from(v))),
        Value::BigNumber(v) => out.push(RedisResult::Binary(v)),
        Value::Map(_) => return Err("Redis Map type is not supported".to_string().into()),
        Value::Attribute { .. } => {
            return Err("Redis Attribute type is not supported".to_string().into())
        }
        Value::VerbatimString { .. } => {
            return Err("Redis string with format attribute is not supported"
                .to_string()
                .into())
        }
        Value::Push { .. } => {
            return Err("Redis Pub/Sub types are not supported".to_string().into())
        }
        Value::ServerError(err) => return Err(format!("{err:?}").into()),
        #[allow(unreachable_patterns)]
        other => return Err(format!("unsupported Redis reply {other:?}").into()),
    }
    Ok(())
}
