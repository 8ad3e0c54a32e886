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

/// Makes the data directory private to the backend's user (0700), and the database files in
/// it 0600: they hold password hashes, session hashes and everyone's audit trail. Files made
/// later are private too, since `corral` runs with umask 077.
pub fn prepare_data_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("making {} private", dir.display()))?;
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_db = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("corral.db"));
        if is_db && path.is_file() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("making {} private", path.display()))?;
        }
    }
    Ok(())
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
                    // 16 MiB of pages per connection (the default is 2): a year chart of one
                    // machine reads about 2 MiB of metrics rows.
                    sqlx::query("PRAGMA cache_size = -16384").execute(&mut *conn).await?;
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

/// Now, in Unix milliseconds.
pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Whether an error is a unique-constraint violation (both databases).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn the_data_directory_and_database_files_become_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        for f in ["corral.db", "corral.db-wal", "notes.txt"] {
            std::fs::write(dir.join(f), b"x").unwrap();
            std::fs::set_permissions(dir.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        prepare_data_dir(&dir).unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!((mode(&dir.join("corral.db")), mode(&dir.join("corral.db-wal"))), (0o600, 0o600));
        assert_eq!(mode(&dir.join("notes.txt")), 0o644, "only the database's files are touched");
    }
}
