//! What every driver checks before it acts, the same way whatever the host: a repeated
//! create, a clone's record, host ports, a machine that must be stopped, disk growth and
//! room for a thin disk. Shared so the drivers cannot drift apart on a rule.

use corral_api::MachineId;
use corral_api::bridge::{BridgeMachine, BridgeMachineCreate, BridgeSnapshotClone};
use corral_api::machine::MachineState;

use super::Created;
use crate::error::BridgeError;

/// A create for an id that exists already: the same spec is a retry and gets the machine;
/// another spec is a conflict.
pub fn create_again(
    req: &BridgeMachineCreate,
    existing: BridgeMachine,
) -> Result<(BridgeMachine, Created), BridgeError> {
    if req.matches(&existing) {
        Ok((existing, Created::Existing))
    } else {
        Err(BridgeError::Conflict(format!("machine {} already exists with another spec", req.id)))
    }
}

/// The record of a machine cloned from a snapshot of `source`, `creating` from now: the
/// source's hardware and image, but none of its host ports (a port belongs to one guest),
/// and a new instance id for cloud-init, so the clone's guest runs its first boot again.
pub fn clone_record(source: &BridgeMachine, req: &BridgeSnapshotClone) -> BridgeMachine {
    BridgeMachine {
        id: req.id,
        name: req.name.clone(),
        port_forwards: Vec::new(),
        init_id: req.init.as_ref().map(|i| i.instance_id.clone()),
        state: MachineState::Creating,
        created_at: crate::time_fmt::now_rfc3339(),
        ..source.clone()
    }
}

/// Refuses a host port that another of the node's machines (`others`, `except` aside)
/// forwards already for the same protocol, running or not: two would fight over it at
/// start. The other machine is not named: it may be another tenant's.
pub fn forwards_free<'a>(
    forwards: &[corral_api::spec::PortForward],
    others: impl IntoIterator<Item = &'a BridgeMachine>,
    except: MachineId,
) -> Result<(), BridgeError> {
    let taken: Vec<(&str, u16)> = others
        .into_iter()
        .filter(|m| m.id != except)
        .flat_map(|m| m.port_forwards.iter().map(|f| (f.protocol.as_str(), f.host_port)))
        .collect();
    match forwards.iter().find(|f| taken.contains(&(f.protocol.as_str(), f.host_port))) {
        Some(f) => Err(BridgeError::Conflict(format!(
            "host port {}/{} of the node is forwarded to another machine",
            f.host_port, f.protocol
        ))),
        None => Ok(()),
    }
}

/// What a running machine cannot change (a VM's vCPUs, memory, forwards): refused unless it
/// is stopped, saying what to do.
pub fn check_stopped(m: &BridgeMachine, to: &str) -> Result<(), BridgeError> {
    match m.state {
        MachineState::Stopped | MachineState::Failed => Ok(()),
        state => Err(BridgeError::Conflict(format!("machine {} is {state}; stop it to {to}", m.id))),
    }
}

/// Disks grow only, and only while the machine is stopped.
pub fn check_growth(m: &BridgeMachine, disk_gib: u64) -> Result<(), BridgeError> {
    if m.state != MachineState::Stopped {
        return Err(BridgeError::Conflict(format!(
            "machine {} is {}; stop it to resize its disk",
            m.id, m.state
        )));
    }
    if disk_gib < m.disk_gib {
        return Err(BridgeError::Validation {
            field: "disk_gib",
            message: format!("disks only grow: this one is {} GiB", m.disk_gib),
        });
    }
    Ok(())
}

/// The least free space a node keeps for the guests already on it: below it, no new thin
/// disk is made and none grows.
pub const DISK_RESERVE_BYTES: u64 = 1 << 30;

/// Whether a thin disk (a qcow2 overlay) of `disk_gib` may be made, or a disk grown to it,
/// on the file system at `root`. Such a disk takes space only as its guest writes, so its
/// full size is a promise, and how far a node promises is the backend's disk allocation
/// ratio. The node refuses only what cannot work: a disk bigger than its whole file
/// system, or any new one once it is nearly full.
pub fn thin_disk_room(root: &std::path::Path, disk_gib: u64) -> Result<(), BridgeError> {
    let (free, total) = crate::host::disk_space(root)?;
    thin_disk_fits(free, total, disk_gib)
}

fn thin_disk_fits(free: u64, total: u64, disk_gib: u64) -> Result<(), BridgeError> {
    if disk_gib.saturating_mul(1 << 30) > total {
        return Err(BridgeError::InsufficientCapacity(format!(
            "a {disk_gib} GiB disk does not fit the node's whole {} GiB file system",
            total >> 30
        )));
    }
    if free < DISK_RESERVE_BYTES {
        return Err(BridgeError::InsufficientCapacity(format!(
            "the node's disk is nearly full: {} MiB free, and it keeps {} MiB for the guests on it",
            free >> 20,
            DISK_RESERVE_BYTES >> 20
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn forwarding(name: &str, forwards: &[(&str, u16)]) -> BridgeMachine {
        let port_forwards = forwards
            .iter()
            .map(|(protocol, host_port)| corral_api::spec::PortForward {
                protocol: protocol.to_string(),
                host_port: *host_port,
                guest_port: 22,
            })
            .collect();
        let req = BridgeMachineCreate {
            id: MachineId::new_random(),
            name: name.into(),
            kind: corral_api::spec::MachineKind::Vm,
            vcpus: 1,
            memory_mib: 64,
            disk_gib: 1,
            image: None,
            port_forwards,
            boot_order: vec![],
            cdrom: None,
            host_bridge: None,
            init: None,
        };
        req.into_machine("2026-01-01T00:00:00Z".into())
    }

    #[test]
    fn a_host_port_goes_to_one_machine_per_protocol() {
        let web = forwarding("secret-name", &[("tcp", 2222), ("udp", 5353)]);
        let me = forwarding("me", &[("tcp", 2223)]);
        let all = [web.clone(), me.clone()];
        let ask = forwarding("ask", &[("udp", 2222), ("tcp", 5353), ("tcp", 2223)]);
        // Another protocol on the port, and my own forward, are free.
        assert!(forwards_free(&ask.port_forwards, &all, me.id).is_ok());
        let taken = forwarding("ask", &[("tcp", 2222)]);
        let refused = forwards_free(&taken.port_forwards, &all, me.id).unwrap_err();
        assert!(matches!(refused, BridgeError::Conflict(_)), "{refused:?}");
        let said = refused.to_string();
        assert!(said.contains("2222/tcp") && !said.contains("secret-name"), "{said}");
        // Asked by the machine that holds it: its own port.
        assert!(forwards_free(&taken.port_forwards, &all, web.id).is_ok());
    }

    #[test]
    fn a_thin_disk_is_refused_only_when_it_cannot_work() {
        // Bigger than free space but within the file system: thin, so it is made.
        assert!(thin_disk_fits(2 * GIB, 100 * GIB, 4).is_ok());
        assert!(thin_disk_fits(DISK_RESERVE_BYTES, 100 * GIB, 100).is_ok());
        let whole = thin_disk_fits(50 * GIB, 100 * GIB, 101).unwrap_err();
        assert!(whole.to_string().contains("whole 100 GiB"), "{whole}");
        let full = thin_disk_fits(DISK_RESERVE_BYTES - 1, 100 * GIB, 1).unwrap_err();
        assert!(matches!(full, BridgeError::InsufficientCapacity(_)), "{full:?}");
        assert!(full.to_string().contains("nearly full"), "{full}");
        assert!(thin_disk_fits(50 * GIB, 100 * GIB, u64::MAX).is_err(), "no overflow");
    }
}
