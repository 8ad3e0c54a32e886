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
    let tuning =
        Tuning { resync_interval: Duration::from_secs(args.resync_secs.max(1)), ..Tuning::default() };
    let mut state = AppState::new(db.clone(), args.public_origin.clone(), tuning);
    state.ssh = Some(SshIdentity::load_or_create(&args.db.data_dir).context("loading the SSH key")?);
    start_node_links(&state, &args.nodes).await?;

    tokio::spawn(maintenance(state.clone(), time::Duration::days(args.audit_retention_days.into())));

    let opts = RouterOptions { secure_cookie: args.secure_cookie, frontend_dir: args.frontend_dir.clone() };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let url = format!("http://{}", listener.local_addr()?);
    tracing::info!(%url, "corral listening");
    println!("corral: listening on {url}");
    // Consoles are interactive: a key press or an RFB update request must not wait for
    // Nagle's algorithm to gather more bytes (browsers set TCP_NODELAY on their side too).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY");
        }
    });
    let app = build_router(state, &opts).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

/// Now and then: expired sessions go, ended tasks after a month (the audit log keeps who did
/// what), audit entries after `audit_keep`; and the count of refused strangers is logged.
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
