//! What a guest is given at boot, written as cloud-init's NoCloud datasource reads it:
//! `meta-data` (instance id, hostname, SSH keys), `user-data`, `vendor-data` and, for a
//! NIC this node names by its MAC, `network-config`. A VM gets them on an ISO 9660 volume
//! labelled `cidata` (`iso`); a zone in its root (`zone`).
//!
//! `meta-data` and `network-config` are written as JSON from typed values (JSON is YAML, and
//! every string in it is quoted): never by hand, so no hostname or key can break out of its
//! field, and no value is read back as YAML 1.1 would read a bare `no` or `1:2:3` (cloud-init
//! parses with PyYAML).

pub mod iso;
pub mod zone;

use std::collections::BTreeMap;

use corral_api::guest::{GuestInit, StaticNetwork};
use serde::Serialize;

use crate::error::BridgeError;

/// NoCloud's `meta-data`.
#[derive(Serialize)]
struct MetaData<'a> {
    #[serde(rename = "instance-id")]
    instance_id: &'a str,
    #[serde(rename = "local-hostname")]
    local_hostname: &'a str,
    /// The default user's keys (`debian` on Debian's cloud images).
    #[serde(rename = "public-keys", skip_serializing_if = "Vec::is_empty")]
    public_keys: Vec<&'a str>,
}

/// Network config version 2: one NIC, found by its MAC.
#[derive(Serialize)]
struct NetworkConfig {
    version: u8,
    ethernets: BTreeMap<&'static str, Ethernet>,
}

#[derive(Serialize)]
struct Ethernet {
    #[serde(rename = "match")]
    by: BTreeMap<&'static str, String>,
    #[serde(rename = "set-name")]
    set_name: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dhcp4: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    routes: Vec<BTreeMap<&'static str, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    nameservers: Option<BTreeMap<&'static str, Vec<String>>>,
}

/// What Corral itself asks of every guest; the user's data comes after and may say otherwise.
const VENDOR_DATA: &str =
    "#cloud-config\n# From Corral: keys, not passwords, let people in.\nssh_pwauth: false\n";

/// User data when none was given: an empty cloud-config, which changes nothing.
const NO_USER_DATA: &str = "#cloud-config\n{}\n";

fn json<T: Serialize>(value: &T, what: &str) -> Result<String, BridgeError> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| BridgeError::Host(format!("writing the guest's {what}: {e}")))?;
    text.push('\n');
    Ok(text)
}

fn network_config(mac: &str, static_net: Option<&StaticNetwork>) -> Result<String, BridgeError> {
    let by = BTreeMap::from([("macaddress", mac.to_string())]);
    let nic = match static_net {
        None => Ethernet {
            by,
            set_name: "eth0",
            dhcp4: Some(true),
            addresses: vec![],
            routes: vec![],
            nameservers: None,
        },
        Some(n) => Ethernet {
            by,
            set_name: "eth0",
            dhcp4: None,
            addresses: vec![n.address.clone()],
            routes: n
                .gateway
                .iter()
                .map(|gw| BTreeMap::from([("to", "default".to_string()), ("via", gw.clone())]))
                .collect(),
            nameservers: (!n.nameservers.is_empty())
                .then(|| BTreeMap::from([("addresses", n.nameservers.clone())])),
        },
    };
    json(&NetworkConfig { version: 2, ethernets: BTreeMap::from([("eth0", nic)]) }, "network config")
}

/// The NoCloud files for `init`: name and contents. `mac` names the guest's NIC when the node
/// knows it (a VM's); without it the guest's own defaults (DHCP on its first NIC) hold.
pub fn nocloud_files(
    init: &GuestInit,
    mac: Option<&str>,
) -> Result<Vec<(&'static str, String)>, BridgeError> {
    let meta = MetaData {
        instance_id: &init.instance_id,
        local_hostname: &init.hostname,
        public_keys: init.ssh_keys.iter().map(String::as_str).collect(),
    };
    let mut files = vec![
        ("meta-data", json(&meta, "meta-data")?),
        ("user-data", init.user_data.as_ref().map(|u| u.0.clone()).unwrap_or_else(|| NO_USER_DATA.into())),
        ("vendor-data", VENDOR_DATA.to_string()),
    ];
    if let Some(mac) = mac {
        files.push(("network-config", network_config(mac, init.network.as_ref())?));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::guest::UserDataText;

    fn init() -> GuestInit {
        GuestInit {
            instance_id: "abc-r2".into(),
            hostname: "web".into(),
            ssh_keys: vec!["ssh-ed25519 AAAAC3Nza me@laptop".into()],
            user_data: Some(UserDataText("#cloud-config\nruncmd: [touch /x]\n".into())),
            network: Some(StaticNetwork {
                address: "192.0.2.10/24".into(),
                gateway: Some("192.0.2.1".into()),
                nameservers: vec!["192.0.2.53".into()],
            }),
        }
    }

    fn parsed(files: &[(&str, String)], name: &str) -> serde_norway::Value {
        let text = &files.iter().find(|(n, _)| *n == name).unwrap().1;
        serde_norway::from_str(text).unwrap()
    }

    #[test]
    fn the_files_say_what_cloud_init_reads() {
        let files = nocloud_files(&init(), Some("52:54:00:01:02:03")).unwrap();
        let names: Vec<&str> = files.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["meta-data", "user-data", "vendor-data", "network-config"]);
        let meta = parsed(&files, "meta-data");
        assert_eq!(meta["instance-id"], "abc-r2");
        assert_eq!(meta["local-hostname"], "web");
        assert_eq!(meta["public-keys"][0], "ssh-ed25519 AAAAC3Nza me@laptop");
        assert_eq!(files[1].1, "#cloud-config\nruncmd: [touch /x]\n", "the user's data, byte for byte");
        let net = parsed(&files, "network-config");
        let nic = &net["ethernets"]["eth0"];
        assert_eq!(nic["match"]["macaddress"], "52:54:00:01:02:03");
        assert_eq!(nic["addresses"][0], "192.0.2.10/24");
        assert_eq!(nic["routes"][0]["via"], "192.0.2.1");
        assert_eq!(nic["nameservers"]["addresses"][0], "192.0.2.53");
    }

    #[test]
    fn without_an_address_the_nic_asks_dhcp_and_without_a_mac_there_is_no_network_file() {
        let mut i = init();
        i.network = None;
        i.user_data = None;
        let files = nocloud_files(&i, Some("52:54:00:01:02:03")).unwrap();
        assert_eq!(parsed(&files, "network-config")["ethernets"]["eth0"]["dhcp4"], true);
        assert!(files[1].1.starts_with("#cloud-config"), "an empty cloud-config");
        assert_eq!(nocloud_files(&i, None).unwrap().len(), 3);
    }

    #[test]
    fn words_yaml_1_1_reads_as_booleans_stay_strings() {
        let mut i = init();
        i.hostname = "no".into();
        let files = nocloud_files(&i, None).unwrap();
        assert!(files[0].1.contains("\"local-hostname\": \"no\""), "{}", files[0].1);
    }

    #[test]
    fn a_hostname_cannot_break_out_of_its_field() {
        let mut i = init();
        i.hostname = "web\ninstance-id: evil".into();
        let files = nocloud_files(&i, None).unwrap();
        assert_eq!(parsed(&files, "meta-data")["instance-id"], "abc-r2");
    }
}
