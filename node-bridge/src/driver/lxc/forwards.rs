//! Port forwards from the node's loopback to a running zone, as QEMU's `hostfwd` does for a
//! VM: the bridge listens on `127.0.0.1:<host_port>`, and each connection is joined to a
//! connection made from inside the zone's network namespace to its `127.0.0.1:<guest_port>`.
//!
//! The inner connection is opened by a short-lived thread that enters the namespace of the
//! zone's init (`setns`), connects, and hands the socket back: a socket stays in the
//! namespace it was made in, so nothing else on the bridge moves. The init's pid is asked of
//! LXC for each connection, so a zone that rebooted is reached where it is now. Forwards are
//! served by the bridge: while no bridge runs, they do not answer.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use corral_api::MachineId;
use corral_api::spec::PortForward;
use tokio::net::{TcpListener, TcpStream};

use crate::error::BridgeError;
use crate::host::HostExec;

/// The listeners of one running zone; dropping them closes the ports.
pub struct Forwards {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Forwards {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Forwards {
    /// Binds every forward of the zone (all or none: a port another program holds fails the
    /// lot) and serves them.
    pub async fn open(
        list: &[PortForward],
        exec: Arc<dyn HostExec>,
        lxc_path: String,
        id: MachineId,
    ) -> Result<Forwards, BridgeError> {
        let mut listeners = Vec::new();
        for f in list {
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, f.host_port));
            let listener = TcpListener::bind(addr).await.map_err(|e| {
                BridgeError::Conflict(format!("port {} of the node's loopback is in use: {e}", f.host_port))
            })?;
            listeners.push((listener, f.guest_port));
        }
        let tasks = listeners
            .into_iter()
            .map(|(listener, guest_port)| {
                let (exec, lxc_path) = (exec.clone(), lxc_path.clone());
                tokio::spawn(async move {
                    while let Ok((outer, _)) = listener.accept().await {
                        let (exec, lxc_path) = (exec.clone(), lxc_path.clone());
                        tokio::spawn(async move {
                            if let Err(e) = join(outer, &*exec, &lxc_path, id, guest_port).await {
                                tracing::debug!(zone = %id, guest_port, error = %e, "a forwarded connection");
                            }
                        });
                    }
                })
            })
            .collect();
        Ok(Forwards { tasks })
    }
}

/// Joins a connection to the node's port with one to the zone's.
async fn join(
    mut outer: TcpStream,
    exec: &dyn HostExec,
    lxc_path: &str,
    id: MachineId,
    guest_port: u16,
) -> Result<(), BridgeError> {
    let pid = init_pid(exec, lxc_path, id).await?;
    let mut inner = connect_inside(pid, guest_port).await?;
    let _ = tokio::io::copy_bidirectional(&mut outer, &mut inner).await;
    Ok(())
}

/// The pid of the zone's init, from `lxc-info -p`.
async fn init_pid(exec: &dyn HostExec, lxc_path: &str, id: MachineId) -> Result<u32, BridgeError> {
    let args: Vec<String> = vec!["-P".into(), lxc_path.into(), "-n".into(), id.to_string(), "-p".into()];
    let out = exec.run("lxc-info", &args).await?;
    out.stdout
        .split_whitespace()
        .last()
        .and_then(|p| p.parse().ok())
        .filter(|_| out.success)
        .ok_or_else(|| BridgeError::Conflict(format!("zone {id} is not running")))
}

/// A connection to `127.0.0.1:port` made inside the network namespace of process `pid`, by a
/// thread of its own that ends right after: never a pooled thread, which would stay in the
/// zone's namespace for whatever ran on it next.
async fn connect_inside(pid: u32, port: u16) -> Result<TcpStream, BridgeError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::spawn(move || {
        let connect = || -> std::io::Result<std::net::TcpStream> {
            let ns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&ns),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )?;
            let s = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port))?;
            s.set_nonblocking(true)?;
            Ok(s)
        };
        let _ = tx.send(connect());
    });
    let stream = rx
        .await
        .map_err(|_| BridgeError::Host("connecting into the zone stopped".into()))?
        .map_err(|e| BridgeError::Conflict(format!("nothing answers on port {port} in the zone: {e}")))?;
    Ok(TcpStream::from_std(stream)?)
}
