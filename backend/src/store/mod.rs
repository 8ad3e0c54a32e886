//! Data access: one module per table family, plain functions over the pool, returning the
//! `api` views. Ids are stored as UUID text, times as RFC 3339 text.

pub mod audit;
pub mod guests;
pub mod machines;
pub mod metrics;
pub mod nodes;
pub mod quotas;
pub mod sessions;
pub mod tasks;
pub mod tokens;
pub mod users;

use std::str::FromStr;

use sqlx::Row;
use sqlx::any::AnyRow;

/// Reads a text column holding one of our typed ids (or anything `FromStr`).
fn parse_col<T: FromStr>(row: &AnyRow, col: &str) -> Result<T, sqlx::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e| sqlx::Error::ColumnDecode { index: col.into(), source: Box::new(e) })
}

fn opt_parse_col<T: FromStr>(row: &AnyRow, col: &str) -> Result<Option<T>, sqlx::Error>
where
    T::Err: std::error::Error + Send + Sync + 'static,
{
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| s.parse())
        .transpose()
        .map_err(|e| sqlx::Error::ColumnDecode { index: col.into(), source: Box::new(e) })
}

/// Integers are stored as BIGINT; ours are never negative.
fn u64_col(row: &AnyRow, col: &str) -> Result<u64, sqlx::Error> {
    let v: i64 = row.try_get(col)?;
    Ok(u64::try_from(v).unwrap_or(0))
}

fn u32_col(row: &AnyRow, col: &str) -> Result<u32, sqlx::Error> {
    let v: i64 = row.try_get(col)?;
    Ok(u32::try_from(v).unwrap_or(0))
}

fn bool_col(row: &AnyRow, col: &str) -> Result<bool, sqlx::Error> {
    let v: i64 = row.try_get(col)?;
    Ok(v != 0)
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}
