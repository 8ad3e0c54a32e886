//! A zone's LXC configuration, written by the bridge (never by a template): what the zone
//! runs, the limits that hold it, its console log and its network.
//!
//! The file is rewritten before every start, so a rename or a changed limit takes effect at
//! the next boot, as a VM's hardware does.

use std::fmt::Write;
use std::path::Path;

use corral_api::bridge::BridgeMachine;

use corral_api::spec::ZoneInit;

/// The CFS period the CPU quota is a share of: 100 ms, the kernel's default.
const CPU_PERIOD_US: u64 = 100_000;
/// Bytes of console output LXC keeps in the zone's `console.log` before starting it over.
pub const CONSOLE_LOG_BYTES: u64 = 256 << 10;

/// What goes into one zone's config besides its record.
#[derive(Clone, Debug)]
pub struct ZoneSetup<'a> {
    /// The zone's directory: `config`, `rootfs/`, `console.log`, `spec.json`.
    pub dir: &'a Path,
    pub init: ZoneInit,
    /// Processes the zone may run at once.
    pub pids_max: u32,
    /// The distribution's defaults (`/usr/share/lxc/config/common.conf`: dropped
    /// capabilities, the device allow-list, seccomp), included first when the node has them.
    pub common_conf: Option<&'a Path>,
}

/// `lxc.signal.halt` and `lxc.signal.reboot` for an init system.
pub fn signals(init: ZoneInit) -> (&'static str, &'static str) {
    match init {
        // BusyBox init powers off on SIGUSR2 and reboots on SIGTERM.
        ZoneInit::Busybox => ("SIGUSR2", "SIGTERM"),
        // systemd halts on SIGRTMIN+3 and reboots on SIGINT (ctrl-alt-del).
        ZoneInit::Systemd => ("SIGRTMIN+3", "SIGINT"),
        ZoneInit::Sysvinit => ("SIGPWR", "SIGINT"),
    }
}

/// The config text for `m`.
pub fn render(m: &BridgeMachine, z: &ZoneSetup) -> String {
    let dir = z.dir.display();
    let (halt, reboot) = signals(z.init);
    let mut c = String::new();
    let mut line = |k: &str, v: &dyn std::fmt::Display| {
        let _ = writeln!(c, "{k} = {v}");
    };
    if let Some(common) = z.common_conf {
        line("lxc.include", &common.display());
    }
    line("lxc.uts.name", &m.name);
    line("lxc.rootfs.path", &format!("dir:{dir}/rootfs"));
    line("lxc.init.cmd", &"/sbin/init");
    line("lxc.signal.halt", &halt);
    line("lxc.signal.reboot", &reboot);
    // Only the console: no extra ttys for getty to sit on.
    line("lxc.tty.max", &0);
    line("lxc.pty.max", &256);
    line("lxc.console.logfile", &format!("{dir}/console.log"));
    line("lxc.console.size", &CONSOLE_LOG_BYTES);
    line("lxc.net.0.type", &"empty");
    let memory = m.memory_mib << 20;
    line("lxc.cgroup.memory.limit_in_bytes", &memory);
    line("lxc.cgroup.cpu.cfs_period_us", &CPU_PERIOD_US);
    line("lxc.cgroup.cpu.cfs_quota_us", &(u64::from(m.vcpus) * CPU_PERIOD_US));
    line("lxc.cgroup.pids.max", &z.pids_max);
    let mut out =
        format!("# Written by corral-bridge for zone {} ({}); rewritten at every start.\n", m.id, m.name);
    out.push_str(&c);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::machine::MachineState;

    #[test]
    fn the_config_holds_the_limits_signals_and_paths() {
        let m = BridgeMachine {
            id: "0123abcd-ef01-4567-89ab-cdef01234567".parse().unwrap(),
            name: "web".into(),
            kind: corral_api::spec::MachineKind::Zone,
            vcpus: 2,
            memory_mib: 256,
            disk_gib: 1,
            image: Some("busybox.tar.gz".into()),
            port_forwards: vec![],
            boot_order: vec![],
            cdrom: None,
            host_bridge: None,
            zone: None,
            state: MachineState::Stopped,
            created_at: "2026-12-06T00:00:00Z".into(),
        };
        let z = ZoneSetup {
            dir: Path::new("/d/zones/z1"),
            init: ZoneInit::Busybox,
            pids_max: 512,
            common_conf: Some(Path::new("/usr/share/lxc/config/common.conf")),
        };
        let text = render(&m, &z);
        let want = "\
# Written by corral-bridge for zone 0123abcd-ef01-4567-89ab-cdef01234567 (web); rewritten at every start.
lxc.include = /usr/share/lxc/config/common.conf
lxc.uts.name = web
lxc.rootfs.path = dir:/d/zones/z1/rootfs
lxc.init.cmd = /sbin/init
lxc.signal.halt = SIGUSR2
lxc.signal.reboot = SIGTERM
lxc.tty.max = 0
lxc.pty.max = 256
lxc.console.logfile = /d/zones/z1/console.log
lxc.console.size = 262144
lxc.net.0.type = empty
lxc.cgroup.memory.limit_in_bytes = 268435456
lxc.cgroup.cpu.cfs_period_us = 100000
lxc.cgroup.cpu.cfs_quota_us = 200000
lxc.cgroup.pids.max = 512
";
        assert_eq!(text, want);
        let bare = render(&m, &ZoneSetup { common_conf: None, init: ZoneInit::Systemd, ..z });
        assert!(!bare.contains("lxc.include"));
        assert!(bare.contains("lxc.signal.halt = SIGRTMIN+3\n"), "{bare}");
    }
}
