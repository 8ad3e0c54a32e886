//! The transport seam: something that opens a fresh byte stream to a node's bridge socket —
//! a local unix socket here, a `direct-streamlocal` SSH channel in `ssh.rs` — so the client
//! above never knows which.

use std::fmt;
use std::io;
use std::path::PathBuf;

use async_trait::async_trait;
use tokio::io::{AsyncRead, AsyncWrite};

pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Stream for T {}

pub type BoxStream = Box<dyn Stream>;

#[async_trait]
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    async fn connect(&self) -> io::Result<BoxStream>;

    /// The host key fingerprint the node presented when it is not the pinned one: the node is
    /// then `key-mismatch` and nothing is sent to it.
    fn key_mismatch(&self) -> Option<String> {
        None
    }
}

/// The bridge of a node on this machine, reached through its socket file.
#[derive(Debug, Clone)]
pub struct UnixTransport {
    pub path: PathBuf,
}

#[async_trait]
impl Transport for UnixTransport {
    async fn connect(&self) -> io::Result<BoxStream> {
        let s = tokio::net::UnixStream::connect(&self.path).await?;
        Ok(Box::new(s))
    }
}

/// Parses a local node address (`unix:/path/to/bridge.sock`).
pub fn from_address(address: &str) -> Result<std::sync::Arc<dyn Transport>, String> {
    match address.strip_prefix("unix:") {
        Some(path) if !path.is_empty() => {
            Ok(std::sync::Arc::new(UnixTransport { path: PathBuf::from(path) }))
        }
        _ => Err(format!("unsupported node address {address:?} (expected unix:/path)")),
    }
}
