//! The backend's command line: `corral serve`, `corral init`, `corral password-reset`,
//! `corral openapi`, `corral ssh-key`.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "corral", version, about = "Corral: a web console for hypervisor nodes")]
pub struct Cli {
    /// How log lines are written to standard error: `text` (colours only on a terminal) or
    /// `json` (one object per line, for log collectors).
    #[arg(long, global = true, env = "CORRAL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Logs to standard error, filtered by `RUST_LOG` (default `info,sqlx=warn`).
pub fn init_logging(format: LogFormat) {
    use std::io::IsTerminal;
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        // Colour codes only where a terminal shows them, never in files.
        LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the console.
    Serve(ServeArgs),
    /// Create the database and the first admin (printing its password once), then exit.
    Init(DbArgs),
    /// Give a user a new random password and print it.
    PasswordReset {
        #[command(flatten)]
        db: DbArgs,
        #[arg(long, default_value = "admin")]
        username: String,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Print the backend's SSH public key (made if missing), for nodes' `authorized_keys`.
    SshKey(DbArgs),
}

#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Where the SQLite database lives.
    #[arg(long, env = "CORRAL_DATA_DIR", default_value = ".corral/data")]
    pub data_dir: PathBuf,

    /// `sqlite:…` or `postgres://…`; defaults to `<data-dir>/corral.db`.
    #[arg(long, env = "CORRAL_DATABASE_URL")]
    pub database_url: Option<String>,
}

impl DbArgs {
    pub fn url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}?mode=rwc", self.data_dir.join("corral.db").display()))
    }
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub db: DbArgs,

    #[arg(long, env = "CORRAL_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The origin browsers use, e.g. `https://corral.example.com`; defaults to the request's
    /// own host.
    #[arg(long, env = "CORRAL_PUBLIC_ORIGIN")]
    pub public_origin: Option<String>,

    /// The built frontend (index.html and pkg/).
    #[arg(long, env = "CORRAL_FRONTEND_DIR")]
    pub frontend_dir: Option<PathBuf>,

    /// A node on this machine: `name=unix:/path/to/bridge.sock`. Repeatable.
    #[arg(long = "node", value_parser = parse_node)]
    pub nodes: Vec<(String, String)>,

    /// Seconds between full listings of each node.
    #[arg(long, default_value = "30")]
    pub resync_secs: u64,

    /// Seconds the tenants' and the fleet's metric sums wait after each 10 s bucket for
    /// samples still on their way; a sample later than that is left out of the sums.
    #[arg(long, default_value = "30", value_parser = clap::value_parser!(u64).range(1..=600))]
    pub metrics_sum_wait_secs: u64,

    /// Mark the session cookie Secure (behind a proxy that terminates TLS; implied by
    /// --tls-cert).
    #[arg(long)]
    pub secure_cookie: bool,

    /// Serve HTTPS with this certificate chain (PEM); needs --tls-key. Cookies are then
    /// `Secure` and HSTS is sent.
    #[arg(long, env = "CORRAL_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM).
    #[arg(long, env = "CORRAL_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// A reverse proxy (an address or a CIDR) whose `Forwarded` / `X-Forwarded-For` headers
    /// name the client; repeatable. Without one, the client is the TCP peer.
    #[arg(long = "trusted-proxy", env = "CORRAL_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// The header the trusted proxies write the client's address in; the other one is never
    /// read (a proxy passes a client's own copy of it through).
    #[arg(long, env = "CORRAL_FORWARDED_HEADER", value_enum, default_value_t = Default::default())]
    pub forwarded_header: crate::client_addr::ForwardedHeader,

    /// Days the audit log keeps an entry; older ones are pruned.
    #[arg(long, env = "CORRAL_AUDIT_RETENTION_DAYS", default_value = "400",
        value_parser = clap::value_parser!(u32).range(1..=36500))]
    pub audit_retention_days: u32,
}

/// `10.0.0.0/8`, or one address (`127.0.0.1`, `::1`).
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is neither an address nor a CIDR"))
}

fn parse_node(s: &str) -> Result<(String, String), String> {
    let (name, addr) = s.split_once('=').ok_or("expected name=unix:/path")?;
    corral_api::validate::machine_name(name).map_err(|e| format!("node name: {}", e.message))?;
    crate::nodes::transport::from_address(addr)?;
    Ok((name.to_string(), addr.to_string()))
}
