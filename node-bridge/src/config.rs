//! The bridge's configuration, from the command line or the environment.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use corral_api::spec::ZoneStorage;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum DriverKind {
    /// An in-memory hypervisor for tests of the control plane.
    Sim,
    /// QEMU/KVM virtual machines (TCG where KVM cannot run guests).
    Qemu,
    /// Zones: privileged LXC containers (needs LXC 5 and root; never under `ip netns exec`).
    Lxc,
}

#[derive(Clone, Debug, Parser)]
#[command(name = "corral-bridge", version, about = "Corral node bridge")]
pub struct BridgeConfig {
    /// Unix socket to serve the API on (created mode 0660; a stale one is replaced).
    #[arg(long, env = "CORRAL_BRIDGE_SOCKET")]
    pub socket: PathBuf,

    /// How log lines are written to standard error: `text` (colours only on a terminal) or
    /// `json` (one object per line).
    #[arg(long, env = "CORRAL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Where machine specs, disks and images live.
    #[arg(long, env = "CORRAL_BRIDGE_DATA_DIR")]
    pub data_dir: PathBuf,

    /// The drivers, comma separated: `sim` alone, or any of `qemu` and `lxc` (a node that
    /// runs VMs and zones: `qemu,lxc`).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "sim", env = "CORRAL_BRIDGE_DRIVER")]
    pub driver: Vec<DriverKind>,

    /// Name reported in host facts (defaults to the system's hostname).
    #[arg(long)]
    pub hostname: Option<String>,

    /// Sim: how long each transition (create, start, stop, reboot, delete) takes.
    #[arg(long, default_value = "500", value_parser = parse_millis)]
    pub sim_delay_ms: Duration,

    /// Sim: transitions wait for `POST /v1/sim/machines/{id}/step` instead of a timer.
    #[arg(long)]
    pub sim_step: bool,

    /// Sim: CPUs the pretend host offers.
    #[arg(long, default_value = "16")]
    pub sim_cpus: u32,

    /// Sim: memory the pretend host offers.
    #[arg(long, default_value = "65536")]
    pub sim_memory_mib: u64,

    /// Sim: disk the pretend host offers.
    #[arg(long, default_value = "1024")]
    pub sim_disk_gib: u64,

    /// Qemu: the accelerator. `auto` takes KVM only when it can really run guests.
    #[arg(long, value_enum, default_value = "auto")]
    pub accel: crate::host::AccelChoice,

    /// Qemu: the emulator binary.
    #[arg(long, default_value = "qemu-system-x86_64")]
    pub qemu_binary: String,

    /// Qemu: the disk tool.
    #[arg(long, default_value = "qemu-img")]
    pub qemu_img: String,

    /// Qemu: seconds a guest may take to shut down after the power button before it is
    /// forced off.
    #[arg(long, default_value = "30")]
    pub stop_timeout_secs: u64,

    /// Host bridges guests' NICs may join (comma separated), e.g. `br0`. Each must exist on
    /// the node; the qemu driver puts a tap device per running VM on it.
    #[arg(long, value_delimiter = ',', env = "CORRAL_BRIDGE_HOST_BRIDGES", value_parser = parse_ifname)]
    pub host_bridges: Vec<String>,

    /// Lxc: the network namespace the host bridges are in, when it is not the bridge's own
    /// (a test's bridge in a namespace it made). Each zone's veth is moved there by an `up`
    /// hook. Never run the bridge itself under `ip netns exec` to reach them: LXC would then
    /// start zones without their cgroup limits.
    #[arg(long, env = "CORRAL_BRIDGE_HOST_BRIDGE_NETNS", value_parser = parse_netns)]
    pub host_bridge_netns: Option<String>,

    /// Qemu: the iproute2 binary that makes and removes tap devices.
    #[arg(long, default_value = "ip")]
    pub ip_binary: String,

    /// Qemu: the xorriso binary that makes guests' cloud-init seed volumes.
    #[arg(long, default_value = "xorriso")]
    pub xorriso: String,

    /// Lxc: where zones' files live, `btrfs`, `overlay` or `dir`. Unset, the fastest this node
    /// can use: btrfs subvolumes when the zones directory is on btrfs with quotas, else an
    /// overlayfs layer over each zone's image, else plain directories. One asked for that
    /// cannot be used stops the bridge at start, saying why.
    #[arg(long, env = "CORRAL_BRIDGE_ZONE_STORAGE", value_parser = |s: &str| s.parse::<ZoneStorage>())]
    pub zone_storage: Option<ZoneStorage>,

    /// Lxc: processes one zone may run at once.
    #[arg(long, default_value = "4096")]
    pub zone_pids_max: u32,

    /// Lxc: milliseconds between asking LXC what runs (a zone whose init halts by itself is
    /// seen stopped within this).
    #[arg(long, default_value = "1000", value_parser = parse_millis)]
    pub zone_watch_ms: Duration,

    /// Milliseconds between heartbeats on the event stream.
    #[arg(long, default_value = "5000", value_parser = parse_millis)]
    pub heartbeat_ms: Duration,

    /// Milliseconds between samples of the node's and its machines' counters.
    #[arg(long, default_value = "10000", value_parser = parse_millis)]
    pub sample_ms: Duration,

    /// A directory images may be imported from by path; repeatable. Without one, images come
    /// only from http(s) URLs.
    #[arg(long = "import-dir", env = "CORRAL_BRIDGE_IMPORT_DIRS", value_delimiter = ',')]
    pub import_dirs: Vec<PathBuf>,

    /// A host that image URLs may name although it is loopback, link-local or private (say,
    /// an image server on the node's own network); repeatable.
    #[arg(long = "import-allow-host", env = "CORRAL_BRIDGE_IMPORT_ALLOW_HOSTS", value_delimiter = ',')]
    pub import_allow_hosts: Vec<String>,

    /// The largest image an import brings in, in GiB.
    #[arg(long, default_value = "64")]
    pub import_max_gib: u64,
}

/// A network interface name: what the kernel takes (at most 15 bytes), and safe in the shell
/// hook LXC runs (letters, digits, `_`, `-`, `.`; no leading `-` or `.`).
fn parse_ifname(s: &str) -> Result<String, String> {
    plain_name(s, 15)
}

/// A network namespace name (a file under `/run/netns`), as safe as an interface name.
fn parse_netns(s: &str) -> Result<String, String> {
    plain_name(s, 64)
}

fn plain_name(s: &str, max: usize) -> Result<String, String> {
    let fine = !s.is_empty()
        && s.len() <= max
        && !s.starts_with(['-', '.'])
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    match fine {
        true => Ok(s.to_string()),
        false => Err(format!("1 to {max} letters, digits, '_', '-' or '.', not starting with '-' or '.'")),
    }
}

fn parse_millis(s: &str) -> Result<Duration, String> {
    s.parse::<u64>().map(Duration::from_millis).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use clap::Parser;
    use corral_api::spec::ZoneStorage;

    use super::{BridgeConfig, parse_ifname, parse_netns};

    #[test]
    fn interface_names_are_what_the_kernel_and_a_shell_take() {
        for good in ["br0", "corbr0", "vmbr0.100", "corral-e2e-123"] {
            assert_eq!(parse_ifname(good).as_deref(), Ok(good));
        }
        for bad in ["", "-x", ".", "a b", "br0;reboot", "$(x)", "a/b", "sixteen-bytes-xx"] {
            assert!(parse_ifname(bad).is_err(), "{bad:?}");
        }
        assert!(parse_netns("corral-e2e-zones-12345").is_ok());
        assert!(parse_netns("ns;rm").is_err());
    }

    #[test]
    fn zone_storage_is_named_or_left_to_the_node() {
        let parse = |extra: &[&str]| {
            let args = ["corral-bridge", "--socket", "/s", "--data-dir", "/d"].iter().chain(extra);
            BridgeConfig::try_parse_from(args).map(|c| c.zone_storage)
        };
        assert_eq!(parse(&[]).unwrap(), None);
        assert_eq!(parse(&["--zone-storage", "overlay"]).unwrap(), Some(ZoneStorage::Overlay));
        assert_eq!(parse(&["--zone-storage", "btrfs"]).unwrap(), Some(ZoneStorage::Btrfs));
        let e = parse(&["--zone-storage", "zfs"]).unwrap_err().to_string();
        assert!(e.contains("one of dir, overlay, btrfs"), "{e}");
    }
}
