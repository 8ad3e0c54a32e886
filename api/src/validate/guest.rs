//! Rules for what a guest is given: SSH public keys, hostnames, user data and static
//! addresses. Shared by the backend (what users send), the bridge (what the backend sends)
//! and the forms. Whether a `#cloud-config` document is YAML is checked by the backend alone:
//! a YAML parser is more than the browser's bundle should carry.

use std::net::{IpAddr, Ipv4Addr};

use base64::Engine;

use super::FieldError;
use crate::guest::{GuestInit, StaticNetwork, UserDataKind};

pub const SSH_KEY_NAME_MAX_LEN: usize = 64;
/// An `authorized_keys` line: a 16,384-bit RSA key is under 3 KiB.
pub const SSH_PUBLIC_KEY_MAX_LEN: usize = 8192;
/// Keys a user may keep.
pub const SSH_KEYS_PER_USER_MAX: usize = 32;
/// Keys one guest may be given.
pub const SSH_KEYS_PER_MACHINE_MAX: usize = 16;
/// cloud-init reads more, but user data is for configuration, not for payloads.
pub const USER_DATA_MAX_BYTES: usize = 64 * 1024;
/// The kernel keeps 64 bytes of a hostname (and LXC refuses a longer one).
pub const HOSTNAME_MAX_LEN: usize = 63;
/// Dot-separated labels; the last has a letter or a `-` (63 characters in all bound each).
pub const HOSTNAME_PATTERN: &str = "^([A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?[.])*\
     (([A-Za-z0-9][A-Za-z0-9-]*)?[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?|[0-9]+(-+[0-9]+)+)$";
pub const NAMESERVERS_MAX: usize = 3;

/// The key types OpenSSH offers for users.
pub const SSH_KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// A key's name: 1–64 printable characters.
pub fn ssh_key_name(name: &str) -> Result<(), FieldError> {
    let n = name.chars().count();
    if (1..=SSH_KEY_NAME_MAX_LEN).contains(&n) && !name.chars().any(char::is_control) {
        Ok(())
    } else {
        Err(FieldError::new("name", format!("1–{SSH_KEY_NAME_MAX_LEN} printable characters, such as laptop")))
    }
}

/// An OpenSSH public key on one line: its type, the key in base64 (which names the same
/// type inside), and an optional comment. Answers the line as it should be stored (trimmed).
pub fn ssh_public_key(line: &str) -> Result<&str, FieldError> {
    let err = |m: String| Err(FieldError::new("public_key", m));
    let line = line.trim();
    if line.is_empty() {
        return err("paste a public key, such as the contents of ~/.ssh/id_ed25519.pub".into());
    }
    if line.len() > SSH_PUBLIC_KEY_MAX_LEN {
        return err(format!("at most {SSH_PUBLIC_KEY_MAX_LEN} characters"));
    }
    if line.contains(['\n', '\r']) || line.chars().any(|c| c.is_control() && c != '\t') {
        return err("one key on one line".into());
    }
    if line.starts_with("-----BEGIN") {
        return err(
            "that is a private key: paste the public one (the .pub file) and keep this one secret".into()
        );
    }
    let mut parts = line.split_whitespace();
    let (Some(kind), Some(blob)) = (parts.next(), parts.next()) else {
        return err("a key is its type, then the key itself: ssh-ed25519 AAAA… comment".into());
    };
    if !SSH_KEY_TYPES.contains(&kind) {
        return err(format!(
            "{kind:?} is not a key type OpenSSH offers for users ({})",
            SSH_KEY_TYPES.join(", ")
        ));
    }
    let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(blob) else {
        return err("the key itself is not base64: was it cut short?".into());
    };
    // The blob opens with its own type as an SSH string: a u32 length, then the name.
    let inner = bytes
        .get(..4)
        .map(|n| u32::from_be_bytes([n[0], n[1], n[2], n[3]]) as usize)
        .and_then(|n| bytes.get(4..4 + n));
    if inner != Some(kind.as_bytes()) {
        return err(format!("the key inside is not an {kind} key: was it cut short or mixed up?"));
    }
    if bytes.len() < 4 + kind.len() + 32 {
        return err("the key is too short to be one: was it cut short?".into());
    }
    Ok(line)
}

/// A hostname: dot-separated labels of letters, digits and `-`, each not starting or ending
/// with `-`, 63 characters in all (what the kernel keeps); the last label not all digits (a
/// name, not an address).
pub fn hostname(h: &str) -> Result<(), FieldError> {
    let err = |m: &str| Err(FieldError::new("hostname", m));
    if h.is_empty() {
        return err("a hostname is required (or leave it out: the machine's name)");
    }
    if h.len() > HOSTNAME_MAX_LEN {
        return err("at most 63 characters");
    }
    for label in h.split('.') {
        if label.is_empty() {
            return err("no empty parts between dots");
        }
        if label.len() > 63 {
            return err("each part between dots is at most 63 characters");
        }
        if !label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return err("only letters, digits, '-' and '.'");
        }
        if label.starts_with('-') || label.ends_with('-') {
            return err("no part starts or ends with '-'");
        }
    }
    if h.rsplit('.').next().is_some_and(|last| last.bytes().all(|b| b.is_ascii_digit())) {
        return err("a name, not an address: its last part is not all digits");
    }
    Ok(())
}

/// User data: at most 64 KiB of text opening with `#cloud-config` (then YAML) or `#!` (a
/// script). Answers which of the two it is.
pub fn user_data(u: &str) -> Result<UserDataKind, FieldError> {
    let err = |m: String| Err(FieldError::new("user_data", m));
    if u.len() > USER_DATA_MAX_BYTES {
        return err(format!(
            "at most {} KiB (this is {} KiB)",
            USER_DATA_MAX_BYTES / 1024,
            u.len().div_ceil(1024)
        ));
    }
    if u.contains('\0') {
        return err("text only: no NUL bytes".into());
    }
    let first = u.lines().next().unwrap_or_default().trim_end();
    if first == "#cloud-config" {
        Ok(UserDataKind::CloudConfig)
    } else if first.starts_with("#!") && first.len() > 2 {
        Ok(UserDataKind::Script)
    } else {
        err("must start with a line #cloud-config (then YAML) or #! (a script, such as #!/bin/sh)".into())
    }
}

/// A static IPv4 address with its prefix, a gateway inside its network, and up to three
/// name servers.
pub fn static_network(n: &StaticNetwork) -> Result<(), FieldError> {
    let err = |m: String| Err(FieldError::new("network", m));
    let Some((addr, prefix)) = n.address.split_once('/') else {
        return err(format!("{:?} needs its prefix length: 192.0.2.10/24", n.address));
    };
    let digits = !prefix.is_empty() && prefix.len() <= 2 && prefix.bytes().all(|b| b.is_ascii_digit());
    let (Ok(addr), Ok(prefix), true) = (addr.parse::<Ipv4Addr>(), prefix.parse::<u8>(), digits) else {
        return err(format!(
            "{:?} is not an IPv4 address with a prefix length, such as 192.0.2.10/24",
            n.address
        ));
    };
    if !(8..=32).contains(&prefix) {
        return err("the prefix length is between 8 and 32".into());
    }
    if addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() || addr.is_loopback() {
        return err(format!("{addr} cannot be a machine's address"));
    }
    let mask = u32::MAX.checked_shl(u32::from(32 - prefix)).unwrap_or(0);
    let host = u32::from(addr) & !mask;
    if prefix <= 30 && (host == 0 || host == !mask) {
        return err(format!("{addr} is the network's own address or its broadcast, not a machine's"));
    }
    if let Some(gw) = &n.gateway {
        let Ok(gw) = gw.parse::<Ipv4Addr>() else {
            return err(format!("the gateway {gw:?} is not an IPv4 address"));
        };
        if u32::from(gw) & mask != u32::from(addr) & mask {
            return err(format!(
                "the gateway {gw} is outside {}/{prefix}",
                n.address.split('/').next().unwrap_or("")
            ));
        }
        if gw == addr {
            return err("the gateway is another machine than this one".into());
        }
    }
    if n.nameservers.len() > NAMESERVERS_MAX {
        return err(format!("at most {NAMESERVERS_MAX} name servers"));
    }
    for ns in &n.nameservers {
        if ns.parse::<IpAddr>().is_err() {
            return err(format!("the name server {ns:?} is not an IP address"));
        }
    }
    Ok(())
}

/// The SSH keys chosen for a machine: at most 16, each once.
pub fn ssh_key_ids(ids: &[crate::ids::SshKeyId]) -> Result<(), FieldError> {
    if ids.len() > SSH_KEYS_PER_MACHINE_MAX {
        return Err(FieldError::new("ssh_key_ids", format!("at most {SSH_KEYS_PER_MACHINE_MAX} keys")));
    }
    let mut seen = ids.to_vec();
    seen.sort();
    seen.dedup();
    if seen.len() != ids.len() {
        return Err(FieldError::new("ssh_key_ids", "each key once"));
    }
    Ok(())
}

/// What the backend tells a node to give a guest, checked again by the node.
pub fn guest_init(g: &GuestInit) -> Result<(), FieldError> {
    let id_ok = g.instance_id.len() <= 64
        && !g.instance_id.is_empty()
        && g.instance_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !id_ok {
        return Err(FieldError::new("instance_id", "letters, digits and '-', at most 64"));
    }
    hostname(&g.hostname)?;
    if g.ssh_keys.len() > SSH_KEYS_PER_MACHINE_MAX {
        return Err(FieldError::new("ssh_keys", format!("at most {SSH_KEYS_PER_MACHINE_MAX} keys")));
    }
    for key in &g.ssh_keys {
        if ssh_public_key(key)? != key {
            return Err(FieldError::new("ssh_keys", "each key trimmed, on one line"));
        }
    }
    if let Some(u) = &g.user_data {
        user_data(u.as_str())?;
    }
    if let Some(n) = &g.network {
        static_network(n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real key's shape: the blob names its type, then 32 bytes of key.
    fn ed25519(comment: &str) -> String {
        let mut blob = Vec::new();
        blob.extend_from_slice(&11u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&32u32.to_be_bytes());
        blob.extend_from_slice(&[7u8; 32]);
        format!("ssh-ed25519 {} {comment}", base64::engine::general_purpose::STANDARD.encode(blob))
    }

    #[test]
    fn public_keys_are_checked_inside_and_out() {
        let key = ed25519("me@laptop");
        assert_eq!(ssh_public_key(&format!("  {key}\n")), Ok(key.as_str()), "trimmed");
        let renamed = key.replacen("ssh-ed25519", "ssh-rsa", 1);
        assert!(ssh_public_key(&renamed).unwrap_err().message.contains("not an ssh-rsa key"));
        let cut = &key[..40];
        assert!(ssh_public_key(cut).is_err());
        assert!(ssh_public_key("ssh-dss AAAA").unwrap_err().message.contains("not a key type"));
        assert!(
            ssh_public_key("-----BEGIN OPENSSH PRIVATE KEY-----").unwrap_err().message.contains("private")
        );
        assert!(ssh_public_key(&format!("{key}\n{key}")).unwrap_err().message.contains("one line"));
        assert!(ssh_public_key("ssh-ed25519 !!!").unwrap_err().message.contains("base64"));
    }

    #[test]
    fn hostnames() {
        for ok in ["web", "web-1", "db.example.org", "A1"] {
            assert!(hostname(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-web",
            "web-",
            "a..b",
            "we_b",
            "é",
            &"a".repeat(64),
            "10.0.0.1",
            &format!("{}.example.org", "a".repeat(60)),
        ] {
            assert!(hostname(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn user_data_says_what_it_is() {
        assert_eq!(user_data("#cloud-config\npackages: [htop]\n"), Ok(UserDataKind::CloudConfig));
        assert_eq!(user_data("#!/bin/sh\necho hi\n"), Ok(UserDataKind::Script));
        assert!(user_data("packages: [htop]").unwrap_err().message.contains("#cloud-config"));
        assert!(user_data("#!").is_err());
        let big = format!("#!/bin/sh\n{}", "x".repeat(USER_DATA_MAX_BYTES));
        assert!(user_data(&big).unwrap_err().message.contains("64 KiB"));
        assert!(user_data("#cloud-config\n\0").is_err());
    }

    #[test]
    fn static_addresses() {
        let net = |a: &str, gw: Option<&str>| StaticNetwork {
            address: a.into(),
            gateway: gw.map(String::from),
            nameservers: vec!["192.0.2.53".into()],
        };
        assert!(static_network(&net("192.0.2.10/24", Some("192.0.2.1"))).is_ok());
        assert!(static_network(&net("192.0.2.10", None)).unwrap_err().message.contains("prefix"));
        assert!(
            static_network(&net("192.0.2.10/24", Some("198.51.100.1")))
                .unwrap_err()
                .message
                .contains("outside")
        );
        assert!(static_network(&net("192.0.2.10/33", None)).is_err());
        assert!(static_network(&net("192.0.2.10/+24", None)).is_err(), "digits only");
        assert!(static_network(&net("192.0.2.0/24", None)).unwrap_err().message.contains("network's own"));
        assert!(static_network(&net("192.0.2.255/24", None)).is_err());
        assert!(static_network(&net("192.0.2.0/31", None)).is_ok(), "a point-to-point pair has no broadcast");
        assert!(static_network(&net("127.0.0.2/8", None)).is_err());
        let mut many = net("192.0.2.10/24", None);
        many.nameservers = vec!["192.0.2.53".into(); 4];
        assert!(static_network(&many).is_err());
    }
}
