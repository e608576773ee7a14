//! Conversions between `spin:postgres@4.0.0` values and tokio-postgres, with
//! Spin's exact type mapping.
//!
//! The mapping is deliberately Spin's, quirks included, because components
//! must not work here and fail under Spin: `timestamp` and `timestamptz`
//! columns both decode through `chrono::NaiveDateTime`, which only accepts
//! `timestamp`, so reading a `timestamptz` fails; `json` (unlike `jsonb`) comes
//! back as `Unsupported`; parameters are bound as a fixed Rust type, so a
//! `uuid` parameter only works where Postgres infers `uuid`.

use std::error::Error as StdError;

use anyhow::{anyhow, Context as _};
use bytes::BytesMut;
use tokio_postgres::{
    types::{to_sql_checked, FromSql, IsNull, ToSql, Type},
    Row,
};

use crate::bindings::spin::postgres4_0_0::postgres::{
    Column, DbDataType, DbValue, Interval as WitInterval, ParameterValue, RangeBoundKind,
};

type BoxError = Box<dyn StdError + Sync + Send>;

pub fn data_type(pg_type: &Type) -> DbDataType {
    match *pg_type {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(pg_type.name().to_owned()),
    }
}

pub fn columns(row: &Row) -> Vec<Column> {
    row.columns()
        .iter()
        .map(|c| Column {
            name: c.name().to_owned(),
            data_type: data_type(c.type_()),
        })
        .collect()
}

pub fn convert_row(row: &Row) -> anyhow::Result<Vec<DbValue>> {
    (0..row.len()).map(|i| convert_entry(row, i)).collect()
}

fn value<'a, T: FromSql<'a>>(
    row: &'a Row,
    index: usize,
    ctor: impl FnOnce(T) -> anyhow::Result<DbValue>,
) -> anyhow::Result<DbValue> {
    match row.try_get::<_, Option<T>>(index)? {
        Some(v) => ctor(v),
        None => Ok(DbValue::DbNull),
    }
}

fn convert_entry(row: &Row, index: usize) -> anyhow::Result<DbValue> {
    match row.columns()[index].type_() {
        &Type::BOOL => value(row, index, |v| Ok(DbValue::Boolean(v))),
        &Type::BYTEA => value(row, index, |v| Ok(DbValue::Binary(v))),
        &Type::FLOAT4 => value(row, index, |v| Ok(DbValue::Floating32(v))),
        &Type::FLOAT8 => value(row, index, |v| Ok(DbValue::Floating64(v))),
        &Type::INT2 => value(row, index, |v| Ok(DbValue::Int16(v))),
        &Type::INT4 => value(row, index, |v| Ok(DbValue::Int32(v))),
        &Type::INT8 => value(row, index, |v| Ok(DbValue::Int64(v))),
        &Type::TEXT | &Type::VARCHAR | &Type::BPCHAR => value(row, index, |v| Ok(DbValue::Str(v))),
        &Type::TIMESTAMP | &Type::TIMESTAMPTZ => value(row, index, |v: chrono::NaiveDateTime| {
            Ok(DbValue::Datetime(datetime_to_wit(v)?))
        }),
        &Type::DATE => value(row, index, |v: chrono::NaiveDate| {
            use chrono::Datelike;
            Ok(DbValue::Date((
                v.year(),
                v.month().try_into()?,
                v.day().try_into()?,
            )))
        }),
        &Type::TIME => value(row, index, |v: chrono::NaiveTime| {
            Ok(DbValue::Time(time_to_wit(v)?))
        }),
        &Type::UUID => value(row, index, |v: uuid::Uuid| Ok(DbValue::Uuid(v.to_string()))),
        &Type::JSONB => value(row, index, |v: serde_json::Value| {
            Ok(DbValue::Jsonb(
                serde_json::to_vec(&v).context("invalid JSON from database")?,
            ))
        }),
        &Type::NUMERIC => value(row, index, |v: rust_decimal::Decimal| {
            Ok(DbValue::Decimal(v.to_string()))
        }),
        &Type::INT4_RANGE => value(row, index, |v: postgres_range::Range<i32>| {
            Ok(DbValue::RangeInt32(range_to_wit(&v, |x| *x)))
        }),
        &Type::INT8_RANGE => value(row, index, |v: postgres_range::Range<i64>| {
            Ok(DbValue::RangeInt64(range_to_wit(&v, |x| *x)))
        }),
        &Type::NUM_RANGE => value(row, index, |v: postgres_range::Range<RangeableDecimal>| {
            Ok(DbValue::RangeDecimal(range_to_wit(&v, |d| d.0.to_string())))
        }),
        &Type::INT4_ARRAY => value(row, index, |v| Ok(DbValue::ArrayInt32(v))),
        &Type::INT8_ARRAY => value(row, index, |v| Ok(DbValue::ArrayInt64(v))),
        &Type::NUMERIC_ARRAY => value(row, index, |v: Vec<Option<rust_decimal::Decimal>>| {
            Ok(DbValue::ArrayDecimal(
                v.iter().map(|d| d.map(|d| d.to_string())).collect(),
            ))
        }),
        &Type::TEXT_ARRAY | &Type::VARCHAR_ARRAY | &Type::BPCHAR_ARRAY => {
            value(row, index, |v| Ok(DbValue::ArrayStr(v)))
        }
        &Type::INTERVAL => value(row, index, |v: Interval| Ok(DbValue::Interval(v.0))),
        _ => value(row, index, |v: Other| Ok(DbValue::Unsupported(v.0))),
    }
}

fn datetime_to_wit(v: chrono::NaiveDateTime) -> anyhow::Result<(i32, u8, u8, u8, u8, u8, u32)> {
    use chrono::{Datelike, Timelike};
    Ok((
        v.year(),
        v.month().try_into()?,
        v.day().try_into()?,
        v.hour().try_into()?,
        v.minute().try_into()?,
        v.second().try_into()?,
        v.nanosecond(),
    ))
}

fn time_to_wit(v: chrono::NaiveTime) -> anyhow::Result<(u8, u8, u8, u32)> {
    use chrono::Timelike;
    Ok((
        v.hour().try_into()?,
        v.minute().try_into()?,
        v.second().try_into()?,
        v.nanosecond(),
    ))
}

type WitRange<T> = (Option<(T, RangeBoundKind)>, Option<(T, RangeBoundKind)>);

fn range_to_wit<T, W>(range: &postgres_range::Range<T>, convert: impl Fn(&T) -> W) -> WitRange<W>
where
    T: PartialOrd + postgres_range::Normalizable,
{
    fn kind(t: postgres_range::BoundType) -> RangeBoundKind {
        match t {
            postgres_range::BoundType::Inclusive => RangeBoundKind::Inclusive,
            postgres_range::BoundType::Exclusive => RangeBoundKind::Exclusive,
        }
    }
    (
        range.lower().map(|b| (convert(&b.value), kind(b.type_))),
        range.upper().map(|b| (convert(&b.value), kind(b.type_))),
    )
}

fn range_from_wit<T, W>(
    (lower, upper): &WitRange<W>,
    convert: impl Fn(&W) -> anyhow::Result<T>,
) -> anyhow::Result<postgres_range::Range<T>>
where
    T: PartialOrd + postgres_range::Normalizable,
{
    fn kind(k: &RangeBoundKind) -> postgres_range::BoundType {
        match k {
            RangeBoundKind::Inclusive => postgres_range::BoundType::Inclusive,
            RangeBoundKind::Exclusive => postgres_range::BoundType::Exclusive,
        }
    }
    let lower = lower
        .as_ref()
        .map(|(v, k)| anyhow::Ok(postgres_range::RangeBound::new(convert(v)?, kind(k))))
        .transpose()?;
    let upper = upper
        .as_ref()
        .map(|(v, k)| anyhow::Ok(postgres_range::RangeBound::new(convert(v)?, kind(k))))
        .transpose()?;
    Ok(postgres_range::Range::new(lower, upper))
}

fn decimal(value: &str) -> anyhow::Result<rust_decimal::Decimal> {
    rust_decimal::Decimal::from_str_exact(value).with_context(|| format!("invalid decimal {value}"))
}

/// The Rust value a parameter is bound as; Postgres checks it against the
/// type it inferred for the placeholder.
pub fn to_sql(value: &ParameterValue) -> anyhow::Result<Box<dyn ToSql + Send + Sync>> {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
    Ok(match value {
        ParameterValue::Boolean(v) => Box::new(*v),
        ParameterValue::Int8(v) => Box::new(*v),
        ParameterValue::Int16(v) => Box::new(*v),
        ParameterValue::Int32(v) => Box::new(*v),
        ParameterValue::Int64(v) => Box::new(*v),
        ParameterValue::Floating32(v) => Box::new(*v),
        ParameterValue::Floating64(v) => Box::new(*v),
        ParameterValue::Str(v) => Box::new(v.clone()),
        ParameterValue::Binary(v) => Box::new(v.clone()),
        ParameterValue::Date((y, m, d)) => Box::new(
            NaiveDate::from_ymd_opt(*y, (*m).into(), (*d).into())
                .ok_or_else(|| anyhow!("invalid date y={y}, m={m}, d={d}"))?,
        ),
        ParameterValue::Time((h, min, s, ns)) => Box::new(
            NaiveTime::from_hms_nano_opt((*h).into(), (*min).into(), (*s).into(), *ns)
                .ok_or_else(|| anyhow!("invalid time {h}:{min}:{s}:{ns}"))?,
        ),
        ParameterValue::Datetime((y, mon, d, h, min, s, ns)) => {
            let date = NaiveDate::from_ymd_opt(*y, (*mon).into(), (*d).into())
                .ok_or_else(|| anyhow!("invalid date y={y}, m={mon}, d={d}"))?;
            let time = NaiveTime::from_hms_nano_opt((*h).into(), (*min).into(), (*s).into(), *ns)
                .ok_or_else(|| anyhow!("invalid time {h}:{min}:{s}:{ns}"))?;
            Box::new(NaiveDateTime::new(date, time))
        }
        ParameterValue::Timestamp(v) => Box::new(
            chrono::DateTime::<chrono::Utc>::from_timestamp(*v, 0)
                .ok_or_else(|| anyhow!("invalid epoch timestamp {v}"))?,
        ),
        ParameterValue::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(v).with_context(|| format!("invalid UUID {v}"))?)
        }
        ParameterValue::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(v)
                .with_context(|| format!("invalid JSON {}", String::from_utf8_lossy(v)))?,
        ),
        ParameterValue::Decimal(v) => Box::new(decimal(v)?),
        ParameterValue::RangeInt32(r) => Box::new(range_from_wit(r, |v| Ok(*v))?),
        ParameterValue::RangeInt64(r) => Box::new(range_from_wit(r, |v| Ok(*v))?),
        ParameterValue::RangeDecimal(r) => {
            Box::new(range_from_wit(r, |v| Ok(RangeableDecimal(decimal(v)?)))?)
        }
        ParameterValue::ArrayInt32(v) => Box::new(v.clone()),
        ParameterValue::ArrayInt64(v) => Box::new(v.clone()),
        ParameterValue::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|d| d.as_deref().map(decimal).transpose())
                .collect::<anyhow::Result<Vec<_>>>()?,
        ),
        ParameterValue::ArrayStr(v) => Box::new(v.clone()),
        ParameterValue::Interval(v) => Box::new(Interval(*v)),
        ParameterValue::DbNull => Box::new(PgNull),
    })
}

/// Roughly how much host memory a value takes, for the result size cap.
pub fn memory_size(value: &DbValue) -> usize {
    fn strings(v: &[Option<String>]) -> usize {
        v.iter()
            .map(|s| std::mem::size_of::<Option<String>>() + s.as_ref().map_or(0, String::len))
            .sum()
    }
    std::mem::size_of::<DbValue>()
        + match value {
            DbValue::Str(s) | DbValue::Uuid(s) | DbValue::Decimal(s) => s.len(),
            DbValue::Binary(b) | DbValue::Jsonb(b) | DbValue::Unsupported(b) => b.len(),
            DbValue::ArrayInt32(v) => v.len() * std::mem::size_of::<Option<i32>>(),
            DbValue::ArrayInt64(v) => v.len() * std::mem::size_of::<Option<i64>>(),
            DbValue::ArrayDecimal(v) | DbValue::ArrayStr(v) => strings(v),
            DbValue::RangeDecimal((lo, hi)) => {
                lo.as_ref().map_or(0, |(s, _)| s.len()) + hi.as_ref().map_or(0, |(s, _)| s.len())
            }
            _ => 0,
        }
}

/// Binds SQL NULL whatever type Postgres expects.
#[derive(Debug)]
struct PgNull;

impl ToSql for PgNull {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The raw bytes of a column of a type Spin does not map.
struct Other(Vec<u8>);

impl<'a> FromSql<'a> for Other {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// `INTERVAL` in Postgres' binary format: microseconds, days, months.
#[derive(Debug)]
struct Interval(WitInterval);

impl ToSql for Interval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        use bytes::BufMut;
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        if raw.len() != 16 {
            return Err("unexpected binary format for Postgres INTERVAL".into());
        }
        Ok(Self(WitInterval {
            micros: i64::from_be_bytes(raw[0..8].try_into()?),
            days: i32::from_be_bytes(raw[8..12].try_into()?),
            months: i32::from_be_bytes(raw[12..16].try_into()?),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// A decimal that can be a `numrange` bound (continuous, so never normalized).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct RangeableDecimal(rust_decimal::Decimal);

impl postgres_range::Normalizable for RangeableDecimal {
    fn normalize<S>(
        bound: postgres_range::RangeBound<S, Self>,
    ) -> postgres_range::RangeBound<S, Self>
    where
        S: postgres_range::BoundSided,
    {
        bound
    }
}

impl ToSql for RangeableDecimal {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <rust_decimal::Decimal as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for RangeableDecimal {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Self(rust_decimal::Decimal::from_sql(ty, raw)?))
    }

    fn accepts(ty: &Type) -> bool {
        <rust_decimal::Decimal as FromSql>::accepts(ty)
    }
}
