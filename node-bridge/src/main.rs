//! `corral-bridge`: serve one node's machines on a unix socket.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use corral_api::bridge::HostFacts;
use corral_bridge::driver::Driver;
use corral_bridge::driver::qemu::{QemuConfig, QemuDriver};
use corral_bridge::driver::sim::{SimConfig, SimDriver};
use corral_bridge::host::{self, HostExec, RealExec};
use corral_bridge::images::{ImageStore, ImportPolicy};
use corral_bridge::server::{BridgeState, build_router};
use corral_bridge::store::MachineStore;
use corral_bridge::{BridgeConfig, DriverKind};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = BridgeConfig::parse();
    init_logging(config.log_format);
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    // Absolute, since qemu-img records backing files by the path it is given.
    config.data_dir = config.data_dir.canonicalize()?;
    let store = MachineStore::open(&config.data_dir).context("opening machine store")?;
    let exec: Arc<dyn HostExec> = Arc::new(RealExec);
    let images = ImageStore::open(&config.data_dir, exec.clone(), &config.qemu_img)
        .context("opening image store")?
        .with_policy(ImportPolicy {
            dirs: config.import_dirs.clone(),
            allow_hosts: config.import_allow_hosts.clone(),
            max_bytes: config.import_max_gib.saturating_mul(1 << 30),
        });
    let hostname = config.hostname.clone().unwrap_or_else(system_hostname);

    let (driver, sim): (Arc<dyn Driver>, _) = match config.driver {
        DriverKind::Sim => {
            let sim = SimDriver::open(
                SimConfig {
                    delay: config.sim_delay_ms,
                    step_mode: config.sim_step,
                    host: HostFacts {
                        hostname,
                        cpus: config.sim_cpus,
                        memory_mib: config.sim_memory_mib,
                        disk_gib: config.sim_disk_gib,
                    },
                    kinds: corral_api::spec::MachineKind::ALL.to_vec(),
                },
                store,
            )
            .context("loading sim machines")?;
            (Arc::new(sim.clone()), Some(sim))
        }
        DriverKind::Qemu => {
            let accel = host::choose_accel(config.accel, Path::new("/sys"), Path::new("/dev/kvm"));
            tracing::info!(accel = accel.name, reason = %accel.reason, "accelerator");
            let (cpus, memory_mib) = host::cpus_and_memory_mib();
            let (_, disk_total) = host::disk_space(&config.data_dir)?;
            let qemu = QemuDriver::open(
                QemuConfig {
                    accel,
                    qemu_binary: config.qemu_binary.clone(),
                    qemu_img: config.qemu_img.clone(),
                    stop_timeout: Duration::from_secs(config.stop_timeout_secs),
                    host: HostFacts { hostname, cpus, memory_mib, disk_gib: disk_total >> 30 },
                    ip_binary: config.ip_binary.clone(),
                },
                store,
                images.clone(),
                exec,
            )
            .await
            .context("loading qemu machines")?;
            (Arc::new(qemu), None)
        }
    };
    let state = BridgeState {
        driver,
        images,
        tasks: Default::default(),
        sim,
        heartbeat: config.heartbeat_ms,
        host_bridges: config.host_bridges.clone(),
    };

    // A socket file left by a previous run would make bind fail; nobody else may own this path.
    match std::fs::remove_file(&config.socket) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("removing stale {}", config.socket.display()));
        }
        _ => {}
    }
    if let Some(parent) = config.socket.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let listener = tokio::net::UnixListener::bind(&config.socket)
        .with_context(|| format!("binding {}", config.socket.display()))?;
    std::fs::set_permissions(&config.socket, std::fs::Permissions::from_mode(0o660))?;
    tracing::info!(socket = %config.socket.display(), driver = ?config.driver, "bridge listening");

    axum::serve(listener, build_router(state)).with_graceful_shutdown(shutdown_signal()).await?;
    Ok(())
}

fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "localhost".into())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Logs to standard error, filtered by `RUST_LOG` (default `info`): text with colours only
/// on a terminal, or one JSON object per line.
fn init_logging(format: corral_bridge::config::LogFormat) {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let logs = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match format {
        corral_bridge::config::LogFormat::Json => logs.json().init(),
        corral_bridge::config::LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).init(),
    }
}
