//! The files of one VM and the QEMU command line that runs it.
//!
//! Everything a VM needs lives in its directory: `spec.json`, `disk.qcow2`, `qemu.pid` and
//! the QMP, VNC and serial sockets. QEMU is started with `-daemonize`: the launching process
//! exits once the VM is set up (its stderr then says why if it failed), and the VM itself is
//! reparented away from the bridge, so a bridge that dies never takes a guest with it.

use std::path::{Path, PathBuf};

use corral_api::bridge::BridgeMachine;

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

/// The arguments of `qemu-system-x86_64` for a machine.
///
/// The disk boots first; with an installer `cdrom` attached, the CD boots first and the disk
/// after it (SeaBIOS moves on when the CD is not bootable).
pub fn qemu_args(m: &BridgeMachine, paths: &VmPaths, accel: &str, cdrom: Option<&Path>) -> Vec<String> {
    let p = |path: PathBuf| path.display().to_string();
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
        "virtio-blk-pci,drive=disk0,bootindex=1".into(),
        "-nic".into(),
        nic(m),
        "-pidfile".into(),
        p(paths.pidfile()),
        "-daemonize".into(),
    ];
    if let Some(iso) = cdrom {
        args.extend([
            "-drive".into(),
            format!("file={},format=raw,media=cdrom,readonly=on,if=none,id=cd0", p(iso.to_path_buf())),
            "-device".into(),
            "ide-cd,drive=cd0,bus=ide.0,bootindex=0".into(),
        ]);
    }
    args
}

/// User-mode networking, with the machine's forwards bound to the node's loopback only.
fn nic(m: &BridgeMachine) -> String {
    let mut nic = String::from("user,model=virtio-net-pci");
    for f in &m.port_forwards {
        nic.push_str(&format!(",hostfwd={}:127.0.0.1:{}-:{}", f.protocol, f.host_port, f.guest_port));
    }
    nic
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
    use corral_api::MachineId;
    use corral_api::machine::MachineState;

    #[test]
    fn command_line_names_every_socket_and_the_accelerator() {
        let m = BridgeMachine {
            id: MachineId::new_random(),
            name: "web".into(),
            vcpus: 2,
            memory_mib: 256,
            disk_gib: 1,
            image: None,
            port_forwards: vec![corral_api::bridge::PortForward {
                protocol: "tcp".into(),
                host_port: 2222,
                guest_port: 22,
            }],
            state: MachineState::Stopped,
            created_at: String::new(),
        };
        let paths = VmPaths::new("/d".into());
        let line = qemu_args(&m, &paths, "tcg", None).join(" ");
        for want in [
            "-accel tcg",
            "-smp 2",
            "-m 256M",
            "-vnc unix:/d/vnc.sock",
            "path=/d/serial.sock,server=on,wait=off",
            "-qmp unix:/d/qmp.sock,server=on,wait=off",
            "file.filename=/d/disk.qcow2",
            "-pidfile /d/qemu.pid -daemonize",
            "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:2222-:22",
        ] {
            assert!(line.contains(want), "{want} not in {line}");
        }
        assert!(qemu_args(&m, &paths, "kvm", None).join(" ").contains("-cpu host,-arch-capabilities"));
        assert!(!line.contains("cdrom"));
        let with_cd = qemu_args(&m, &paths, "tcg", Some(Path::new("/i/install.iso"))).join(" ");
        assert!(with_cd.contains("file=/i/install.iso,format=raw,media=cdrom,readonly=on"), "{with_cd}");
        assert!(
            with_cd.contains("bootindex=0") && with_cd.contains("bootindex=1"),
            "CD first, then the disk"
        );
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
