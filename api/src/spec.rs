//! What a machine is, as both the backend and its node speak of it: its kind, its life
//! cycle, the power actions on it, its boot devices and forwarded ports.
//!
//! Below `machine` (the backend's view) and `bridge` (the node's), so neither needs the other.

use serde::{Deserialize, Serialize};

/// What runs a machine: a hardware VM with its own kernel, or a zone (an OS container sharing
/// the node's kernel: LXC on Linux, a native or LX-branded zone on SmartOS).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MachineKind {
    #[default]
    Vm,
    Zone,
}

impl MachineKind {
    pub const ALL: [MachineKind; 2] = [Self::Vm, Self::Zone];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vm => "vm",
            Self::Zone => "zone",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// How people call it: "VM", "zone".
    pub fn label(self) -> &'static str {
        match self {
            Self::Vm => "VM",
            Self::Zone => "zone",
        }
    }
}

impl std::fmt::Display for MachineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The init system of a zone's image, which decides how the zone is told to halt and reboot.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ZoneInit {
    Busybox,
    #[default]
    Systemd,
    Sysvinit,
}

impl ZoneInit {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Busybox => "busybox",
            Self::Systemd => "systemd",
            Self::Sysvinit => "sysvinit",
        }
    }
}

/// Where a zone's root filesystem lives on its node, which decides how fast its snapshots
/// and clones are and whether its disk size can be enforced.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ZoneStorage {
    /// A plain directory: copies are full copies, no size limit.
    Dir,
    /// The image's files under an overlayfs layer of the zone's own changes: snapshots and
    /// clones copy only the changes, no size limit.
    Overlay,
    /// A btrfs subvolume: snapshots and clones in milliseconds, size held by a qgroup.
    Btrfs,
}

impl ZoneStorage {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Dir => "dir",
            Self::Overlay => "overlay",
            Self::Btrfs => "btrfs",
        }
    }
}

impl std::str::FromStr for ZoneStorage {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Dir, Self::Overlay, Self::Btrfs]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("zone storage is one of dir, overlay, btrfs; not {s:?}"))
    }
}

/// What a zone is, beside what every machine is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ZoneFacts {
    /// The image's `os` and `release` (`debian`, `bookworm`).
    pub os: String,
    pub release: String,
    pub init: ZoneInit,
    pub storage: ZoneStorage,
}

/// The life cycle of a machine. Transitional states end in `-ing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MachineState {
    Creating,
    Stopped,
    Starting,
    Running,
    Stopping,
    Rebooting,
    /// Its CPUs are halted; memory and devices are kept.
    Paused,
    Deleting,
    /// The driver gave up on it (e.g. the hypervisor process died).
    Failed,
    /// Its node does not answer, so nobody knows.
    Unknown,
    /// The backend knew it but its node no longer lists it.
    Lost,
}

impl MachineState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Stopped => "stopped",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Rebooting => "rebooting",
            Self::Paused => "paused",
            Self::Deleting => "deleting",
            Self::Failed => "failed",
            Self::Unknown => "unknown",
            Self::Lost => "lost",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }

    pub const ALL: [MachineState; 11] = [
        Self::Creating,
        Self::Stopped,
        Self::Starting,
        Self::Running,
        Self::Stopping,
        Self::Rebooting,
        Self::Paused,
        Self::Deleting,
        Self::Failed,
        Self::Unknown,
        Self::Lost,
    ];

    /// Whether the machine is between two resting states.
    pub fn is_transitional(self) -> bool {
        matches!(self, Self::Creating | Self::Starting | Self::Stopping | Self::Rebooting | Self::Deleting)
    }
}

impl std::fmt::Display for MachineState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A power action on a machine, the same word from the route (`/machines/{id}/force-stop`)
/// down to the driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "kebab-case")]
pub enum PowerAction {
    Start,
    /// The guest is asked to shut down (ACPI power button; SIGPWR to a zone's init), and
    /// forced off if it has not after the node's timeout.
    Stop,
    /// Off at once, like pulling the plug.
    ForceStop,
    Reboot,
    /// A hard reset, like the reset button.
    Reset,
    /// Halts the CPUs (freezes a zone's processes), keeping memory.
    Pause,
    Resume,
}

impl PowerAction {
    pub const ALL: [PowerAction; 7] =
        [Self::Start, Self::Stop, Self::ForceStop, Self::Reboot, Self::Reset, Self::Pause, Self::Resume];

    /// The word in routes: `start`, `force-stop`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Start => "start",
            Self::Stop => "stop",
            Self::ForceStop => "force-stop",
            Self::Reboot => "reboot",
            Self::Reset => "reset",
            Self::Pause => "pause",
            Self::Resume => "resume",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl std::fmt::Display for PowerAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A device a machine can boot from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BootDevice {
    Disk,
    Cdrom,
    /// PXE over the NIC.
    Network,
}

impl BootDevice {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Disk => "disk",
            Self::Cdrom => "cdrom",
            Self::Network => "network",
        }
    }
}

/// A port of the node's loopback forwarded to a port of the guest (user-mode networking).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PortForward {
    /// `tcp` or `udp`.
    #[serde(default = "tcp")]
    pub protocol: String,
    pub host_port: u16,
    pub guest_port: u16,
}

fn tcp() -> String {
    "tcp".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_on_the_wire_are_the_words_in_routes() {
        for a in PowerAction::ALL {
            assert_eq!(serde_json::to_value(a).unwrap(), a.as_str());
            assert_eq!(PowerAction::parse(a.as_str()), Some(a));
        }
        assert_eq!(PowerAction::parse("Force-Stop"), None);
        for k in MachineKind::ALL {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
            assert_eq!(MachineKind::parse(k.as_str()), Some(k));
        }
        for s in MachineState::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
    }
}
