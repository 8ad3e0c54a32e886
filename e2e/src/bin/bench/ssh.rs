//! The SSH transport against the direct socket: a bridge request's latency, and a bulk byte
//! stream's throughput, each through a real OpenSSH `sshd` on loopback and straight to the
//! unix socket, side by side.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use corral::nodes::BridgeClient;
use corral::nodes::ssh::{HostKeyPin, SshIdentity, SshTransport};
use corral::nodes::transport::{Transport, UnixTransport};
use corral_e2e::BridgeProc;
use corral_e2e::sshd::{SshdProc, ssh_user};
use tokio::io::AsyncReadExt;

use super::Row;

/// Bytes moved per throughput run.
pub const STREAM_BYTES: u64 = 64 << 20;

async fn drain(t: &dyn Transport) -> Duration {
    let start = Instant::now();
    let mut s = t.connect().await.unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    let mut got = 0u64;
    loop {
        let n = s.read(&mut buf).await.unwrap();
        if n == 0 {
            break;
        }
        got += n as u64;
    }
    assert_eq!(got, STREAM_BYTES);
    start.elapsed()
}

pub async fn rows(dir: &Path, runs: usize) -> Vec<Row> {
    let bridge = BridgeProc::start(dir, "s");
    let identity = SshIdentity::load_or_create(&dir.join("backend")).unwrap();
    let sshd = SshdProc::start(&dir.join("sshd"), &identity.public_key());
    let pin = HostKeyPin::new(Some(sshd.host_key_fingerprint()));
    let address = |socket: &Path| {
        format!("ssh://{}@127.0.0.1:{}{}", ssh_user(), sshd.port, socket.display()).parse().unwrap()
    };
    let over_ssh = Arc::new(SshTransport::new(address(&bridge.socket), pin.clone(), identity.clone()));
    let ssh_client = BridgeClient::new(over_ssh, Duration::from_secs(10));
    let direct = bridge.client();
    // The first SSH request pays for the handshake; what is measured is the steady state.
    ssh_client.version().await.unwrap();
    let (mut ssh_lat, mut direct_lat) = (Vec::new(), Vec::new());
    for _ in 0..runs.max(20) {
        let t = Instant::now();
        direct.version().await.unwrap();
        direct_lat.push(t.elapsed());
        let t = Instant::now();
        ssh_client.version().await.unwrap();
        ssh_lat.push(t.elapsed());
    }

    let source = dir.join("source.sock");
    super::serve_source(&source, STREAM_BYTES);
    let ssh_stream = SshTransport::new(address(&source), pin, identity);
    let direct_stream = UnixTransport { path: source.clone() };
    drain(&ssh_stream).await;
    let (mut ssh_bulk, mut direct_bulk) = (Vec::new(), Vec::new());
    for _ in 0..runs.min(5) {
        direct_bulk.push(drain(&direct_stream).await);
        ssh_bulk.push(drain(&ssh_stream).await);
    }
    vec![
        Row {
            what: "bridge request (GET /v1/version) over SSH",
            ours: ssh_lat,
            base_name: "the same over the local socket",
            base: direct_lat,
            goal: "—",
            bytes: 0,
        },
        Row {
            what: "64 MiB byte stream over SSH",
            ours: ssh_bulk,
            base_name: "the same from the local socket",
            base: direct_bulk,
            goal: "—",
            bytes: STREAM_BYTES,
        },
    ]
}
