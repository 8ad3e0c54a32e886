//! A zone's LXC configuration, written by the bridge (never by a template): what the zone
//! runs, the limits that hold it, its console log and its network.
//!
//! The file is rewritten before every start, so a rename or a changed limit takes effect at
//! the next boot, as a VM's hardware does.
//!
//! A zone on a host bridge gets a veth pair named and addressed by its id. When the bridges
//! live in another network namespace than the bridge's own (`--host-bridge-netns`), LXC is
//! given no `link`: an `up` hook moves the host end into that namespace and onto the bridge,
//! as Proxmox's hook does. (The bridge itself must not run in that namespace: under
//! `ip netns exec`, LXC starts zones without their cgroup limits.)

use std::fmt::Write;
use std::path::Path;

use corral_api::MachineId;
use corral_api::bridge::BridgeMachine;
use corral_api::spec::ZoneInit;

/// The CFS period the CPU quota is a share of: 100 ms, the kernel's default.
const CPU_PERIOD_US: u64 = 100_000;
/// Bytes of console output LXC keeps in the zone's `console.log` before starting it over.
pub const CONSOLE_LOG_BYTES: u64 = 256 << 10;

/// What goes into one zone's config besides its record.
#[derive(Clone, Debug)]
pub struct ZoneSetup<'a> {
    /// The zone's directory: `config`, `rootfs/` (and `base/` when layered), `console.log`,
    /// `spec.json`.
    pub dir: &'a Path,
    /// The guest's hostname when it was given one (`GuestInit`); else the zone's name.
    pub hostname: Option<&'a str>,
    pub init: ZoneInit,
    /// On overlayfs: the image in `base/`, the zone's changes in `rootfs/`.
    pub layered: bool,
    /// Processes the zone may run at once.
    pub pids_max: u32,
    /// The distribution's defaults (`/usr/share/lxc/config/common.conf`: dropped
    /// capabilities, the device allow-list, seccomp), included first when the node has them.
    pub common_conf: Option<&'a Path>,
    /// The network namespace the node's host bridges are in, when it is not the bridge's.
    pub bridge_netns: Option<&'a str>,
    /// The kernel accounts swap (`memory.memsw.*` exists): memory and swap together are held
    /// to the zone's memory, so a zone never swaps. Without it the key would fail the start.
    pub swap_accounting: bool,
}

/// The file name, in the zone's directory, of the hook that puts its veth on a bridge in
/// another namespace.
pub const NET_UP_HOOK: &str = "net-up";

/// The host end of a zone's veth: `cveth` and the start of its id, within the kernel's 15
/// bytes (`ctap…` is a VM's).
pub fn veth_name(id: MachineId) -> String {
    format!("cveth{}", &id.0.simple().to_string()[..10])
}

/// A locally administered MAC fixed by the zone's id, so leases and firewall rules hold
/// across restarts. `00:16:3e` is the prefix LXC (and Xen) use; VMs have QEMU's.
pub fn mac_address(id: MachineId) -> String {
    let b = id.0.as_bytes();
    format!("00:16:3e:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// The `up` hook for a zone on `bridge` inside namespace `netns`: LXC runs it (as root, in
/// the node's namespace) once the veth exists; a failure fails the start, and LXC removes
/// the veth with the zone's namespace.
pub fn net_up_hook(ip: &str, veth: &str, bridge: &str, netns: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # Written by corral-bridge: moves the zone's veth onto host bridge {bridge} in network namespace {netns}.\n\
         set -e\n\
         {ip} link set dev {veth} netns {netns}\n\
         {ip} -n {netns} link set dev {veth} master {bridge} up\n"
    )
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
    line("lxc.uts.name", &z.hostname.unwrap_or(&m.name));
    if z.layered {
        // LXC mounts them as one, its work directory in `<dir>/olwork`, beside the upper.
        line("lxc.rootfs.path", &format!("overlay:{dir}/{}:{dir}/rootfs", super::storage::BASE));
    } else {
        line("lxc.rootfs.path", &format!("dir:{dir}/rootfs"));
    }
    line("lxc.init.cmd", &"/sbin/init");
    line("lxc.signal.halt", &halt);
    line("lxc.signal.reboot", &reboot);
    // Only the console: no extra ttys for getty to sit on.
    line("lxc.tty.max", &0);
    line("lxc.pty.max", &256);
    line("lxc.console.logfile", &format!("{dir}/console.log"));
    line("lxc.console.size", &CONSOLE_LOG_BYTES);
    match &m.host_bridge {
        None => line("lxc.net.0.type", &"empty"),
        Some(bridge) => {
            line("lxc.net.0.type", &"veth");
            line("lxc.net.0.veth.pair", &veth_name(m.id));
            line("lxc.net.0.hwaddr", &mac_address(m.id));
            line("lxc.net.0.name", &"eth0");
            line("lxc.net.0.flags", &"up");
            match z.bridge_netns {
                None => line("lxc.net.0.link", bridge),
                Some(_) => line("lxc.net.0.script.up", &format!("{dir}/{NET_UP_HOOK}")),
            }
        }
    }
    let memory = m.memory_mib << 20;
    line("lxc.cgroup.memory.limit_in_bytes", &memory);
    if z.swap_accounting {
        line("lxc.cgroup.memory.memsw.limit_in_bytes", &memory);
    }
    line("lxc.cgroup.cpu.cfs_period_us", &CPU_PERIOD_US);
    line("lxc.cgroup.cpu.cfs_quota_us", &(u64::from(m.vcpus) * CPU_PERIOD_US));
    line("lxc.cgroup.pids.max", &z.pids_max);
    let mut out =
        format!("# Written by corral-bridge for zone {} ({}); rewritten at every start.\n", m.id, m.name);
    out.push_str(&c);
    out
}

/// The cgroup settings that change a running zone from `old`'s limits to `new`'s, in an
/// order the kernel takes: memory+swap is never below memory, so it rises first and falls
/// last. Empty when the limits stay.
pub fn live_limits(
    old: &BridgeMachine,
    new: &BridgeMachine,
    swap_accounting: bool,
) -> Vec<(&'static str, u64)> {
    let mut out = Vec::new();
    if new.vcpus != old.vcpus {
        out.push(("cpu.cfs_quota_us", u64::from(new.vcpus) * CPU_PERIOD_US));
    }
    if new.memory_mib != old.memory_mib {
        let bytes = new.memory_mib << 20;
        let memory = ("memory.limit_in_bytes", bytes);
        match (swap_accounting, new.memory_mib > old.memory_mib) {
            (false, _) => out.push(memory),
            (true, true) => out.extend([("memory.memsw.limit_in_bytes", bytes), memory]),
            (true, false) => out.extend([memory, ("memory.memsw.limit_in_bytes", bytes)]),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::machine::MachineState;

    /// A stopped zone of 1 vCPU, 64 MiB and 1 GiB named `web`, to adjust with `..`.
    fn web() -> BridgeMachine {
        BridgeMachine {
            id: "0123abcd-ef01-4567-89ab-cdef01234567".parse().unwrap(),
            name: "web".into(),
            kind: corral_api::spec::MachineKind::Zone,
            vcpus: 1,
            memory_mib: 64,
            disk_gib: 1,
            image: None,
            port_forwards: vec![],
            boot_order: vec![],
            cdrom: None,
            host_bridge: None,
            zone: None,
            init_id: None,
            state: MachineState::Stopped,
            created_at: "2026-12-06T00:00:00Z".into(),
        }
    }

    #[test]
    fn live_limits_keep_memory_with_swap_above_memory() {
        let old = BridgeMachine { vcpus: 1, memory_mib: 128, ..web() };
        assert!(live_limits(&old, &old, true).is_empty(), "nothing changes, nothing is written");
        let grown = BridgeMachine { vcpus: 2, memory_mib: 256, ..web() };
        assert_eq!(
            live_limits(&old, &grown, true),
            [
                ("cpu.cfs_quota_us", 200_000),
                ("memory.memsw.limit_in_bytes", 256 << 20),
                ("memory.limit_in_bytes", 256 << 20)
            ]
        );
        let shrunk = BridgeMachine { vcpus: 1, memory_mib: 64, ..web() };
        assert_eq!(
            live_limits(&old, &shrunk, true),
            [("memory.limit_in_bytes", 64 << 20), ("memory.memsw.limit_in_bytes", 64 << 20)]
        );
        assert_eq!(live_limits(&old, &shrunk, false), [("memory.limit_in_bytes", 64 << 20)]);
    }

    #[test]
    fn the_config_holds_the_limits_signals_and_paths() {
        let m = BridgeMachine { vcpus: 2, memory_mib: 256, image: Some("busybox.tar.gz".into()), ..web() };
        let z = ZoneSetup {
            hostname: None,
            dir: Path::new("/d/zones/z1"),
            init: ZoneInit::Busybox,
            layered: false,
            pids_max: 512,
            common_conf: Some(Path::new("/usr/share/lxc/config/common.conf")),
            bridge_netns: None,
            swap_accounting: true,
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
lxc.cgroup.memory.memsw.limit_in_bytes = 268435456
lxc.cgroup.cpu.cfs_period_us = 100000
lxc.cgroup.cpu.cfs_quota_us = 200000
lxc.cgroup.pids.max = 512
";
        assert_eq!(text, want);
        let bare = render(
            &m,
            &ZoneSetup { common_conf: None, init: ZoneInit::Systemd, swap_accounting: false, ..z },
        );
        assert!(!bare.contains("lxc.include"));
        assert!(!bare.contains("memsw"), "{bare}");
        assert!(bare.contains("lxc.signal.halt = SIGRTMIN+3\n"), "{bare}");
        let layered = render(&m, &ZoneSetup { layered: true, ..z });
        assert!(
            layered.contains("\nlxc.rootfs.path = overlay:/d/zones/z1/base:/d/zones/z1/rootfs\n"),
            "{layered}"
        );
    }

    #[test]
    fn a_zone_on_a_host_bridge_gets_a_veth_named_and_addressed_by_its_id() {
        let id: MachineId = "0123abcd-ef01-4567-89ab-cdef01234567".parse().unwrap();
        let m = BridgeMachine { id, host_bridge: Some("br0".into()), ..web() };
        let z = ZoneSetup {
            hostname: None,
            dir: Path::new("/d/zones/z1"),
            init: ZoneInit::Busybox,
            layered: false,
            pids_max: 64,
            common_conf: None,
            bridge_netns: None,
            swap_accounting: false,
        };
        let net = "\
lxc.net.0.type = veth
lxc.net.0.veth.pair = cveth0123abcdef
lxc.net.0.hwaddr = 00:16:3e:01:23:ab
lxc.net.0.name = eth0
lxc.net.0.flags = up
";
        let on_bridge = render(&m, &z);
        assert!(on_bridge.contains(&format!("{net}lxc.net.0.link = br0\n")), "{on_bridge}");
        assert!(!on_bridge.contains("script.up"), "{on_bridge}");
        let in_netns = render(&m, &ZoneSetup { bridge_netns: Some("ns1"), ..z });
        assert!(in_netns.contains(&format!("{net}lxc.net.0.script.up = /d/zones/z1/net-up\n")), "{in_netns}");
        assert!(!in_netns.contains("lxc.net.0.link"), "{in_netns}");
        assert!(veth_name(id).len() <= 15);
        assert_eq!(
            net_up_hook("/sbin/ip", &veth_name(id), "br0", "ns1"),
            "#!/bin/sh\n\
             # Written by corral-bridge: moves the zone's veth onto host bridge br0 in network namespace ns1.\n\
             set -e\n\
             /sbin/ip link set dev cveth0123abcdef netns ns1\n\
             /sbin/ip -n ns1 link set dev cveth0123abcdef master br0 up\n"
        );
    }
}
