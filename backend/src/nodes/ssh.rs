//! The SSH transport: a remote node's bridge socket reached through one OpenSSH connection
//! per node, each request on its own `direct-streamlocal` channel.
//!
//! The backend authenticates with its own ed25519 key (made on first start, never a
//! password) and trusts a node only by the SHA-256 fingerprint of its host key pinned at
//! enrolment. A different key stops the handshake before we authenticate, so nothing is sent;
//! the presented fingerprint is kept so the node can show `key-mismatch` and an admin can
//! re-confirm. A dead connection is noticed by keepalives (or at once when its TCP link
//! closes) and the next request dials again; the reconciler above paces those attempts.

use std::fmt;
use std::io;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use russh::client::{self, Handle};
use russh::keys::PublicKeyOrCertificate;
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg};

use super::transport::{BoxStream, Transport};

/// How long dialing and the SSH handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(8);

/// The backend's SSH identity, kept as `<data-dir>/ssh/id_ed25519` (mode 0600).
#[derive(Clone)]
pub struct SshIdentity(Arc<PrivateKey>);

impl fmt::Debug for SshIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SshIdentity({})", self.fingerprint())
    }
}

impl SshIdentity {
    /// Loads the key, or makes one on first start.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        use std::os::unix::fs::PermissionsExt;
        let dir = data_dir.join("ssh");
        let path = dir.join("id_ed25519");
        if path.exists() {
            let key = PrivateKey::read_openssh_file(&path)
                .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            return Ok(Self(Arc::new(key)));
        }
        std::fs::create_dir_all(&dir)?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        let mut seed = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut seed);
        let mut key = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        key.set_comment("corral");
        // Written to a temporary name first, so a crash never leaves half a key behind.
        let tmp = dir.join("id_ed25519.tmp");
        key.write_openssh_file(&tmp, russh::keys::ssh_key::LineEnding::LF)
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", tmp.display()))?;
        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
        std::fs::rename(&tmp, &path)?;
        tracing::info!(fingerprint = %key.fingerprint(HashAlg::Sha256), "made the backend's SSH key");
        Ok(Self(Arc::new(key)))
    }

    /// The line to put in a node user's `authorized_keys`.
    pub fn public_key(&self) -> String {
        self.0.public_key().to_openssh().unwrap_or_default()
    }

    pub fn fingerprint(&self) -> String {
        self.0.fingerprint(HashAlg::Sha256).to_string()
    }
}

/// Where a remote bridge is: `ssh://user@host:port/path/to/bridge.sock`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshAddress {
    pub user: String,
    pub host: String,
    pub port: u16,
    pub socket: String,
}

impl fmt::Display for SshAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        write!(f, "ssh://{}@{host}:{}{}", self.user, self.port, self.socket)
    }
}

impl FromStr for SshAddress {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?}: expected ssh://user@host:port/path/to/bridge.sock");
        let rest = s.strip_prefix("ssh://").ok_or_else(bad)?;
        let (user, rest) = rest.split_once('@').ok_or_else(bad)?;
        let slash = rest.find('/').ok_or_else(bad)?;
        let (authority, socket) = rest.split_at(slash);
        let (host, port) = match authority.strip_prefix('[') {
            Some(v6) => {
                let (host, port) = v6.split_once("]:").ok_or_else(bad)?;
                (host, port)
            }
            None => authority.rsplit_once(':').ok_or_else(bad)?,
        };
        let port: u16 = port.parse().map_err(|_| bad())?;
        if user.is_empty() || host.is_empty() || port == 0 || socket.len() < 2 {
            return Err(bad());
        }
        Ok(SshAddress { user: user.into(), host: host.into(), port, socket: socket.into() })
    }
}

/// The host key a node must present, and the last one it did.
#[derive(Clone, Debug, Default)]
pub struct HostKeyPin(Arc<RwLock<PinState>>);

#[derive(Debug, Default)]
struct PinState {
    pinned: Option<String>,
    presented: Option<String>,
}

impl HostKeyPin {
    pub fn new(pinned: Option<String>) -> Self {
        Self(Arc::new(RwLock::new(PinState { pinned, presented: None })))
    }

    pub fn set(&self, fingerprint: String) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).pinned = Some(fingerprint);
    }

    pub fn pinned(&self) -> Option<String> {
        self.0.read().unwrap_or_else(|p| p.into_inner()).pinned.clone()
    }

    /// The fingerprint the node presented, when it is not the pinned one.
    pub fn mismatch(&self) -> Option<String> {
        let s = self.0.read().unwrap_or_else(|p| p.into_inner());
        match (&s.pinned, &s.presented) {
            (Some(pinned), Some(presented)) if pinned != presented => Some(presented.clone()),
            _ => None,
        }
    }

    fn present(&self, fingerprint: String) -> bool {
        let mut s = self.0.write().unwrap_or_else(|p| p.into_inner());
        let ok = s.pinned.as_deref() == Some(fingerprint.as_str());
        s.presented = Some(fingerprint);
        ok
    }
}

/// russh's view of us during a handshake: it asks whether the server's key is trusted.
struct Client {
    pin: HostKeyPin,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKeyOrCertificate) -> Result<bool, Self::Error> {
        let fingerprint = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256),
            PublicKeyOrCertificate::Certificate(cert) => cert.public_key().fingerprint(HashAlg::Sha256),
        };
        Ok(self.pin.present(fingerprint.to_string()))
    }
}

/// Why a link to a node could not be made; shown to admins as the node's last error.
#[derive(Debug, thiserror::Error)]
pub enum SshError {
    #[error("cannot reach {0}: {1}")]
    Dial(String, io::Error),
    #[error("{0} did not finish the SSH handshake within {1:?}")]
    HandshakeTimeout(String, Duration),
    #[error("host key mismatch: the node presented {presented}, but {pinned} is pinned")]
    HostKeyMismatch { pinned: String, presented: String },
    #[error("SSH handshake failed: {0}")]
    Handshake(russh::Error),
    #[error(
        "the node refused our key for user {0}: add the backend's public key to that user's authorized_keys"
    )]
    AuthRefused(String),
    #[error("the node would not open the bridge socket {0}: {1}")]
    Socket(String, russh::Error),
}

impl From<SshError> for io::Error {
    fn from(e: SshError) -> io::Error {
        let kind = match e {
            SshError::HostKeyMismatch { .. } | SshError::AuthRefused(_) => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::ConnectionRefused,
        };
        io::Error::new(kind, e.to_string())
    }
}

fn client_config() -> Arc<client::Config> {
    use russh::cipher;
    Arc::new(client::Config {
        // A link whose peer vanished without closing it (a partition, a dead host) is given
        // up after ~6 s: 2 s of silence, then two keepalives unanswered 2 s apart.
        keepalive_interval: Some(Duration::from_secs(2)),
        keepalive_max: 2,
        nodelay: true,
        // AES-GCM runs on the CPU's AES instructions, several times faster than ChaCha20
        // in software for console streams; ChaCha20 stays for nodes without them.
        preferred: russh::Preferred {
            cipher: std::borrow::Cow::Borrowed(&[
                cipher::AES_256_GCM,
                cipher::AES_128_GCM,
                cipher::CHACHA20_POLY1305,
            ]),
            ..russh::Preferred::DEFAULT
        },
        // A wider window keeps a fast stream from stalling on window adjustments.
        window_size: 8 << 20,
        ..Default::default()
    })
}

/// A TCP stream that acknowledges at once. sshd does not set TCP_NODELAY on connections
/// without a terminal, so the last small segment of each burst waits for our ACK; with
/// Linux's delayed ACKs that cost up to 40 ms per console round trip (an RFB update request,
/// a key echo). Quick ACK mode lapses after a while, so it is set again after every read.
struct QuickAck(tokio::net::TcpStream);

impl tokio::io::AsyncRead for QuickAck {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        let polled = std::pin::Pin::new(&mut self.0).poll_read(cx, buf);
        if polled.is_ready() {
            let _ = rustix::net::sockopt::set_tcp_quickack(&self.0, true);
        }
        polled
    }
}

impl tokio::io::AsyncWrite for QuickAck {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<io::Result<usize>> {
        std::pin::Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// Dials the node and finishes the handshake, checking the host key against `pin`.
async fn handshake(addr: &SshAddress, pin: &HostKeyPin) -> Result<Handle<Client>, SshError> {
    let target = format!("{}:{}", addr.host, addr.port);
    let work = async {
        let tcp = tokio::net::TcpStream::connect((addr.host.as_str(), addr.port))
            .await
            .map_err(|e| SshError::Dial(target.clone(), e))?;
        let _ = tcp.set_nodelay(true);
        client::connect_stream(client_config(), QuickAck(tcp), Client { pin: pin.clone() }).await.map_err(
            |e| match (pin.pinned(), pin.mismatch()) {
                (Some(pinned), Some(presented)) => SshError::HostKeyMismatch { pinned, presented },
                _ => SshError::Handshake(e),
            },
        )
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, work)
        .await
        .map_err(|_| SshError::HandshakeTimeout(target.clone(), HANDSHAKE_TIMEOUT))?
}

/// The host key fingerprint a node presents, without authenticating or sending anything
/// else: what an admin confirms before a node is enrolled.
pub async fn host_key_of(host: &str, port: u16) -> Result<String, SshError> {
    let addr = SshAddress { user: String::new(), host: host.into(), port, socket: String::new() };
    let pin = HostKeyPin::default();
    match handshake(&addr, &pin).await {
        // Nothing is pinned, so the handshake is refused after the key is seen.
        Err(SshError::Handshake(_)) | Ok(_) => {}
        Err(e) => return Err(e),
    }
    let presented = pin.0.read().unwrap_or_else(|p| p.into_inner()).presented.clone();
    presented.ok_or_else(|| SshError::Handshake(russh::Error::Disconnect))
}

/// A node's bridge over SSH: one connection, shared by every request and stream.
pub struct SshTransport {
    pub address: SshAddress,
    pub pin: HostKeyPin,
    identity: SshIdentity,
    session: tokio::sync::Mutex<Option<Arc<Handle<Client>>>>,
    /// The last link failure, for the node's status.
    last_error: Mutex<Option<String>>,
}

impl fmt::Debug for SshTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SshTransport({})", self.address)
    }
}

impl SshTransport {
    pub fn new(address: SshAddress, pin: HostKeyPin, identity: SshIdentity) -> Self {
        Self { address, pin, identity, session: Default::default(), last_error: Default::default() }
    }

    /// The open connection, or a new one.
    async fn session(&self) -> Result<Arc<Handle<Client>>, SshError> {
        let mut slot = self.session.lock().await;
        if let Some(h) = slot.as_ref()
            && !h.is_closed()
        {
            return Ok(h.clone());
        }
        *slot = None;
        let mut handle = handshake(&self.address, &self.pin).await?;
        let key = PrivateKeyWithHashAlg::new(self.identity.0.clone(), None);
        let auth = handle
            .authenticate_publickey(self.address.user.clone(), key)
            .await
            .map_err(SshError::Handshake)?;
        if !auth.success() {
            return Err(SshError::AuthRefused(self.address.user.clone()));
        }
        let handle = Arc::new(handle);
        *slot = Some(handle.clone());
        Ok(handle)
    }

    async fn channel(&self) -> Result<BoxStream, SshError> {
        let session = self.session().await?;
        match session.channel_open_direct_streamlocal(self.address.socket.clone()).await {
            Ok(ch) => Ok(Box::new(ch.into_stream())),
            Err(e) => {
                // A connection that died between two requests: drop it, so the next dials.
                if session.is_closed() {
                    *self.session.lock().await = None;
                }
                Err(SshError::Socket(self.address.socket.clone(), e))
            }
        }
    }
}

#[async_trait]
impl Transport for SshTransport {
    async fn connect(&self) -> io::Result<BoxStream> {
        match self.channel().await {
            Ok(s) => Ok(s),
            Err(e) => {
                *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(e.to_string());
                Err(e.into())
            }
        }
    }

    fn key_mismatch(&self) -> Option<String> {
        self.pin.mismatch()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_round_trip_and_bad_ones_say_the_form() {
        let a: SshAddress = "ssh://corral@node1.example:2222/run/corral/bridge.sock".parse().unwrap();
        assert_eq!((a.user.as_str(), a.host.as_str(), a.port), ("corral", "node1.example", 2222));
        assert_eq!(a.socket, "/run/corral/bridge.sock");
        assert_eq!(a.to_string(), "ssh://corral@node1.example:2222/run/corral/bridge.sock");
        let v6: SshAddress = "ssh://root@[::1]:22/b.sock".parse().unwrap();
        assert_eq!((v6.host.as_str(), v6.to_string().as_str()), ("::1", "ssh://root@[::1]:22/b.sock"));
        for bad in [
            "unix:/x",
            "ssh://host:22/x",
            "ssh://u@host/x",
            "ssh://u@host:0/x",
            "ssh://u@host:22",
            "ssh://u@:22/x",
        ] {
            assert!(bad.parse::<SshAddress>().unwrap_err().contains("expected ssh://"), "{bad}");
        }
    }

    #[test]
    fn the_key_is_made_once_private_and_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = SshIdentity::load_or_create(dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join("ssh/id_ed25519")).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(a.public_key().starts_with("ssh-ed25519 ") && a.public_key().ends_with(" corral"));
        assert!(a.fingerprint().starts_with("SHA256:"));
        let b = SshIdentity::load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_key(), b.public_key(), "the second start loads the same key");
    }

    #[test]
    fn a_pin_tells_a_mismatch() {
        let pin = HostKeyPin::new(Some("SHA256:aaa".into()));
        assert!(pin.present("SHA256:aaa".into()));
        assert_eq!(pin.mismatch(), None);
        assert!(!pin.present("SHA256:bbb".into()));
        assert_eq!(pin.mismatch().as_deref(), Some("SHA256:bbb"));
        pin.set("SHA256:bbb".into());
        assert_eq!(pin.mismatch(), None, "re-confirmed");
    }
}
