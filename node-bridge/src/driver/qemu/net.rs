//! A VM's NIC on a host bridge: one tap device per running VM, made before QEMU starts and
//! removed when it exits.
//!
//! The bridge makes the tap with iproute2 rather than QEMU's setuid `qemu-bridge-helper`, so
//! no ACL file has to be kept in step with the node's configuration. A tap outlives a QEMU
//! that died while the bridge was away; it is removed when the VM is next seen stopped,
//! started or deleted, and a stale one never carries traffic (nothing holds it open).

use corral_api::MachineId;

use crate::error::BridgeError;
use crate::host::HostExec;

/// The tap's name: `ctap` and the start of the machine id, within the kernel's 15 bytes.
pub fn tap_name(id: MachineId) -> String {
    let hex = id.0.simple().to_string();
    format!("ctap{}", &hex[..11])
}

/// A locally administered MAC fixed by the machine id, so DHCP leases and firewall rules keep
/// working across restarts. `52:54:00` is QEMU's prefix.
pub fn mac_address(id: MachineId) -> String {
    let b = id.0.as_bytes();
    format!("52:54:00:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2])
}

/// Makes the VM's tap (replacing a stale one) and puts it on `bridge`, up.
pub async fn tap_up(
    exec: &dyn HostExec,
    ip: &str,
    id: MachineId,
    bridge: &str,
) -> Result<String, BridgeError> {
    let tap = tap_name(id);
    tap_down(exec, ip, id).await;
    let steps: [Vec<String>; 2] = [
        ["tuntap", "add", "dev", &tap, "mode", "tap"].map(String::from).to_vec(),
        ["link", "set", "dev", &tap, "master", bridge, "up"].map(String::from).to_vec(),
    ];
    for args in steps {
        let out =
            exec.run(ip, &args).await.map_err(|e| BridgeError::Host(format!("cannot run {ip}: {e}")))?;
        if !out.success {
            tap_down(exec, ip, id).await;
            return Err(BridgeError::Host(format!(
                "cannot put the NIC on host bridge {bridge}: {}",
                out.stderr_tail()
            )));
        }
    }
    Ok(tap)
}

/// Removes the VM's tap if there is one; a missing tap is the normal case.
pub async fn tap_down(exec: &dyn HostExec, ip: &str, id: MachineId) {
    let args = ["link", "del", "dev", &tap_name(id)].map(String::from).to_vec();
    let _ = exec.run(ip, &args).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_the_kernel_and_macs_are_stable() {
        let id: MachineId = "0123abcd-ef01-4567-89ab-cdef01234567".parse().unwrap();
        assert_eq!(tap_name(id), "ctap0123abcdef0");
        assert!(tap_name(id).len() <= 15);
        assert_eq!(mac_address(id), "52:54:00:01:23:ab");
        assert_eq!(mac_address(id), mac_address(id));
    }
}
