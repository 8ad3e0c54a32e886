//! `corral-bridge`: serve one node's machines on a unix socket.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use corral_api::bridge::HostFacts;
use corral_bridge::driver::Driver;
use corral_bridge::driver::lxc::{LxcConfig, LxcDriver};
use corral_bridge::driver::multi::Drivers;
use corral_bridge::driver::qemu::{QemuConfig, QemuDriver};
use corral_bridge::driver::sim::{SimConfig, SimDriver};
use corral_bridge::host::{self, HostExec, RealExec};
use corral_bridge::images::{ImageStore, ImportPolicy};
use corral_bridge::metrics::{Metrics, Sampling};
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

    let (driver, sim) = open_drivers(&config, store, images.clone(), exec, hostname).await?;
    let sampling = Sampling { every: config.sample_ms, ..Sampling::default() };
    let state = BridgeState {
        metrics: Metrics::start(driver.clone(), sampling),
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

/// The drivers asked for, as one: the sim alone, or qemu and lxc sharing one event channel.
async fn open_drivers(
    config: &BridgeConfig,
    store: MachineStore,
    images: ImageStore,
    exec: Arc<dyn HostExec>,
    hostname: String,
) -> anyhow::Result<(Arc<dyn Driver>, Option<SimDriver>)> {
    let mut kinds = config.driver.clone();
    kinds.dedup();
    if kinds.contains(&DriverKind::Sim) {
        anyhow::ensure!(kinds.len() == 1, "the sim driver runs alone");
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
        return Ok((Arc::new(sim.clone()), Some(sim)));
    }
    let (cpus, memory_mib) = host::cpus_and_memory_mib();
    let (_, disk_total) = host::disk_space(&config.data_dir)?;
    let facts = HostFacts { hostname, cpus, memory_mib, disk_gib: disk_total >> 30 };
    let (events, _) = tokio::sync::broadcast::channel(1024);
    let mut drivers: Vec<Arc<dyn Driver>> = Vec::new();
    for kind in kinds {
        match kind {
            DriverKind::Sim => unreachable!("handled above"),
            DriverKind::Qemu => {
                let accel = host::choose_accel(config.accel, Path::new("/sys"), Path::new("/dev/kvm"));
                tracing::info!(accel = accel.name, reason = %accel.reason, "accelerator");
                let qemu = QemuDriver::open(
                    QemuConfig {
                        accel,
                        qemu_binary: config.qemu_binary.clone(),
                        qemu_img: config.qemu_img.clone(),
                        stop_timeout: Duration::from_secs(config.stop_timeout_secs),
                        host: facts.clone(),
                        ip_binary: config.ip_binary.clone(),
                        xorriso: config.xorriso.clone(),
                    },
                    store.clone(),
                    images.clone(),
                    exec.clone(),
                    events.clone(),
                )
                .await
                .context("loading qemu machines")?;
                drivers.push(Arc::new(qemu));
            }
            DriverKind::Lxc => {
                let common = Path::new("/usr/share/lxc/config/common.conf");
                let lxc = LxcDriver::open(
                    LxcConfig {
                        host: facts.clone(),
                        stop_timeout: Duration::from_secs(config.stop_timeout_secs),
                        watch_every: Some(config.zone_watch_ms),
                        common_conf: common.exists().then(|| common.to_path_buf()),
                        pids_max: config.zone_pids_max,
                        cgroup_root: "/sys/fs/cgroup".into(),
                        follow_consoles: true,
                        bridge_netns: config.host_bridge_netns.clone(),
                        ip_binary: config.ip_binary.clone(),
                        storage: config.zone_storage,
                    },
                    MachineStore::open_dir(config.data_dir.join("zones"))
                        .context("opening the zone store")?,
                    images.clone(),
                    exec.clone(),
                    events.clone(),
                )
                .await
                .context("loading zones")?;
                drivers.push(Arc::new(lxc));
            }
        }
    }
    if drivers.len() == 1 {
        return Ok((drivers.remove(0), None));
    }
    Ok((Arc::new(Drivers::new(drivers, events)), None))
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
