//! Starting the console: database, first admin, node links, then the HTTP server.

use std::time::Duration;

use anyhow::Context;

use crate::app::bootstrap;
use crate::config::ServeArgs;
use crate::nodes::links;
use crate::nodes::ssh::SshIdentity;
use crate::routes::{RouterOptions, build_router};
use crate::state::{AppState, Tuning};
use crate::store::nodes;
use crate::store::sessions::DbSessionStore;

/// How long an ended task stays listed.
const TASK_KEEP: time::Duration = time::Duration::days(30);

/// How often expired sessions, old tasks and old audit entries are removed.
const MAINTENANCE_EVERY: Duration = Duration::from_secs(600);

/// Registers configured nodes, builds a client for every known node and starts its
/// reconciler.
pub async fn start_node_links(state: &AppState, configured: &[(String, String)]) -> anyhow::Result<()> {
    for (name, address) in configured {
        nodes::node_upsert(&state.db, name, address).await?;
    }
    for n in nodes::node_addresses(&state.db).await? {
        if let Err(e) = links::start(state, &n) {
            tracing::error!(node = %n.name, error = %e, "cannot reach node");
        }
    }
    Ok(())
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    crate::db::prepare_data_dir(&args.db.data_dir)?;
    let db = crate::db::connect(&args.db.url()).await?;
    if let Some(password) = bootstrap::ensure_admin(&db).await? {
        println!("corral: first start: log in as `{}` with password {password}", bootstrap::ADMIN_USERNAME);
        println!("corral: this password is shown only once; `corral password-reset` sets a new one");
    }
    let tuning = Tuning {
        resync_interval: Duration::from_secs(args.resync_secs.max(1)),
        metrics_sum_wait: Duration::from_secs(args.metrics_sum_wait_secs),
        ..Tuning::default()
    };
    let mut state = AppState::new(db.clone(), args.public_origin.clone(), tuning);
    state.proxies = crate::client_addr::Proxies {
        trusted: args.trusted_proxies.clone().into(),
        header: args.forwarded_header,
    };
    state.ssh = Some(SshIdentity::load_or_create(&args.db.data_dir).context("loading the SSH key")?);
    start_node_links(&state, &args.nodes).await?;

    tokio::spawn(maintenance(state.clone(), time::Duration::days(args.audit_retention_days.into())));

    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key).await?),
        (None, None) => None,
        _ => anyhow::bail!("--tls-cert and --tls-key go together"),
    };
    let opts = RouterOptions {
        secure_cookie: args.secure_cookie,
        tls: tls.is_some(),
        frontend_dir: args.frontend_dir.clone(),
    };
    let app = build_router(state, &opts).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let listener =
        std::net::TcpListener::bind(args.listen).with_context(|| format!("listening on {}", args.listen))?;
    // Both servers below hand the socket to tokio, which polls it.
    listener.set_nonblocking(true)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let url = format!("{scheme}://{}", listener.local_addr()?);
    tracing::info!(%url, "corral listening");
    println!("corral: listening on {url}");
    if let Some(config) = tls {
        let handle = axum_server::Handle::new();
        let stop = handle.clone();
        tokio::spawn(async move {
            shutdown_signal().await;
            stop.graceful_shutdown(Some(Duration::from_secs(10)));
        });
        let acceptor = NoDelay(axum_server::tls_rustls::RustlsAcceptor::new(config));
        axum_server::from_tcp(listener)?.acceptor(acceptor).handle(handle).serve(app).await?;
        return Ok(());
    }
    let listener = tokio::net::TcpListener::from_std(listener)?;
    // Consoles are interactive: a key press or an RFB update request must not wait for
    // Nagle's algorithm to gather more bytes (browsers set TCP_NODELAY on their side too).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
    });
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

/// The certificate chain and key for `--tls-cert`/`--tls-key` (PEM), served with rustls and
/// its aws-lc-rs provider (the one russh already links; no OpenSSL).
async fn tls_config(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> anyhow::Result<axum_server::tls_rustls::RustlsConfig> {
    // Installing twice (a second serve in one process) is harmless.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| format!("loading the TLS certificate {} and key {}", cert.display(), key.display()))
}

/// Sets TCP_NODELAY on every connection before the inner acceptor (TLS) takes it: consoles
/// are interactive, and a key press or an RFB update request must not wait for Nagle's
/// algorithm to gather more bytes.
#[derive(Clone, Debug)]
struct NoDelay<A>(A);

impl<A, S> axum_server::accept::Accept<tokio::net::TcpStream, S> for NoDelay<A>
where
    A: axum_server::accept::Accept<tokio::net::TcpStream, S>,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = A::Future;

    fn accept(&self, stream: tokio::net::TcpStream, service: S) -> Self::Future {
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
        self.0.accept(stream, service)
    }
}

/// Now and then: expired sessions go, ended tasks after a month (the audit log keeps who did
/// what), deleted machines' metrics, audit entries after `audit_keep`; and the count of
/// refused strangers is logged.
async fn maintenance(state: AppState, audit_keep: time::Duration) {
    let sessions = DbSessionStore::new(state.db.clone());
    let before = |age: time::Duration| {
        (time::OffsetDateTime::now_utc() - age)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    let mut tick = tokio::time::interval(MAINTENANCE_EVERY);
    loop {
        tick.tick().await;
        if let Err(e) = sessions.delete_expired().await {
            tracing::warn!(error = %e, "removing expired sessions");
        }
        match crate::store::tasks::tasks_prune(&state.db, &before(TASK_KEEP)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "pruned ended tasks"),
            Err(e) => tracing::warn!(error = %e, "pruning ended tasks"),
        }
        match crate::store::metrics::prune_gone(&state.db).await {
            Ok(gone) if gone.is_empty() => {}
            Ok(gone) => {
                state.metrics.forget(&gone);
                tracing::info!(removed = gone.len(), "forgot the metrics of deleted machines");
            }
            Err(e) => tracing::warn!(error = %e, "pruning metrics of deleted machines"),
        }
        match crate::store::audit::prune(&state.db, &before(audit_keep)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(removed = n, "pruned old audit entries"),
            Err(e) => tracing::warn!(error = %e, "pruning the audit log"),
        }
        match state.refused.take() {
            0 => {}
            n => tracing::info!(count = n, "refused requests without a valid login since the last report"),
        }
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(t) => t,
        Err(_) => return std::future::pending().await,
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
