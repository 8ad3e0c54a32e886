//! Field rules shared by the server (which enforces them) and the UI forms (which show them
//! before a request is sent). A rule lives here once.

use crate::machine::MachineCreate;

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
    boot_order(&req.boot_order)?;
    if let Some(iso) = &req.cdrom {
        cdrom(iso)?;
    }
    network(req.host_bridge.as_deref(), &req.port_forwards)
}

/// A boot order names each device at most once.
pub fn boot_order(list: &[crate::bridge::BootDevice]) -> Result<(), FieldError> {
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
pub fn network(host_bridge: Option<&str>, forwards: &[crate::bridge::PortForward]) -> Result<(), FieldError> {
    let Some(bridge) = host_bridge else { return Ok(()) };
    let ok = !bridge.is_empty()
        && bridge.len() <= 15
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
/// digit. It is passed to QEMU's monitor, so nothing else is allowed.
pub fn snapshot_name(name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.len() <= SNAPSHOT_NAME_MAX_LEN
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "name",
            format!(
                "1–{SNAPSHOT_NAME_MAX_LEN} of letters, digits, '.', '_', '-', starting with a letter or digit"
            ),
        ))
    }
}

pub const PORT_FORWARDS_MAX: usize = 16;

/// Port forwards: at most 16, `tcp` or `udp`, host ports 1024–65535 (no privileged ports),
/// guest ports 1–65535, no host port twice.
pub fn port_forwards(list: &[crate::bridge::PortForward]) -> Result<(), FieldError> {
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
pub fn image_name(name: &str) -> Result<(), FieldError> {
    let chars_ok = !name.is_empty()
        && name.len() <= IMAGE_NAME_MAX_LEN
        && !name.starts_with('.')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    let ext_ok = [".qcow2", ".raw", ".img", ".iso"].iter().any(|e| name.ends_with(e));
    if chars_ok && ext_ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "image",
            "a file name of letters, digits, '.', '_', '-' ending in .qcow2, .raw, .img or .iso",
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
        && h.len() <= 253
        && !h.starts_with('-')
        && h.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:".contains(&b));
    if ok { Ok(()) } else { Err(FieldError::new("host", "a host name or IP address")) }
}

/// Every rule of a node enrolment, in the form's order.
pub fn node_enroll(req: &crate::node::NodeEnroll) -> Result<(), FieldError> {
    machine_name(&req.name)?;
    host(&req.host)?;
    if req.port == 0 {
        return Err(FieldError::new("port", "1–65535"));
    }
    let user_ok = !req.user.is_empty()
        && req.user.len() <= 32
        && !req.user.starts_with('-')
        && req.user.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if !user_ok {
        return Err(FieldError::new("user", "a user name on the node: letters, digits, '.', '_', '-'"));
    }
    let socket_ok = req.socket.starts_with('/')
        && req.socket.len() <= 107
        && !req.socket.contains("..")
        && req.socket.bytes().all(|b| b.is_ascii_graphic());
    if !socket_ok {
        return Err(FieldError::new("socket", "an absolute path of at most 107 bytes"));
    }
    host_key(&req.host_key)
}

/// An `Idempotency-Key` header: 1–100 of letters, digits, `.`, `_`, `:`, `-` (a UUID fits).
pub fn idempotency_key(key: &str) -> Result<(), FieldError> {
    let ok = !key.is_empty()
        && key.len() <= 100
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
    timestamp("created_at", &m.created_at)
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

/// An RFC 3339 time as nodes and the database write it: at most 64 of digits and
/// `-:.+TZ`.
fn timestamp(field: &'static str, t: &str) -> Result<(), FieldError> {
    let ok =
        !t.is_empty() && t.len() <= 64 && t.bytes().all(|b| b.is_ascii_digit() || b"-:.+TZ".contains(&b));
    if ok { Ok(()) } else { Err(FieldError::new(field, "an RFC 3339 time")) }
}

/// A login's fields are no longer than any account's can be (the rest is the password check).
pub fn login(req: &crate::session::LoginRequest) -> Result<(), FieldError> {
    if req.username.is_empty() || req.username.len() > USERNAME_MAX_LEN {
        return Err(FieldError::new("username", format!("1–{USERNAME_MAX_LEN} characters")));
    }
    if req.password.len() > PASSWORD_MAX_LEN * 4 {
        return Err(FieldError::new("password", format!("at most {PASSWORD_MAX_LEN} characters")));
    }
    Ok(())
}

/// A token's name: 1–64 printable characters.
pub fn token_name(name: &str) -> Result<(), FieldError> {
    let n = name.chars().count();
    if (1..=64).contains(&n) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(FieldError::new("name", "1–64 printable characters"))
    }
}

/// A token's lifetime: 1–3650 days.
pub fn token_days(days: u32) -> Result<(), FieldError> {
    if (1..=3650).contains(&days) { Ok(()) } else { Err(FieldError::new("expires_in_days", "1–3650 days")) }
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
    fn create_reports_the_first_bad_field() {
        let req = MachineCreate {
            name: "ok".into(),
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
        };
        assert_eq!(machine_create(&req).unwrap_err().field, "vcpus");
    }

    #[test]
    fn boot_orders_cds_and_host_bridges() {
        use crate::bridge::{BootDevice, PortForward};
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
        for bad in ["", "-x", "a b", "a;b", "a\nb", &"s".repeat(64)] {
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
        ];
        for m in bad {
            assert!(bridge_machine(&m).is_err(), "{m:?}");
        }
    }
}
