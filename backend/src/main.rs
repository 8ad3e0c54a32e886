//! `corral`: the console's control plane.

use clap::Parser;
use corral::app::bootstrap;
use corral::config::{Cli, Command};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // What the backend writes (the database, its key) is for its own user alone.
    rustix::process::umask(rustix::fs::Mode::from_bits_truncate(0o077));
    let cli = Cli::parse();
    corral::config::init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => corral::server::serve(args).await,
        Command::Init(db) => {
            corral::db::prepare_data_dir(&db.data_dir)?;
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
