//! The database: SQLite (embedded, the default) or PostgreSQL (scale-out), chosen by URL.
//!
//! Queries are written once in the SQL both speak (`$1` placeholders work in both) and run
//! through sqlx's `Any` driver; each database has its own migration folder so that a type
//! only one of them has can still be used where it matters.

use std::str::FromStr;

use anyhow::Context;
use sqlx::AnyPool;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};

pub type Db = AnyPool;

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DbKind {
    Sqlite,
    Postgres,
}

impl DbKind {
    pub fn of_url(url: &str) -> anyhow::Result<Self> {
        if url.starts_with("sqlite:") {
            Ok(Self::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Self::Postgres)
        } else {
            anyhow::bail!("unsupported database URL {url:?}: use sqlite:… or postgres://…")
        }
    }
}

/// Connects and brings the schema up to date.
pub async fn connect(url: &str) -> anyhow::Result<Db> {
    sqlx::any::install_default_drivers();
    let kind = DbKind::of_url(url)?;
    let options = AnyConnectOptions::from_str(url).context("parsing database URL")?;
    let pool = AnyPoolOptions::new()
        // SQLite serializes writers anyway; a few readers are plenty for one process.
        .max_connections(match kind {
            DbKind::Sqlite => 4,
            DbKind::Postgres => 16,
        })
        .after_connect(move |conn, _| {
            Box::pin(async move {
                if kind == DbKind::Sqlite {
                    // WAL lets readers run beside the writer; foreign keys are off by default
                    // in SQLite.
                    sqlx::query("PRAGMA journal_mode = WAL").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA foreign_keys = ON").execute(&mut *conn).await?;
                    sqlx::query("PRAGMA busy_timeout = 5000").execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect_with(options)
        .await
        .with_context(|| format!("connecting to the {kind:?} database"))?;
    let migrator = match kind {
        DbKind::Sqlite => &SQLITE_MIGRATIONS,
        DbKind::Postgres => &POSTGRES_MIGRATIONS,
    };
    migrator.run(&pool).await.context("running database migrations")?;
    Ok(pool)
}

/// Now, as the RFC 3339 text the database stores.
pub fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| String::from("1970-01-01T00:00:00Z"))
}

/// Whether an error is a unique-constraint violation (both databases).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
