//! `corral`: the console's control plane.

use clap::Parser;
use corral::app::bootstrap;
use corral::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Command::Serve(args) => corral::server::serve(args).await,
        Command::Init(db) => {
            std::fs::create_dir_all(&db.data_dir)?;
            let pool = corral::db::connect(&db.url()).await?;
            match bootstrap::ensure_admin(&pool).await? {
                Some(pw) => println!("admin password: {pw}"),
                None => println!("already initialized"),
            }
            Ok(())
        }
        Command::PasswordReset { db, username } => {
            let pool = corral::db::connect(&db.url()).await?;
            match bootstrap::password_reset(&pool, &username).await? {
                Some(pw) => {
                    println!("new password for {username}: {pw}");
                    Ok(())
                }
                None => anyhow::bail!("no user named {username:?}"),
            }
        }
        Command::Openapi => {
            print!("{}", corral::routes::openapi_json());
            Ok(())
        }
        Command::SshKey(db) => {
            let key = corral::nodes::ssh::SshIdentity::load_or_create(&db.data_dir)?;
            println!("{}", key.public_key());
            eprintln!("fingerprint: {}", key.fingerprint());
            Ok(())
        }
    }
}
