//! The files of one VM and the QEMU command line that runs it.
//!
//! Everything a VM needs lives in its directory: `spec.json`, `disk.qcow2`, the guest's seed
//! (`seed.iso`, when it was given data), `qemu.pid` and the QMP, VNC and serial sockets. QEMU is started with `-daemonize`: the launching process
//! exits once the VM is set up (its stderr then says why if it failed), and the VM itself is
//! reparented away from the bridge, so a bridge that dies never takes a guest with it.

use std::path::{Path, PathBuf};

use corral_api::bridge::{BootDevice, BridgeMachine};

/// Unix socket paths are limited to 107 bytes by the kernel.
pub const MAX_SOCKET_PATH: usize = 107;

#[derive(Clone, Debug)]
pub struct VmPaths {
    pub dir: PathBuf,
}

impl VmPaths {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
    pub fn disk(&self) -> PathBuf {
        self.dir.join("disk.qcow2")
    }
    pub fn seed(&self) -> PathBuf {
        self.dir.join(crate::guest::iso::SEED_ISO)
    }
    pub fn pidfile(&self) -> PathBuf {
        self.dir.join("qemu.pid")
    }
    pub fn qmp(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }
    pub fn vnc(&self) -> PathBuf {
        self.dir.join("vnc.sock")
    }
    pub fn serial(&self) -> PathBuf {
        self.dir.join("serial.sock")
    }

    /// Whether every socket path fits the kernel's limit.
    pub fn sockets_fit(&self) -> bool {
        [self.qmp(), self.vnc(), self.serial()].iter().all(|p| p.as_os_str().len() <= MAX_SOCKET_PATH)
    }

    /// The pid QEMU wrote, if any.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(self.pidfile()).ok()?.trim().parse().ok()
    }

    /// Removes what a stopped QEMU leaves: pid file and sockets.
    pub fn clean_runtime(&self) {
        for p in [self.pidfile(), self.qmp(), self.vnc(), self.serial()] {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The QEMU device id of the CD drive, for QMP `eject` and `blockdev-change-medium`.
pub const CDROM_DEVICE: &str = "cdrom0";

/// The block node of the guest's seed: not the user's, so left out of its disks' figures.
pub const SEED_NODE: &str = "seed0";

/// How a VM's NIC reaches the world.
pub enum Nic<'a> {
    /// QEMU's user-mode stack, with the machine's port forwards on the node's loopback.
    User,
    /// A tap device the bridge made and put on a host bridge.
    Tap(&'a str),
}

/// The arguments of `qemu-system-x86_64` for a machine.
///
/// Every VM has a CD drive, empty unless `cdrom` is given, so an ISO can be inserted while
/// it runs. Without a boot order the CD boots first and the disk after it (SeaBIOS moves on
/// from an empty or unbootable CD); with one, only the listed devices boot, in that order.
///
/// The guest's `seed` (cloud-init's data), when it has one, is a read-only disk of its own:
/// not the CD drive (so never ejected nor shown as the user's CD), and with no boot index
/// under a strict boot order, so firmware never tries it.
pub fn qemu_args(
    m: &BridgeMachine,
    paths: &VmPaths,
    accel: &str,
    cdrom: Option<&Path>,
    seed: Option<&Path>,
    nic: Nic<'_>,
) -> Vec<String> {
    let p = |path: PathBuf| path.display().to_string();
    let chosen = !m.boot_order.is_empty();
    let order: &[BootDevice] = if chosen { &m.boot_order } else { &[BootDevice::Cdrom, BootDevice::Disk] };
    // With a seed, only the numbered devices boot: never the seed, nor what comes after.
    let strict = chosen || seed.is_some();
    let bootindex = |d: BootDevice| match order.iter().position(|o| *o == d) {
        Some(i) => format!(",bootindex={i}"),
        None => String::new(),
    };
    let mut args: Vec<String> = vec![
        "-name".into(),
        format!("guest={},debug-threads=on", m.name),
        "-machine".into(),
        "q35".into(),
        "-accel".into(),
        accel.into(),
        "-cpu".into(),
        // `host` aborts on nested kvm_pvm without this flag (guests-and-peers.md).
        if accel == "kvm" { "host,-arch-capabilities".into() } else { "max".into() },
        "-smp".into(),
        m.vcpus.to_string(),
        "-m".into(),
        format!("{}M", m.memory_mib),
        "-nodefaults".into(),
        "-no-user-config".into(),
        "-vga".into(),
        "std".into(),
        "-display".into(),
        "none".into(),
        "-vnc".into(),
        format!("unix:{}", p(paths.vnc())),
        "-chardev".into(),
        format!("socket,id=serial0,path={},server=on,wait=off", p(paths.serial())),
        "-serial".into(),
        "chardev:serial0".into(),
        "-qmp".into(),
        format!("unix:{},server=on,wait=off", p(paths.qmp())),
        "-blockdev".into(),
        format!(
            "driver=qcow2,node-name=disk0,file.driver=file,file.filename={},file.node-name=disk0-file",
            p(paths.disk())
        ),
        "-device".into(),
        format!("virtio-blk-pci,drive=disk0{}", bootindex(BootDevice::Disk)),
        "-drive".into(),
        match cdrom {
            Some(iso) => {
                format!("if=none,id=cd0,media=cdrom,readonly=on,format=raw,file={}", p(iso.to_path_buf()))
            }
            None => "if=none,id=cd0,media=cdrom,readonly=on".into(),
        },
        "-device".into(),
        format!("ide-cd,drive=cd0,id={CDROM_DEVICE},bus=ide.0{}", bootindex(BootDevice::Cdrom)),
        "-netdev".into(),
        netdev(m, nic),
        "-device".into(),
        format!(
            "virtio-net-pci,netdev=net0,mac={}{}",
            super::net::mac_address(m.id),
            bootindex(BootDevice::Network)
        ),
        "-pidfile".into(),
        p(paths.pidfile()),
        "-daemonize".into(),
    ];
    if let Some(seed) = seed {
        args.extend([
            "-blockdev".into(),
            format!(
                "driver=raw,node-name={SEED_NODE},read-only=on,file.driver=file,file.filename={}",
                p(seed.to_path_buf())
            ),
            "-device".into(),
            format!("virtio-blk-pci,drive={SEED_NODE},id=seed"),
        ]);
    }
    if strict {
        args.extend(["-boot".into(), "strict=on".into()]);
    }
    args
}

/// The NIC's backend: user-mode with the machine's forwards bound to the node's loopback
/// only, or the tap the bridge made.
fn netdev(m: &BridgeMachine, nic: Nic<'_>) -> String {
    match nic {
        Nic::Tap(tap) => format!("tap,id=net0,ifname={tap},script=no,downscript=no"),
        Nic::User => {
            let mut dev = String::from("user,id=net0");
            for f in &m.port_forwards {
                dev.push_str(&format!(",hostfwd={}:127.0.0.1:{}-:{}", f.protocol, f.host_port, f.guest_port));
            }
            dev
        }
    }
}

/// `qemu-img create` arguments: an overlay on `image` (copy-on-write, no copy), or blank.
pub fn disk_create_args(disk: &Path, size_gib: u64, image: Option<(&Path, &str)>) -> Vec<String> {
    let mut args = vec!["create".into(), "-q".into(), "-f".into(), "qcow2".into()];
    if let Some((path, format)) = image {
        let format = if format == "iso" { "raw" } else { format };
        args.extend(["-F".into(), format.into(), "-b".into(), path.display().to_string()]);
    }
    args.extend([disk.display().to_string(), format!("{size_gib}G")]);
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::machine::MachineState;

    fn machine() -> BridgeMachine {
        BridgeMachine {
            id: "0123abcd-ef01-4567-89ab-cdef01234567".parse().unwrap(),
            name: "web".into(),
            kind: Default::default(),
            vcpus: 2,
            memory_mib: 256,
            disk_gib: 1,
            image: None,
            port_forwards: vec![corral_api::bridge::PortForward {
                protocol: "tcp".into(),
                host_port: 2222,
                guest_port: 22,
            }],
            boot_order: vec![],
            cdrom: None,
            host_bridge: None,
            zone: None,
            init_id: None,
            state: MachineState::Stopped,
            created_at: String::new(),
        }
    }

    #[test]
    fn a_seed_is_a_disk_of_its_own_that_never_boots() {
        let line = qemu_args(
            &machine(),
            &VmPaths::new("/d".into()),
            "tcg",
            None,
            Some(Path::new("/d/seed.iso")),
            Nic::User,
        )
        .join(" ");
        assert!(
            line.contains(
                "-blockdev driver=raw,node-name=seed0,read-only=on,file.driver=file,file.filename=/d/seed.iso \
                 -device virtio-blk-pci,drive=seed0,id=seed "
            ),
            "{line}"
        );
        assert!(line.contains("drive=disk0,bootindex=1") && line.contains("bus=ide.0,bootindex=0"), "{line}");
        assert!(line.ends_with("-boot strict=on"), "only the numbered devices boot: {line}");
    }

    #[test]
    fn command_line_names_every_socket_and_the_accelerator() {
        let m = machine();
        let paths = VmPaths::new("/d".into());
        let line = qemu_args(&m, &paths, "tcg", None, None, Nic::User).join(" ");
        for want in [
            "-accel tcg",
            "-smp 2",
            "-m 256M",
            "-vnc unix:/d/vnc.sock",
            "path=/d/serial.sock,server=on,wait=off",
            "-qmp unix:/d/qmp.sock,server=on,wait=off",
            "file.filename=/d/disk.qcow2",
            "-pidfile /d/qemu.pid -daemonize",
            "-netdev user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22",
            "virtio-net-pci,netdev=net0,mac=52:54:00:01:23:ab",
            // An empty drive, so an ISO can be inserted later.
            "-drive if=none,id=cd0,media=cdrom,readonly=on -device ide-cd,drive=cd0,id=cdrom0,bus=ide.0,bootindex=0",
            "virtio-blk-pci,drive=disk0,bootindex=1",
        ] {
            assert!(line.contains(want), "{want} not in {line}");
        }
        assert!(!line.contains("strict"), "the default order lets SeaBIOS try the rest");
        assert!(
            qemu_args(&m, &paths, "kvm", None, None, Nic::User)
                .join(" ")
                .contains("-cpu host,-arch-capabilities")
        );
        let with_cd =
            qemu_args(&m, &paths, "tcg", Some(Path::new("/i/install.iso")), None, Nic::User).join(" ");
        assert!(with_cd.contains("readonly=on,format=raw,file=/i/install.iso"), "{with_cd}");
    }

    #[test]
    fn a_boot_order_numbers_only_its_devices() {
        let mut m = machine();
        m.boot_order = vec![BootDevice::Network, BootDevice::Disk];
        let line = qemu_args(&m, &VmPaths::new("/d".into()), "tcg", None, None, Nic::User).join(" ");
        assert!(line.contains("mac=52:54:00:01:23:ab,bootindex=0"), "{line}");
        assert!(line.contains("drive=disk0,bootindex=1"), "{line}");
        assert!(line.contains("id=cdrom0,bus=ide.0 "), "the CD is not bootable: {line}");
        assert!(line.ends_with("-boot strict=on"), "{line}");
    }

    #[test]
    fn a_tap_nic_replaces_user_networking() {
        let line = qemu_args(&machine(), &VmPaths::new("/d".into()), "tcg", None, None, Nic::Tap("ctap0123"))
            .join(" ");
        assert!(line.contains("-netdev tap,id=net0,ifname=ctap0123,script=no,downscript=no"), "{line}");
        assert!(!line.contains("hostfwd"), "{line}");
    }

    #[test]
    fn disks_are_overlays_of_their_image() {
        let a = disk_create_args(Path::new("/d/disk.qcow2"), 4, Some((Path::new("/i/tiny.qcow2"), "qcow2")));
        assert_eq!(a.join(" "), "create -q -f qcow2 -F qcow2 -b /i/tiny.qcow2 /d/disk.qcow2 4G");
        let b = disk_create_args(Path::new("/d/disk.qcow2"), 4, None);
        assert_eq!(b.join(" "), "create -q -f qcow2 /d/disk.qcow2 4G");
    }

    #[test]
    fn long_data_dirs_are_caught() {
        assert!(VmPaths::new("/short".into()).sockets_fit());
        assert!(!VmPaths::new(PathBuf::from("/".repeat(100))).sockets_fit());
    }
}
