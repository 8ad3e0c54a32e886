//! What a guest is given at first boot, as cloud-init's NoCloud datasource reads it: a
//! hostname, SSH public keys, user data (a `#cloud-config` document or a script) and, for a
//! NIC on a host bridge, a static address. Users keep their SSH keys in Corral and choose
//! them at create.
//!
//! User data may hold secrets: it travels to the node in full, is shown back only to those
//! who may operate the machine, and its `Debug` form ([`UserDataText`]) gives only its size,
//! so no log line or task record carries it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{MachineId, SshKeyId};

/// An SSH public key a user keeps in Corral (`GET /api/v1/ssh-keys`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SshKey {
    pub id: SshKeyId,
    pub name: String,
    /// One `authorized_keys` line: type, key and comment.
    pub public_key: String,
    /// `SHA256:…`, as `ssh-keygen -l` prints it.
    pub fingerprint: String,
    /// RFC 3339.
    pub created_at: String,
}

/// `POST /api/v1/ssh-keys`: a public key of the caller's, named.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SshKeyCreate {
    pub name: String,
    /// An OpenSSH public key (`ssh-ed25519 AAAA… comment`), as in `~/.ssh/id_ed25519.pub`.
    pub public_key: String,
}

/// A static IPv4 address for a NIC on a host bridge (without one, the guest asks DHCP).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct StaticNetwork {
    /// The address with its prefix length: `192.0.2.10/24`.
    pub address: String,
    /// The default route, inside the address's network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// DNS servers, at most three.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nameservers: Vec<String>,
}

/// What user data is, by its first line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum UserDataKind {
    /// `#cloud-config`: a YAML mapping of cloud-init modules.
    CloudConfig,
    /// `#!…`: a script run once, at the end of the first boot.
    Script,
}

impl UserDataKind {
    pub fn label(self) -> &'static str {
        match self {
            UserDataKind::CloudConfig => "#cloud-config",
            UserDataKind::Script => "script",
        }
    }
}

/// User data as it travels: its `Debug` form is only its size, so no log line carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserDataText(pub String);

impl UserDataText {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for UserDataText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<user data, {} bytes>", self.0.len())
    }
}

/// What a node is told to give a guest. The bridge writes it as NoCloud files: an ISO 9660
/// volume labelled `cidata` for a VM, `/var/lib/cloud/seed/nocloud/` in a zone's root.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestInit {
    /// Changes whenever the data change, so cloud-init applies them at the next boot.
    pub instance_id: String,
    pub hostname: String,
    /// `authorized_keys` lines.
    #[serde(default)]
    pub ssh_keys: Vec<String>,
    #[serde(default)]
    pub user_data: Option<UserDataText>,
    #[serde(default)]
    pub network: Option<StaticNetwork>,
}

/// The instance id of a machine's guest data at `revision`: a clone (a new machine id) and
/// every change (a new revision) are new instances to cloud-init.
pub fn instance_id(machine: MachineId, revision: u32) -> String {
    format!("{machine}-r{revision}")
}

/// A key the guest was given, as the machine shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GivenKey {
    pub name: String,
    pub fingerprint: String,
}

/// What a machine's guest was given (`GET /api/v1/machines/{id}/guest`). The user data
/// itself is not here: `GET /api/v1/machines/{id}/user-data`, for operators and owners.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GuestInitView {
    pub hostname: String,
    pub ssh_keys: Vec<GivenKey>,
    /// The user data's kind and size, when there is any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<UserDataSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<StaticNetwork>,
    /// Counts changes; the guest's instance id is the machine id and this.
    pub revision: u32,
}

/// User data as anyone who sees the machine may know of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserDataSummary {
    pub kind: UserDataKind,
    pub bytes: u32,
}

/// `GET`/`PUT /api/v1/machines/{id}/user-data`: the user data the guest gets at its next
/// boot (none: the guest gets only its hostname and keys).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UserData {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub user_data: Option<UserDataText>,
}
