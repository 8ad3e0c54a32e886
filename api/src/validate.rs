//! Field rules shared by the server (which enforces them) and the UI forms (which show them
//! before a request is sent). A rule lives here once.

use crate::machine::MachineCreate;

mod guest;
pub use guest::*;

/// A field that breaks a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub field: &'static str,
    pub message: String,
}

impl FieldError {
    fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self { field, message: message.into() }
    }
}

/// A rule as the OpenAPI document states it (`maxLength`, `pattern`, `minimum`, …). The
/// validators below enforce exactly these; a test checks each pattern against its validator.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Limit {
    Text { min: usize, max: usize, pattern: Option<&'static str> },
    Int { min: u64, max: u64 },
    Number { min: f64, max: f64 },
    Items { max: usize, unique: bool },
}

const fn text(min: usize, max: usize, pattern: &'static str) -> Limit {
    Limit::Text { min, max, pattern: Some(pattern) }
}

const fn int(min: u64, max: u64) -> Limit {
    Limit::Int { min, max }
}

pub const MACHINE_NAME_PATTERN: &str = "^[a-z]([a-z0-9-]*[a-z0-9])?$";
pub const USERNAME_PATTERN: &str = "^[a-z][a-z0-9._-]*$";
pub const SNAPSHOT_NAME_PATTERN: &str = "^([A-Za-z][A-Za-z0-9._-]*|[0-9]+[A-Za-z._-][A-Za-z0-9._-]*)$";
pub const IMAGE_NAME_PATTERN: &str =
    "^[A-Za-z0-9_-][A-Za-z0-9._-]*[.](qcow2|raw|img|iso|tar|tar[.]gz|tgz|tar[.]xz)$";
pub const ISO_NAME_PATTERN: &str = "^[A-Za-z0-9_-][A-Za-z0-9._-]*[.]iso$";
pub const HOST_BRIDGE_PATTERN: &str = "^[A-Za-z0-9_][A-Za-z0-9._-]*$";
pub const HOST_KEY_PATTERN: &str = "^SHA256:[A-Za-z0-9+/]{43}$";
pub const HOST_PATTERN: &str = "^[A-Za-z0-9.:][A-Za-z0-9.:-]*$";
pub const NODE_USER_PATTERN: &str = "^[A-Za-z0-9._][A-Za-z0-9._-]*$";
/// Segments of letters, digits, `.`, `_`, `-`, none of them `.` or `..`.
pub const SOCKET_PATTERN: &str =
    "^(/([.][.][A-Za-z0-9._-]+|[.][A-Za-z0-9_-][A-Za-z0-9._-]*|[A-Za-z0-9_-][A-Za-z0-9._-]*))+$";
pub const PROTOCOL_PATTERN: &str = "^(tcp|udp)$";
pub const SHA256_PATTERN: &str = "^[0-9a-fA-F]{64}$";
pub const PRINTABLE_PATTERN: &str = "^[^\\x00-\\x1F\\x7F-\\x9F]*$";
pub const IDEMPOTENCY_KEY_PATTERN: &str = "^[A-Za-z0-9._:-]+$";
pub const SOCKET_MAX_LEN: usize = 107;
pub const HOST_MAX_LEN: usize = 253;
pub const NODE_USER_MAX_LEN: usize = 32;
pub const HOST_BRIDGE_MAX_LEN: usize = 15;
pub const IDEMPOTENCY_KEY_MAX_LEN: usize = 100;
pub const TOKEN_NAME_MAX_LEN: usize = 64;
pub const TOKEN_DAYS_MAX: u32 = 3650;
pub const IMAGE_SOURCE_MAX_LEN: usize = 2048;
/// The largest value of any tenant limit: far above any fleet, far below what sums of them
/// could overflow.
pub const QUOTA_MAX: u64 = 1 << 40;
/// The most entries one page of the audit log holds.
pub const AUDIT_PAGE_MAX: u32 = 1000;

/// Every request field's rule, by schema and field, as the OpenAPI document states it.
pub const FIELD_LIMITS: &[(&str, &str, Limit)] = &[
    ("LoginRequest", "username", Limit::Text { min: 1, max: USERNAME_MAX_LEN, pattern: None }),
    ("LoginRequest", "password", Limit::Text { min: 0, max: PASSWORD_MAX_LEN, pattern: None }),
    ("MachineCreate", "name", text(1, NAME_MAX_LEN, MACHINE_NAME_PATTERN)),
    ("MachineCreate", "vcpus", int(VCPUS_MIN as u64, VCPUS_MAX as u64)),
    ("MachineCreate", "memory_mib", int(MEMORY_MIB_MIN, MEMORY_MIB_MAX)),
    ("MachineCreate", "disk_gib", int(DISK_GIB_MIN, DISK_GIB_MAX)),
    ("MachineCreate", "image", text(1, IMAGE_NAME_MAX_LEN, IMAGE_NAME_PATTERN)),
    ("MachineCreate", "cdrom", text(1, IMAGE_NAME_MAX_LEN, ISO_NAME_PATTERN)),
    ("MachineCreate", "host_bridge", text(1, HOST_BRIDGE_MAX_LEN, HOST_BRIDGE_PATTERN)),
    ("MachineCreate", "port_forwards", Limit::Items { max: PORT_FORWARDS_MAX, unique: true }),
    ("MachineCreate", "boot_order", Limit::Items { max: 3, unique: true }),
    ("MachineCreate", "hostname", text(1, HOSTNAME_MAX_LEN, HOSTNAME_PATTERN)),
    ("MachineCreate", "user_data", Limit::Text { min: 0, max: USER_DATA_MAX_BYTES, pattern: None }),
    ("MachineCreate", "ssh_key_ids", Limit::Items { max: SSH_KEYS_PER_MACHINE_MAX, unique: true }),
    ("StaticNetwork", "address", text(9, 18, "^[0-9./]+$")),
    ("StaticNetwork", "gateway", text(7, 15, "^[0-9.]+$")),
    ("StaticNetwork", "nameservers", Limit::Items { max: NAMESERVERS_MAX, unique: false }),
    ("UserData", "user_data", Limit::Text { min: 0, max: USER_DATA_MAX_BYTES, pattern: None }),
    ("SshKeyCreate", "name", text(1, SSH_KEY_NAME_MAX_LEN, PRINTABLE_PATTERN)),
    ("SshKeyCreate", "public_key", Limit::Text { min: 1, max: SSH_PUBLIC_KEY_MAX_LEN, pattern: None }),
    ("PortForward", "protocol", text(3, 3, PROTOCOL_PATTERN)),
    ("PortForward", "host_port", int(1024, 65535)),
    ("PortForward", "guest_port", int(1, 65535)),
    ("MachineUpdate", "name", text(1, NAME_MAX_LEN, MACHINE_NAME_PATTERN)),
    ("MachineUpdate", "vcpus", int(VCPUS_MIN as u64, VCPUS_MAX as u64)),
    ("MachineUpdate", "memory_mib", int(MEMORY_MIB_MIN, MEMORY_MIB_MAX)),
    ("MachineUpdate", "disk_gib", int(DISK_GIB_MIN, DISK_GIB_MAX)),
    ("MachineUpdate", "port_forwards", Limit::Items { max: PORT_FORWARDS_MAX, unique: true }),
    ("MachineUpdate", "boot_order", Limit::Items { max: 3, unique: true }),
    ("MachineUpdate", "cdrom", text(1, IMAGE_NAME_MAX_LEN, ISO_NAME_PATTERN)),
    ("SnapshotCreate", "name", text(1, SNAPSHOT_NAME_MAX_LEN, SNAPSHOT_NAME_PATTERN)),
    ("SnapshotClone", "name", text(1, NAME_MAX_LEN, MACHINE_NAME_PATTERN)),
    ("ImageImport", "name", text(1, IMAGE_NAME_MAX_LEN, IMAGE_NAME_PATTERN)),
    ("ImageImport", "source", Limit::Text { min: 1, max: IMAGE_SOURCE_MAX_LEN, pattern: None }),
    ("ImageImport", "sha256", text(64, 64, SHA256_PATTERN)),
    ("NodeEnroll", "name", text(1, NAME_MAX_LEN, MACHINE_NAME_PATTERN)),
    ("NodeEnroll", "host", text(1, HOST_MAX_LEN, HOST_PATTERN)),
    ("NodeEnroll", "port", int(1, 65535)),
    ("NodeEnroll", "user", text(1, NODE_USER_MAX_LEN, NODE_USER_PATTERN)),
    ("NodeEnroll", "socket", text(2, SOCKET_MAX_LEN, SOCKET_PATTERN)),
    ("NodeEnroll", "host_key", text(50, 50, HOST_KEY_PATTERN)),
    ("HostKeyProbe", "host", text(1, HOST_MAX_LEN, HOST_PATTERN)),
    ("HostKeyProbe", "port", int(1, 65535)),
    ("HostKey", "host_key", text(50, 50, HOST_KEY_PATTERN)),
    ("TenantCreate", "name", text(1, NAME_MAX_LEN, MACHINE_NAME_PATTERN)),
    ("TenantUpdate", "name", text(1, NAME_MAX_LEN, MACHINE_NAME_PATTERN)),
    ("UserCreate", "username", text(1, USERNAME_MAX_LEN, USERNAME_PATTERN)),
    ("UserCreate", "password", Limit::Text { min: PASSWORD_MIN_LEN, max: PASSWORD_MAX_LEN, pattern: None }),
    ("PasswordChange", "current", Limit::Text { min: 0, max: PASSWORD_MAX_LEN, pattern: None }),
    ("PasswordChange", "new", Limit::Text { min: PASSWORD_MIN_LEN, max: PASSWORD_MAX_LEN, pattern: None }),
    ("QuotaLimits", "vcpus", int(0, QUOTA_MAX)),
    ("QuotaLimits", "memory_mib", int(0, QUOTA_MAX)),
    ("QuotaLimits", "disk_gib", int(0, QUOTA_MAX)),
    ("QuotaLimits", "machines", int(0, QUOTA_MAX)),
    ("QuotaLimits", "snapshots", int(0, QUOTA_MAX)),
    ("ApiTokenCreate", "name", text(1, TOKEN_NAME_MAX_LEN, PRINTABLE_PATTERN)),
    ("ApiTokenCreate", "expires_in_days", int(1, TOKEN_DAYS_MAX as u64)),
    ("NodeUpdate", "cpu_ratio", Limit::Number { min: RATIO_MIN, max: CPU_RATIO_MAX }),
    ("NodeUpdate", "memory_ratio", Limit::Number { min: RATIO_MIN, max: MEMORY_RATIO_MAX }),
    ("NodeUpdate", "disk_ratio", Limit::Number { min: RATIO_MIN, max: DISK_RATIO_MAX }),
];

/// The smallest allocation ratio: a tenth of a node (for one kept mostly free).
pub const RATIO_MIN: f64 = 0.1;
pub const CPU_RATIO_MAX: f64 = 64.0;
/// Memory overcommit beyond this swaps a node to death.
pub const MEMORY_RATIO_MAX: f64 = 4.0;
pub const DISK_RATIO_MAX: f64 = 16.0;

/// A node's allocation ratios, each between `RATIO_MIN` and its maximum.
pub fn node_update(req: &crate::node::NodeUpdate) -> Result<(), FieldError> {
    for (field, value, max) in [
        ("cpu_ratio", req.cpu_ratio, CPU_RATIO_MAX),
        ("memory_ratio", req.memory_ratio, MEMORY_RATIO_MAX),
        ("disk_ratio", req.disk_ratio, DISK_RATIO_MAX),
    ] {
        if let Some(v) = value
            && !(RATIO_MIN..=max).contains(&v)
        {
            return Err(FieldError::new(field, format!("between {RATIO_MIN} and {max}")));
        }
    }
    Ok(())
}

pub const NAME_MAX_LEN: usize = 63;
pub const VCPUS_MIN: u32 = 1;
pub const VCPUS_MAX: u32 = 256;
pub const MEMORY_MIB_MIN: u64 = 64;
pub const MEMORY_MIB_MAX: u64 = 4 * 1024 * 1024;
pub const DISK_GIB_MIN: u64 = 1;
pub const DISK_GIB_MAX: u64 = 64 * 1024;
pub const USERNAME_MAX_LEN: usize = 64;

/// A machine name is a DNS label: 1–63 of `a-z`, `0-9` and `-`, starting with a letter and
/// not ending with `-`. It becomes a hostname, a file name and a URL segment, so no other
/// characters are allowed.
pub fn machine_name(name: &str) -> Result<(), FieldError> {
    let err = |m: &str| Err(FieldError::new("name", m));
    if name.is_empty() {
        return err("a name is required");
    }
    if name.len() > NAME_MAX_LEN {
        return Err(FieldError::new(
            "name",
            format!("at most {NAME_MAX_LEN} characters (this one has {})", name.chars().count()),
        ));
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        return err("only lowercase letters, digits and '-'");
    }
    if !name.as_bytes()[0].is_ascii_lowercase() {
        return err("must start with a lowercase letter");
    }
    if name.ends_with('-') {
        return err("must not end with '-'");
    }
    Ok(())
}

pub fn vcpus(n: u32) -> Result<(), FieldError> {
    if !(VCPUS_MIN..=VCPUS_MAX).contains(&n) {
        return Err(FieldError::new("vcpus", format!("between {VCPUS_MIN} and {VCPUS_MAX}")));
    }
    Ok(())
}

pub fn memory_mib(n: u64) -> Result<(), FieldError> {
    if !(MEMORY_MIB_MIN..=MEMORY_MIB_MAX).contains(&n) {
        return Err(FieldError::new(
            "memory_mib",
            format!("between {MEMORY_MIB_MIN} and {MEMORY_MIB_MAX} MiB"),
        ));
    }
    Ok(())
}

pub fn disk_gib(n: u64) -> Result<(), FieldError> {
    if !(DISK_GIB_MIN..=DISK_GIB_MAX).contains(&n) {
        return Err(FieldError::new("disk_gib", format!("between {DISK_GIB_MIN} and {DISK_GIB_MAX} GiB")));
    }
    Ok(())
}

/// Every rule of a create request, first failure first (the order of the form's fields).
pub fn machine_create(req: &MachineCreate) -> Result<(), FieldError> {
    machine_name(&req.name)?;
    vcpus(req.vcpus)?;
    memory_mib(req.memory_mib)?;
    disk_gib(req.disk_gib)?;
    port_forwards(&req.port_forwards)?;
    if let Some(image) = &req.image {
        image_name(image)?;
    }
    image_for_kind(req.kind, req.image.as_deref())?;
    boot_order(&req.boot_order)?;
    if let Some(iso) = &req.cdrom {
        cdrom(iso)?;
    }
    zone_devices(req.kind, &req.boot_order, req.cdrom.as_deref())?;
    network(req.host_bridge.as_deref(), &req.port_forwards)?;
    ssh_key_ids(&req.ssh_key_ids)?;
    if let Some(u) = &req.user_data {
        user_data(u.as_str())?;
    }
    if let Some(h) = &req.hostname {
        hostname(h)?;
    }
    if let Some(n) = &req.network {
        if req.kind == crate::spec::MachineKind::Zone {
            return Err(FieldError::new(
                "network",
                "a zone takes its address from its own network config; static addresses are for VMs",
            ));
        }
        if req.host_bridge.is_none() {
            return Err(FieldError::new(
                "network",
                "a static address is for a NIC on a host bridge; user-mode networking gives its own",
            ));
        }
        static_network(n)?;
    }
    Ok(())
}

/// Every rule of an update, each field only when present, in the order of the fields. The
/// backend checks what a user sent and the bridge what the backend sent, with this same
/// function. (What depends on the machine, such as its state or kind, is checked by those
/// who know it.)
pub fn machine_update(req: &crate::bridge::BridgeMachineUpdate) -> Result<(), FieldError> {
    if let Some(name) = &req.name {
        machine_name(name)?;
    }
    if let Some(n) = req.vcpus {
        vcpus(n)?;
    }
    if let Some(n) = req.memory_mib {
        memory_mib(n)?;
    }
    if let Some(n) = req.disk_gib {
        disk_gib(n)?;
    }
    if let Some(list) = &req.port_forwards {
        port_forwards(list)?;
    }
    if let Some(order) = &req.boot_order {
        boot_order(order)?;
    }
    if let Some(init) = &req.init {
        guest_init(init)?;
    }
    if let Some(Some(iso)) = &req.cdrom {
        cdrom(iso)?;
    }
    Ok(())
}

/// A zone is made from a zone image (it has no disk to install onto); a VM from a disk image
/// or a blank disk.
pub fn image_for_kind(kind: crate::spec::MachineKind, image: Option<&str>) -> Result<(), FieldError> {
    use crate::spec::MachineKind;
    match (kind, image) {
        (MachineKind::Zone, None) => Err(FieldError::new("image", "a zone is made from a zone image")),
        (k, Some(name)) if image_kind(name) != k => Err(FieldError::new(
            "image",
            format!("{name} is an image for a {}, not a {}", image_kind(name).label(), k.label()),
        )),
        _ => Ok(()),
    }
}

/// Zones have no firmware to boot from devices and no CD drive.
pub fn zone_devices(
    kind: crate::spec::MachineKind,
    boot_order: &[crate::spec::BootDevice],
    cdrom: Option<&str>,
) -> Result<(), FieldError> {
    if kind != crate::spec::MachineKind::Zone {
        return Ok(());
    }
    if !boot_order.is_empty() {
        return Err(FieldError::new("boot_order", "a zone boots its own init, from no device"));
    }
    if cdrom.is_some() {
        return Err(FieldError::new("cdrom", "a zone has no CD drive"));
    }
    Ok(())
}

/// A boot order names each device at most once.
pub fn boot_order(list: &[crate::spec::BootDevice]) -> Result<(), FieldError> {
    for (i, d) in list.iter().enumerate() {
        if list[..i].contains(d) {
            return Err(FieldError::new("boot_order", format!("{} is listed twice", d.as_str())));
        }
    }
    Ok(())
}

/// What goes in a CD drive is an ISO image.
pub fn cdrom(name: &str) -> Result<(), FieldError> {
    image_name(name).map_err(|e| FieldError::new("cdrom", e.message))?;
    if name.ends_with(".iso") {
        Ok(())
    } else {
        Err(FieldError::new("cdrom", "only .iso images go in the CD drive"))
    }
}

/// A NIC is on a host bridge (an interface name: 1–15 of letters, digits, `.`, `_`, `-`) or
/// on user-mode networking with port forwards, not both.
pub fn network(host_bridge: Option<&str>, forwards: &[crate::spec::PortForward]) -> Result<(), FieldError> {
    let Some(bridge) = host_bridge else { return Ok(()) };
    let ok = !bridge.is_empty()
        && bridge.len() <= HOST_BRIDGE_MAX_LEN
        && !bridge.starts_with(['.', '-'])
        && bridge.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !ok {
        return Err(FieldError::new(
            "host_bridge",
            "an interface name: 1–15 of letters, digits, '.', '_', '-'",
        ));
    }
    if !forwards.is_empty() {
        return Err(FieldError::new(
            "port_forwards",
            "a NIC on a host bridge is reached on its own address: port forwards are for user-mode networking",
        ));
    }
    Ok(())
}

pub const SNAPSHOT_NAME_MAX_LEN: usize = 63;

/// A snapshot name: 1–63 of `a-z`, `A-Z`, `0-9`, `.`, `_`, `-`, starting with a letter or
/// digit, and not all digits. It is passed to QEMU's monitor, so nothing else is allowed,
/// and QEMU takes a name of digits alone for a snapshot's id (`loadvm 1` could load another
/// snapshot).
pub fn snapshot_name(name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.len() <= SNAPSHOT_NAME_MAX_LEN
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && !name.bytes().all(|b| b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "name",
            format!(
                "1–{SNAPSHOT_NAME_MAX_LEN} of letters, digits, '.', '_', '-', starting with a letter or digit, not digits alone"
            ),
        ))
    }
}

pub const PORT_FORWARDS_MAX: usize = 16;

/// Port forwards: at most 16, `tcp` or `udp`, host ports 1024–65535 (no privileged ports),
/// guest ports 1–65535, no host port twice.
pub fn port_forwards(list: &[crate::spec::PortForward]) -> Result<(), FieldError> {
    let err = |m: String| Err(FieldError::new("port_forwards", m));
    if list.len() > PORT_FORWARDS_MAX {
        return err(format!("at most {PORT_FORWARDS_MAX}"));
    }
    for (i, f) in list.iter().enumerate() {
        if f.protocol != "tcp" && f.protocol != "udp" {
            return err(format!("protocol is tcp or udp, not {:?}", f.protocol));
        }
        if f.host_port < 1024 {
            return err(format!("host port {} is privileged: use 1024–65535", f.host_port));
        }
        if f.guest_port == 0 {
            return err("guest port 0 is not a port".into());
        }
        if list[..i].iter().any(|o| o.protocol == f.protocol && o.host_port == f.host_port) {
            return err(format!("host port {} is forwarded twice", f.host_port));
        }
    }
    Ok(())
}

pub const IMAGE_NAME_MAX_LEN: usize = 100;

/// An image name is a plain file name: 1–100 of `a-z`, `A-Z`, `0-9`, `.`, `_`, `-`, not
/// starting with `.` (so never `..` or a hidden file), ending in `.qcow2`, `.raw`, `.img` or
/// `.iso`.
/// Names of VM disk images end in one of these.
pub const DISK_IMAGE_EXTENSIONS: &[&str] = &[".qcow2", ".raw", ".img", ".iso"];
/// Names of zone images (root filesystem tarballs) end in one of these.
pub const ZONE_IMAGE_EXTENSIONS: &[&str] = &[".tar", ".tar.gz", ".tgz", ".tar.xz"];

/// The kind of machine an image of this name is for.
pub fn image_kind(name: &str) -> crate::spec::MachineKind {
    if ZONE_IMAGE_EXTENSIONS.iter().any(|e| name.ends_with(e)) {
        crate::spec::MachineKind::Zone
    } else {
        crate::spec::MachineKind::Vm
    }
}

pub fn image_name(name: &str) -> Result<(), FieldError> {
    let chars_ok = !name.is_empty()
        && name.len() <= IMAGE_NAME_MAX_LEN
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let ext_ok = DISK_IMAGE_EXTENSIONS.iter().chain(ZONE_IMAGE_EXTENSIONS).any(|e| name.ends_with(e));
    if chars_ok && ext_ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "image",
            "a file name of letters, digits, '.', '_', '-' ending in .qcow2, .raw, .img, .iso (a VM's \
             disk) or .tar, .tar.gz, .tgz, .tar.xz (a zone's root filesystem)",
        ))
    }
}

/// An SSH host key fingerprint as OpenSSH prints it: `SHA256:` and 43 base64 characters.
pub fn host_key(fp: &str) -> Result<(), FieldError> {
    let ok = fp.strip_prefix("SHA256:").is_some_and(|b| {
        b.len() == 43 && b.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'+' || c == b'/')
    });
    if ok {
        Ok(())
    } else {
        Err(FieldError::new("host_key", "SHA256: and 43 base64 characters, as `ssh-keygen -lf` prints it"))
    }
}

/// A host name or IP address: 1–253 of letters, digits, `.`, `-`, `:` (IPv6).
pub fn host(h: &str) -> Result<(), FieldError> {
    let ok = !h.is_empty()
        && h.len() <= HOST_MAX_LEN
        && !h.starts_with('-')
        && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b));
    if ok { Ok(()) } else { Err(FieldError::new("host", "a host name or IP address")) }
}

/// Every rule of a node enrolment, in the form's order.
pub fn node_enroll(req: &crate::node::NodeEnroll) -> Result<(), FieldError> {
    machine_name(&req.name)?;
    host(&req.host)?;
    if req.port == 0 {
        return Err(FieldError::new("port", "a port number from 1 to 65535"));
    }
    let user_ok = !req.user.is_empty()
        && req.user.len() <= NODE_USER_MAX_LEN
        && !req.user.starts_with('-')
        && req.user.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !user_ok {
        return Err(FieldError::new("user", "a user name on the node: letters, digits, '.', '_', '-'"));
    }
    // Segments of letters, digits, `.`, `_`, `-`, none of them `.` or `..`: no way up.
    let socket_ok = req.socket.starts_with('/')
        && req.socket.len() <= SOCKET_MAX_LEN
        && req.socket[1..].split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        });
    if !socket_ok {
        return Err(FieldError::new(
            "socket",
            format!("an absolute path of at most {SOCKET_MAX_LEN} bytes: letters, digits, '.', '_', '-'"),
        ));
    }
    host_key(&req.host_key)
}

/// An `Idempotency-Key` header: 1–100 of letters, digits, `.`, `_`, `:`, `-` (a UUID fits).
pub fn idempotency_key(key: &str) -> Result<(), FieldError> {
    let ok = !key.is_empty()
        && key.len() <= IDEMPOTENCY_KEY_MAX_LEN
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new("Idempotency-Key", "1–100 of letters, digits, '.', '_', ':', '-'"))
    }
}

pub const PASSWORD_MIN_LEN: usize = 10;
pub const PASSWORD_MAX_LEN: usize = 200;

/// A password: 10–200 characters. Length is what makes one strong; no other rules.
pub fn password(p: &str) -> Result<(), FieldError> {
    let n = p.chars().count();
    if (PASSWORD_MIN_LEN..=PASSWORD_MAX_LEN).contains(&n) {
        Ok(())
    } else {
        Err(FieldError::new(
            "password",
            format!("{PASSWORD_MIN_LEN}–{PASSWORD_MAX_LEN} characters (this one has {n})"),
        ))
    }
}

/// A machine as a node reports it: the same rules a create must pass, since the node is
/// not trusted to have made only what it was asked to. A report that breaks one is not
/// recorded.
pub fn bridge_machine(m: &crate::bridge::BridgeMachine) -> Result<(), FieldError> {
    machine_name(&m.name)?;
    vcpus(m.vcpus)?;
    memory_mib(m.memory_mib)?;
    disk_gib(m.disk_gib)?;
    port_forwards(&m.port_forwards)?;
    if let Some(image) = &m.image {
        image_name(image)?;
    }
    boot_order(&m.boot_order)?;
    if let Some(iso) = &m.cdrom {
        cdrom(iso)?;
    }
    network(m.host_bridge.as_deref(), &m.port_forwards)?;
    if let Some(z) = &m.zone {
        zone_label("zone.os", &z.os)?;
        zone_label("zone.release", &z.release)?;
    }
    timestamp("created_at", &m.created_at)
}

pub const ZONE_LABEL_MAX_CHARS: usize = 64;

/// A zone image's `os` or `release` (`debian`, `12`, `bookworm`): up to 64 letters, digits,
/// `.`, `_`, `-`, `+` or `~`, or empty when the image does not say.
pub fn zone_label(field: &'static str, s: &str) -> Result<(), FieldError> {
    let fine = s.chars().count() <= ZONE_LABEL_MAX_CHARS
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '+' | '~'));
    match fine {
        true => Ok(()),
        false => Err(FieldError::new(
            field,
            format!("up to {ZONE_LABEL_MAX_CHARS} letters, digits, '.', '_', '-', '+' or '~'"),
        )),
    }
}

/// The most a task's report keeps of each of its parts (a node's words, shown to people).
pub const TASK_TEXT_MAX_CHARS: usize = 1024;
pub const TASK_LOG_MAX_LINES: usize = 200;
pub const TASK_STEPS_MAX: usize = 32;

/// Bounds a task's report from a node: texts are cut, the log keeps its newest lines, the
/// progress is at most 100. Tasks are the node's account of its work, so a long one is
/// shortened rather than refused (its state must still arrive).
pub fn bridge_task_bound(t: &mut crate::task::BridgeTask) {
    let cut = |s: &mut String, max: usize| {
        if let Some((end, _)) = s.char_indices().nth(max) {
            s.truncate(end);
            s.push('…');
        }
    };
    cut(&mut t.kind, 64);
    cut(&mut t.target, 256);
    t.steps.truncate(TASK_STEPS_MAX);
    for step in &mut t.steps {
        cut(&mut step.name, 128);
    }
    if t.log.len() > TASK_LOG_MAX_LINES {
        t.log.drain(..t.log.len() - TASK_LOG_MAX_LINES);
    }
    for line in &mut t.log {
        cut(line, TASK_TEXT_MAX_CHARS);
    }
    t.progress = t.progress.min(100);
    if let Some(r) = &mut t.result {
        cut(r, TASK_TEXT_MAX_CHARS);
    }
    if let Some(e) = &mut t.error {
        cut(&mut e.message, TASK_TEXT_MAX_CHARS);
        if let Some(f) = &mut e.field {
            cut(f, 64);
        }
    }
    cut(&mut t.started_at, 64);
    if let Some(f) = &mut t.finished_at {
        cut(f, 64);
    }
}

/// Bounds what a node says of itself (`GET /v1/version`) before it is stored and shown:
/// texts are cut, lists shortened, host bridges that are not interface names dropped.
pub fn bridge_version_bound(v: &mut crate::bridge::BridgeVersion) {
    let cut = |s: &mut String, max: usize| {
        if let Some((end, _)) = s.char_indices().nth(max) {
            s.truncate(end);
        }
    };
    cut(&mut v.bridge_version, 64);
    cut(&mut v.driver, 32);
    v.capabilities.truncate(32);
    for c in &mut v.capabilities {
        cut(c, 32);
    }
    cut(&mut v.host.hostname, HOST_MAX_LEN);
    if let Some(a) = &mut v.accelerator {
        cut(&mut a.name, 32);
        cut(&mut a.reason, 256);
    }
    v.host_bridges.retain(|b| network(Some(b), &[]).is_ok());
    v.host_bridges.truncate(64);
}

/// An RFC 3339 time as nodes and the database write it: at most 64 of digits and
/// `-:.+TZ`.
fn timestamp(field: &'static str, t: &str) -> Result<(), FieldError> {
    let ok =
        !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_digit() || b"-:.+TZ".contains(&b));
    if ok { Ok(()) } else { Err(FieldError::new(field, "an RFC 3339 time")) }
}

/// A login's fields are no longer than any account's can be (the rest is the password check).
pub fn login(req: &crate::session::LoginRequest) -> Result<(), FieldError> {
    if !(1..=USERNAME_MAX_LEN).contains(&req.username.chars().count()) {
        return Err(FieldError::new("username", format!("1–{USERNAME_MAX_LEN} characters")));
    }
    if req.password.chars().count() > PASSWORD_MAX_LEN {
        return Err(FieldError::new("password", format!("at most {PASSWORD_MAX_LEN} characters")));
    }
    Ok(())
}

/// An import request: the image's name, a source of bounded length, a sha256 in hex.
pub fn image_import(req: &crate::machine::ImageImport) -> Result<(), FieldError> {
    image_name(&req.name).map_err(|e| FieldError::new("name", e.message))?;
    if !(1..=IMAGE_SOURCE_MAX_LEN).contains(&req.source.chars().count()) {
        return Err(FieldError::new("source", format!("1–{IMAGE_SOURCE_MAX_LEN} characters")));
    }
    let hex = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if req.sha256.as_deref().is_some_and(|s| !hex(s)) {
        return Err(FieldError::new("sha256", "64 hexadecimal digits"));
    }
    Ok(())
}

/// A tenant's limits: each at most `QUOTA_MAX`.
pub fn quota_limits(q: &crate::people::QuotaLimits) -> Result<(), FieldError> {
    let fields = [
        ("vcpus", q.vcpus),
        ("memory_mib", q.memory_mib),
        ("disk_gib", q.disk_gib),
        ("machines", q.machines),
        ("snapshots", q.snapshots),
    ];
    for (field, v) in fields {
        if v.is_some_and(|v| v > QUOTA_MAX) {
            return Err(FieldError::new(field, format!("at most {QUOTA_MAX}")));
        }
    }
    Ok(())
}

/// A page of the audit log: 1–`AUDIT_PAGE_MAX` entries.
/// A metrics query: a range forward in time, no longer than ten years, and a sane number of
/// points.
pub fn metric_query(q: &crate::metrics::MetricQuery) -> Result<(), FieldError> {
    use crate::metrics::{QUERY_POINTS_MAX, QUERY_RANGE_MAX};
    if q.points.is_some_and(|p| !(1..=QUERY_POINTS_MAX).contains(&p)) {
        return Err(FieldError::new("points", format!("from 1 to {QUERY_POINTS_MAX}")));
    }
    if q.from.is_some_and(|f| f < 0) {
        return Err(FieldError::new("from", "a time after 1970, in Unix seconds"));
    }
    if q.to.is_some_and(|t| t < 1) {
        return Err(FieldError::new("to", "a time after 1970, in Unix seconds"));
    }
    if let (Some(from), Some(to)) = (q.from, q.to) {
        if from >= to {
            return Err(FieldError::new("to", "after the start of the range"));
        }
        if to - from > QUERY_RANGE_MAX {
            return Err(FieldError::new("from", "within ten years of the end of the range"));
        }
    }
    Ok(())
}

pub fn audit_query(q: &crate::audit::AuditQuery) -> Result<(), FieldError> {
    if q.limit.is_some_and(|l| !(1..=AUDIT_PAGE_MAX).contains(&l)) {
        return Err(FieldError::new("limit", format!("1–{AUDIT_PAGE_MAX}")));
    }
    if let Some(a) = &q.action {
        let ok = (1..=AUDIT_ACTION_MAX_LEN).contains(&a.len())
            && a.bytes().all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_');
        if !ok {
            return Err(FieldError::new(
                "action",
                format!(
                    "an action such as machine.start, or machine. for all of a kind: 1–{AUDIT_ACTION_MAX_LEN} of a-z, '.', '_'"
                ),
            ));
        }
    }
    for (field, t) in [("since", &q.since), ("until", &q.until)] {
        if let Some(t) = t
            && (t.len() > 40 || crate::time::rfc3339_ms(t).is_none())
        {
            return Err(FieldError::new(field, "an RFC 3339 time, such as 2026-12-06T21:00:00Z"));
        }
    }
    Ok(())
}

pub const AUDIT_ACTION_MAX_LEN: usize = 64;

/// A token's name: 1–64 printable characters.
pub fn token_name(name: &str) -> Result<(), FieldError> {
    let n = name.chars().count();
    if (1..=TOKEN_NAME_MAX_LEN).contains(&n) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(FieldError::new("name", format!("1–{TOKEN_NAME_MAX_LEN} printable characters")))
    }
}

/// A token's lifetime: 1–3650 days.
pub fn token_days(days: u32) -> Result<(), FieldError> {
    if (1..=TOKEN_DAYS_MAX).contains(&days) {
        Ok(())
    } else {
        Err(FieldError::new("expires_in_days", format!("1–{TOKEN_DAYS_MAX} days")))
    }
}

/// A tenant name follows the machine-name rules: a DNS label.
pub fn tenant_name(name: &str) -> Result<(), FieldError> {
    machine_name(name)
}

/// A username: 1–64 of `a-z`, `0-9`, `.`, `_`, `-`, starting with a letter.
pub fn username(name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.len() <= USERNAME_MAX_LEN
        && name.as_bytes()[0].is_ascii_lowercase()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "username",
            format!("1–{USERNAME_MAX_LEN} of a-z, 0-9, '.', '_', '-', starting with a letter"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_names() {
        for good in ["a", "web-1", "db01", &"a".repeat(63)] {
            assert_eq!(machine_name(good), Ok(()), "{good}");
        }
        for bad in ["", "-a", "1abc", "Web", "a_b", "a b", "a-", "ä", "a/b", "a.b", &"a".repeat(64)] {
            let e = machine_name(bad).unwrap_err();
            assert_eq!(e.field, "name", "{bad}");
        }
    }

    #[test]
    fn too_long_name_says_by_how_much() {
        let e = machine_name(&"x".repeat(70)).unwrap_err();
        assert!(e.message.contains("70"), "{}", e.message);
    }

    #[test]
    fn sizes_have_bounds() {
        assert!(vcpus(0).is_err());
        assert!(vcpus(1).is_ok());
        assert!(vcpus(VCPUS_MAX + 1).is_err());
        assert!(memory_mib(63).is_err());
        assert!(memory_mib(128).is_ok());
        assert!(disk_gib(0).is_err());
        assert!(disk_gib(DISK_GIB_MAX + 1).is_err());
    }

    #[test]
    fn an_update_checks_only_what_it_carries_and_names_the_field() {
        use crate::bridge::BridgeMachineUpdate;
        use crate::spec::PortForward;
        assert_eq!(machine_update(&BridgeMachineUpdate::default()), Ok(()));
        let fwd = |host_port| PortForward { protocol: "tcp".into(), host_port, guest_port: 22 };
        let fine = BridgeMachineUpdate {
            vcpus: Some(2),
            memory_mib: Some(512),
            port_forwards: Some(vec![fwd(2222)]),
            ..Default::default()
        };
        assert_eq!(machine_update(&fine), Ok(()));
        for (bad, field) in [
            (BridgeMachineUpdate { name: Some("Bad Name".into()), ..Default::default() }, "name"),
            (BridgeMachineUpdate { vcpus: Some(0), ..Default::default() }, "vcpus"),
            (
                BridgeMachineUpdate { memory_mib: Some(MEMORY_MIB_MAX + 1), ..Default::default() },
                "memory_mib",
            ),
            (BridgeMachineUpdate { disk_gib: Some(0), ..Default::default() }, "disk_gib"),
            (
                BridgeMachineUpdate { port_forwards: Some(vec![fwd(80)]), ..Default::default() },
                "port_forwards",
            ),
            (
                BridgeMachineUpdate { port_forwards: Some(vec![fwd(2222), fwd(2222)]), ..Default::default() },
                "port_forwards",
            ),
            (BridgeMachineUpdate { cdrom: Some(Some("disk.qcow2".into())), ..Default::default() }, "cdrom"),
        ] {
            assert_eq!(machine_update(&bad).unwrap_err().field, field, "{bad:?}");
        }
    }

    #[test]
    fn a_nodes_ratios_stay_in_their_bounds() {
        use crate::node::NodeUpdate;
        let none = NodeUpdate { cpu_ratio: None, memory_ratio: None, disk_ratio: None };
        assert_eq!(node_update(&none), Ok(()), "nothing asked, nothing refused");
        let edges = NodeUpdate { cpu_ratio: Some(CPU_RATIO_MAX), memory_ratio: Some(RATIO_MIN), ..none };
        assert_eq!(node_update(&edges), Ok(()));
        for (bad, field) in [
            (NodeUpdate { cpu_ratio: Some(CPU_RATIO_MAX * 1.01), ..none }, "cpu_ratio"),
            (NodeUpdate { memory_ratio: Some(0.0), ..none }, "memory_ratio"),
            (NodeUpdate { disk_ratio: Some(-1.0), ..none }, "disk_ratio"),
            (NodeUpdate { disk_ratio: Some(f64::NAN), ..none }, "disk_ratio"),
        ] {
            assert_eq!(node_update(&bad).unwrap_err().field, field, "{bad:?}");
        }
    }

    #[test]
    fn the_size_bounds_are_what_the_docs_promise() {
        // Written out, not derived: a changed bound must be a decision, seen in this diff.
        assert_eq!((MEMORY_MIB_MAX, DISK_GIB_MAX), (4 << 20, 64 << 10));
        assert_eq!(QUOTA_MAX, 1 << 40);
    }

    #[test]
    fn zone_labels_are_short_plain_words() {
        for good in ["", "debian", "12", "bookworm", "1.36.1", "22.04-lts", "1.0+dfsg~1"] {
            assert!(zone_label("zone.os", good).is_ok(), "{good:?}");
        }
        let long = "a".repeat(ZONE_LABEL_MAX_CHARS + 1);
        for bad in ["<b>x</b>", "a b", "line\nbreak", "é", long.as_str()] {
            let e = zone_label("zone.os", bad).unwrap_err();
            assert_eq!(e.field, "zone.os", "{bad:?}");
        }
        assert!(zone_label("zone.os", &"a".repeat(ZONE_LABEL_MAX_CHARS)).is_ok());
    }

    #[test]
    fn zones_come_from_zone_images_and_have_no_devices() {
        use crate::spec::{BootDevice, MachineKind::*};
        assert_eq!(image_kind("debian-12.tar.xz"), Zone);
        assert_eq!(image_kind("tiny.qcow2"), Vm);
        assert!(image_name("busybox.tgz").is_ok() && image_name("busybox.tar.bz2").is_err());
        assert!(image_for_kind(Zone, Some("busybox.tar.gz")).is_ok());
        assert!(image_for_kind(Vm, None).is_ok());
        for (kind, image) in [(Zone, None), (Zone, Some("tiny.qcow2")), (Vm, Some("busybox.tar"))] {
            assert_eq!(image_for_kind(kind, image).unwrap_err().field, "image", "{kind} {image:?}");
        }
        let msg = image_for_kind(Vm, Some("busybox.tar")).unwrap_err().message;
        assert_eq!(msg, "busybox.tar is an image for a zone, not a VM");
        assert_eq!(zone_devices(Zone, &[BootDevice::Disk], None).unwrap_err().field, "boot_order");
        assert_eq!(zone_devices(Zone, &[], Some("x.iso")).unwrap_err().field, "cdrom");
        assert!(zone_devices(Vm, &[BootDevice::Disk], Some("x.iso")).is_ok());
    }

    #[test]
    fn create_reports_the_first_bad_field() {
        let req = MachineCreate {
            name: "ok".into(),
            kind: Default::default(),
            tenant_id: None,
            node_id: None,
            vcpus: 0,
            memory_mib: 1,
            disk_gib: 1,
            image: None,
            port_forwards: vec![],
            boot_order: vec![],
            cdrom: None,
            host_bridge: None,
            ..Default::default()
        };
        assert_eq!(machine_create(&req).unwrap_err().field, "vcpus");
    }

    #[test]
    fn boot_orders_cds_and_host_bridges() {
        use crate::spec::{BootDevice, PortForward};
        assert!(boot_order(&[]).is_ok());
        assert!(boot_order(&[BootDevice::Network, BootDevice::Disk]).is_ok());
        assert_eq!(boot_order(&[BootDevice::Disk, BootDevice::Disk]).unwrap_err().field, "boot_order");
        assert!(cdrom("debian.iso").is_ok());
        assert_eq!(cdrom("tiny.qcow2").unwrap_err().field, "cdrom");
        assert_eq!(cdrom("../x.iso").unwrap_err().field, "cdrom");
        assert!(network(None, &[]).is_ok());
        assert!(network(Some("br0"), &[]).is_ok());
        for bad in ["", "a-very-long-bridge", "br 0", "-br", "br/0"] {
            assert_eq!(network(Some(bad), &[]).unwrap_err().field, "host_bridge", "{bad}");
        }
        let fwd = PortForward { protocol: "tcp".into(), host_port: 2222, guest_port: 22 };
        assert_eq!(network(Some("br0"), &[fwd]).unwrap_err().field, "port_forwards");
    }

    #[test]
    fn node_enrolments() {
        let good = crate::node::NodeEnroll {
            name: "node1".into(),
            host: "10.0.0.5".into(),
            port: 22,
            user: "corral".into(),
            socket: "/run/corral/bridge.sock".into(),
            host_key: format!("SHA256:{}", "A".repeat(43)),
        };
        assert_eq!(node_enroll(&good), Ok(()));
        let bad = |f: fn(&mut crate::node::NodeEnroll)| {
            let mut r = good.clone();
            f(&mut r);
            node_enroll(&r).unwrap_err().field
        };
        assert_eq!(bad(|r| r.host = "a b".into()), "host");
        assert_eq!(bad(|r| r.host = "-oProxyCommand=x".into()), "host");
        assert_eq!(bad(|r| r.user = "-x".into()), "user");
        assert_eq!(bad(|r| r.socket = "run/x".into()), "socket");
        assert_eq!(bad(|r| r.host_key = "MD5:aa".into()), "host_key");
        assert_eq!(bad(|r| r.port = 0), "port");
    }

    #[test]
    fn snapshot_names() {
        assert!(snapshot_name("before-upgrade").is_ok());
        assert!(snapshot_name("2026.11.26_1").is_ok());
        for bad in ["", "-x", "a b", "a;b", "a\nb", &"s".repeat(64), "1", "20261126"] {
            assert!(snapshot_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn image_names() {
        assert!(image_name("tiny.qcow2").is_ok());
        assert!(image_name("debian-12_x86.iso").is_ok());
        for bad in ["", ".hidden.qcow2", "../x.qcow2", "a/b.qcow2", "noext", "x.exe"] {
            assert!(image_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn usernames() {
        assert!(username("admin").is_ok());
        assert!(username("j.doe_2").is_ok());
        assert!(username("").is_err());
        assert!(username("Admin").is_err());
        assert!(username("1x").is_err());
    }

    #[test]
    fn request_types_refuse_unknown_fields() {
        let json = r#"{"name":"a","vcpus":1,"memory_mib":128,"disk_gib":1,"colour":"red"}"#;
        assert!(serde_json::from_str::<MachineCreate>(json).is_err());
        let json = r#"{"name":"a","vcpus":-1,"memory_mib":128,"disk_gib":1}"#;
        assert!(serde_json::from_str::<MachineCreate>(json).is_err());
    }

    #[test]
    fn a_nodes_task_report_is_bounded() {
        let mut t: crate::task::BridgeTask = serde_json::from_value(serde_json::json!({
            "id": "6c2d5f8e-1b2a-4c3d-9e8f-0a1b2c3d4e5f", "kind": "k".repeat(10_000), "machine_id": null,
            "target": "t", "state": "running", "steps": [], "progress": 250,
            "log": (0..1000).map(|i| format!("line {i} {}", "x".repeat(5000))).collect::<Vec<_>>(),
            "result": null, "error": null, "started_at": "2026-12-05T07:00:00Z", "finished_at": null
        }))
        .unwrap();
        bridge_task_bound(&mut t);
        assert_eq!((t.kind.chars().count(), t.progress, t.log.len()), (65, 100, TASK_LOG_MAX_LINES));
        assert!(t.log[0].starts_with("line 800 ") && t.log.iter().all(|l| l.chars().count() <= 1025));
    }

    fn facts(os: &str, release: &str) -> crate::spec::ZoneFacts {
        crate::spec::ZoneFacts {
            os: os.into(),
            release: release.into(),
            init: crate::spec::ZoneInit::Systemd,
            storage: crate::spec::ZoneStorage::Dir,
        }
    }

    #[test]
    fn a_nodes_machine_report_passes_the_create_rules() {
        let good: crate::bridge::BridgeMachine = serde_json::from_value(serde_json::json!({
            "id": "6c2d5f8e-1b2a-4c3d-9e8f-0a1b2c3d4e5f", "name": "web", "vcpus": 1, "memory_mib": 128,
            "disk_gib": 1, "state": "stopped", "created_at": "2026-12-05T07:00:00.123Z"
        }))
        .unwrap();
        assert_eq!(bridge_machine(&good), Ok(()));
        let bad = [
            crate::bridge::BridgeMachine { name: "x".repeat(5000), ..good.clone() },
            crate::bridge::BridgeMachine { vcpus: 100_000, ..good.clone() },
            crate::bridge::BridgeMachine { image: Some("../../etc/shadow".into()), ..good.clone() },
            crate::bridge::BridgeMachine { created_at: "<script>".into(), ..good.clone() },
            crate::bridge::BridgeMachine { zone: Some(facts("<img src=x>", "12")), ..good.clone() },
            crate::bridge::BridgeMachine { zone: Some(facts("debian", &"9".repeat(65))), ..good.clone() },
        ];
        let zone = crate::bridge::BridgeMachine { zone: Some(facts("debian", "12")), ..good.clone() };
        assert_eq!(bridge_machine(&zone), Ok(()));
        for m in bad {
            assert!(bridge_machine(&m).is_err(), "{m:?}");
        }
    }

    /// Strings to try a rule on: edge cases, then pseudo-random ones from an alphabet that
    /// has every kind of character the rules tell apart.
    fn corpus() -> Vec<String> {
        let mut out: Vec<String> = [
            "", "a", "-", ".", "..", "a-", "a.b", "/", "//", "/a", "/a/", "/.a", "/a/..", "x.iso", "x.qcow2",
            ".x.iso",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let alphabet: Vec<char> = "abzAZ09._-:/+ é\u{0}\u{7f}\u{85}SHA256".chars().collect();
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for _ in 0..20_000 {
            let len = (next() % 130) as usize;
            out.push((0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect());
        }
        // Near the suffix and prefix rules too.
        for base in ["a", "x-1", "Z_9"] {
            for tail in [".iso", ".qcow2", ".raw", ".img", ".txt"] {
                out.push(format!("{base}{tail}"));
                out.push(format!("/run/{base}{tail}"));
            }
        }
        out.push(format!("SHA256:{}", "A".repeat(43)));
        out.push(format!("SHA256:{}", "a/+".repeat(14) + "b"));
        out.push("f".repeat(64));
        out
    }

    /// Whether `s` meets the documented rule (length in characters, pattern).
    fn documented(limit: Limit, pattern: Option<&regex::Regex>, s: &str) -> bool {
        let Limit::Text { min, max, .. } = limit else { panic!("not a text rule") };
        (min..=max).contains(&s.chars().count()) && pattern.is_none_or(|p| p.is_match(s))
    }

    fn limit(schema: &str, field: &str) -> Limit {
        FIELD_LIMITS.iter().find(|(s, f, _)| *s == schema && *f == field).map(|(_, _, l)| *l).unwrap()
    }

    #[test]
    fn each_documented_text_rule_is_exactly_what_its_validator_enforces() {
        let node = |f: fn(&mut crate::node::NodeEnroll, &str)| {
            move |s: &str| {
                let mut req = crate::node::NodeEnroll {
                    name: "n".into(),
                    host: "h".into(),
                    port: 22,
                    user: "u".into(),
                    socket: "/s".into(),
                    host_key: format!("SHA256:{}", "A".repeat(43)),
                };
                f(&mut req, s);
                node_enroll(&req).is_ok()
            }
        };
        type Check = Box<dyn Fn(&str) -> bool>;
        let checks: Vec<(&str, &str, Check)> = vec![
            ("MachineCreate", "name", Box::new(|s| machine_name(s).is_ok())),
            ("MachineCreate", "image", Box::new(|s| image_name(s).is_ok())),
            ("MachineCreate", "cdrom", Box::new(|s| cdrom(s).is_ok())),
            ("MachineCreate", "host_bridge", Box::new(|s| network(Some(s), &[]).is_ok())),
            ("SnapshotCreate", "name", Box::new(|s| snapshot_name(s).is_ok())),
            ("UserCreate", "username", Box::new(|s| username(s).is_ok())),
            ("UserCreate", "password", Box::new(|s| password(s).is_ok())),
            ("ApiTokenCreate", "name", Box::new(|s| token_name(s).is_ok())),
            ("HostKey", "host_key", Box::new(|s| host_key(s).is_ok())),
            ("MachineCreate", "hostname", Box::new(|s| hostname(s).is_ok())),
            ("SshKeyCreate", "name", Box::new(|s| ssh_key_name(s).is_ok())),
            ("HostKeyProbe", "host", Box::new(|s| host(s).is_ok())),
            ("NodeEnroll", "user", Box::new(node(|r, s| r.user = s.into()))),
            ("NodeEnroll", "socket", Box::new(node(|r, s| r.socket = s.into()))),
            (
                "ImageImport",
                "sha256",
                Box::new(|s| {
                    let req = crate::machine::ImageImport {
                        node_id: crate::NodeId(uuid::Uuid::nil()),
                        name: "a.raw".into(),
                        source: "/x".into(),
                        sha256: Some(s.into()),
                    };
                    image_import(&req).is_ok()
                }),
            ),
            (
                "PortForward",
                "protocol",
                Box::new(|s| {
                    let f = crate::spec::PortForward { protocol: s.into(), host_port: 2222, guest_port: 22 };
                    port_forwards(&[f]).is_ok()
                }),
            ),
        ];
        let corpus = corpus();
        for (schema, field, check) in &checks {
            let rule = limit(schema, field);
            let Limit::Text { pattern, .. } = rule else { panic!("{schema}.{field} is not text") };
            let pattern = pattern.map(|p| regex::Regex::new(p).unwrap());
            for s in &corpus {
                let want = documented(rule, pattern.as_ref(), s);
                assert_eq!(check(s), want, "{schema}.{field} on {s:?}: validator vs document");
            }
        }
    }

    #[test]
    fn audit_filters_take_actions_and_times_only() {
        use crate::audit::AuditQuery;
        let q = |action: Option<&str>, since: Option<&str>| AuditQuery {
            action: action.map(String::from),
            since: since.map(String::from),
            ..Default::default()
        };
        for good in [q(Some("machine.start"), None), q(Some("machine."), Some("2026-12-06T21:00:00+01:00"))] {
            assert_eq!(audit_query(&good), Ok(()), "{good:?}");
        }
        for (bad, field) in [
            (q(Some("Machine.Start"), None), "action"),
            (q(Some("machine.start; drop"), None), "action"),
            (q(Some(""), None), "action"),
            (q(None, Some("yesterday")), "since"),
            (AuditQuery { until: Some("2026-12-06".into()), ..Default::default() }, "until"),
        ] {
            assert_eq!(audit_query(&bad).unwrap_err().field, field, "{bad:?}");
        }
    }

    #[test]
    fn numbers_past_the_documented_bounds_are_refused() {
        let (Limit::Int { max: q, .. }, Limit::Int { max: v, .. }) =
            (limit("QuotaLimits", "vcpus"), limit("MachineCreate", "vcpus"))
        else {
            panic!()
        };
        let quota = crate::people::QuotaLimits { vcpus: Some(q + 1), ..Default::default() };
        assert!(quota_limits(&quota).is_err());
        assert!(quota_limits(&crate::people::QuotaLimits { vcpus: Some(q), ..Default::default() }).is_ok());
        assert!(vcpus(v as u32 + 1).is_err() && vcpus(v as u32).is_ok());
        let page = |limit| crate::audit::AuditQuery { limit: Some(limit), ..Default::default() };
        use crate::metrics::{Metric, MetricQuery};
        let mq = |from, to, points| MetricQuery { metric: Metric::CpuSeconds, from, to, points };
        assert!(metric_query(&mq(Some(0), Some(10), Some(1))).is_ok());
        for (bad, field) in [
            (mq(None, None, Some(0)), "points"),
            (mq(None, None, Some(4001)), "points"),
            (mq(Some(-1), None, None), "from"),
            (mq(None, Some(0), None), "to"),
            (mq(Some(10), Some(10), None), "to"),
            (mq(Some(0), Some(11 * 365 * 86_400), None), "from"),
        ] {
            assert_eq!(metric_query(&bad).unwrap_err().field, field, "{bad:?}");
        }
        assert!(
            audit_query(&page(AUDIT_PAGE_MAX + 1)).is_err() && audit_query(&page(AUDIT_PAGE_MAX)).is_ok()
        );
        assert!(audit_query(&page(0)).is_err());
    }
}
