//! Console streams: `GET /v1/machines/{id}/serial?offset=N`, `GET /v1/machines/{id}/vnc` and
//! `GET /v1/machines/{id}/shell?cols=C&rows=R`.
//!
//! Both are HTTP/1.1 upgrades to a raw byte stream (`Upgrade: corral-stream`), so the same
//! request works over the local socket and over an SSH channel, and nothing in between
//! parses RFB or terminal bytes. The serial answer says in `x-corral-serial-offset` where its
//! replay starts; a viewer that counts the bytes it got knows where to resume.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use corral_api::MachineId;
use corral_api::console::{TermSize, shell_frame};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::BridgeError;
use crate::server::{BridgeState, Path, Query};

/// The `Upgrade` token of console streams.
pub const STREAM_PROTOCOL: &str = "corral-stream";
/// The offset of the first byte a serial stream sends.
pub const OFFSET_HEADER: &str = "x-corral-serial-offset";

fn wants_stream(req: &Request) -> Result<(), BridgeError> {
    let upgrade = req.headers().get(header::UPGRADE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if upgrade.eq_ignore_ascii_case(STREAM_PROTOCOL) {
        Ok(())
    } else {
        Err(BridgeError::InvalidRequest(format!("console streams need `Upgrade: {STREAM_PROTOCOL}`")))
    }
}

fn switching() -> Response {
    let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
    resp.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    resp.headers_mut().insert(header::UPGRADE, HeaderValue::from_static(STREAM_PROTOCOL));
    resp
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SerialQuery {
    /// Replay output from this byte on (as far as the history reaches); 0 for all of it.
    #[serde(default)]
    offset: u64,
}

pub async fn serial_stream(
    State(s): State<BridgeState>,
    Path(id): Path<MachineId>,
    Query(q): Query<SerialQuery>,
    req: Request,
) -> Result<Response, BridgeError> {
    wants_stream(&req)?;
    let hub = s.driver.serial(id)?;
    let (replay, mut live) = hub.attach(q.offset);
    let mut resp = switching();
    resp.headers_mut().insert(OFFSET_HEADER, HeaderValue::from(replay.offset));
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(e) => return tracing::debug!(error = %e, "serial upgrade failed"),
        };
        let (mut from_viewer, mut to_viewer) = tokio::io::split(TokioIo::new(upgraded));
        let keys = hub.clone();
        let input = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while let Ok(n) = from_viewer.read(&mut buf).await {
                if n == 0 || !keys.send(Bytes::copy_from_slice(&buf[..n])).await {
                    break;
                }
            }
        });
        let mut next = replay.offset + replay.data.len() as u64;
        if to_viewer.write_all(&replay.data).await.is_ok() {
            // Lagged (too slow to keep up) or closed (QEMU gone) ends the stream; a lagging
            // viewer resumes from its own offset.
            while let Ok(chunk) = live.recv().await {
                // Skip what the replay already carried.
                let skip = next.saturating_sub(chunk.offset) as usize;
                if skip >= chunk.data.len() {
                    continue;
                }
                if to_viewer.write_all(&chunk.data[skip..]).await.is_err() {
                    break;
                }
                next = chunk.offset + chunk.data.len() as u64;
            }
        }
        let _ = to_viewer.shutdown().await;
        input.abort();
    });
    Ok(resp)
}

pub async fn vnc_stream(
    State(s): State<BridgeState>,
    Path(id): Path<MachineId>,
    req: Request,
) -> Result<Response, BridgeError> {
    wants_stream(&req)?;
    let socket = s.driver.vnc_socket(id)?;
    let vnc = tokio::net::UnixStream::connect(&socket)
        .await
        .map_err(|e| BridgeError::Conflict(format!("the VNC server of machine {id} does not answer: {e}")))?;
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(e) => return tracing::debug!(error = %e, "vnc upgrade failed"),
        };
        let mut viewer = TokioIo::new(upgraded);
        let mut vnc = vnc;
        // Framebuffer updates are large: copy in big chunks (the default is 8 KiB).
        let _ = tokio::io::copy_bidirectional_with_sizes(&mut viewer, &mut vnc, 64 << 10, 256 << 10).await;
    });
    Ok(switching())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellQuery {
    #[serde(default = "cols")]
    cols: u16,
    #[serde(default = "rows")]
    rows: u16,
}

fn cols() -> u16 {
    80
}

fn rows() -> u16 {
    24
}

/// A shell of its own in a running zone. What the viewer sends is framed
/// (`corral_api::console::shell_frame`: typed bytes and resizes); what it gets is the
/// terminal's output. The shell ends when either side does.
pub async fn shell_stream(
    State(s): State<BridgeState>,
    Path(id): Path<MachineId>,
    Query(q): Query<ShellQuery>,
    req: Request,
) -> Result<Response, BridgeError> {
    wants_stream(&req)?;
    let size = TermSize { cols: q.cols, rows: q.rows };
    if !size.is_sane() {
        return Err(BridgeError::Validation {
            field: "cols",
            message: "1–1000 columns and 1–500 rows".into(),
        });
    }
    let (mut child, pty) = s.driver.shell(id, size)?;
    let (mut output, mut input) = pty.split()?;
    tokio::spawn(async move {
        let upgraded = match hyper::upgrade::on(req).await {
            Ok(u) => u,
            Err(e) => return tracing::debug!(error = %e, "shell upgrade failed"),
        };
        let (mut from_viewer, mut to_viewer) = tokio::io::split(TokioIo::new(upgraded));
        let mut frames = shell_frame::Decoder::default();
        let (mut inbuf, mut outbuf) = (vec![0u8; 4096], vec![0u8; 16 * 1024]);
        'relay: loop {
            tokio::select! {
                read = from_viewer.read(&mut inbuf) => {
                    let Ok(n @ 1..) = read else { break };
                    frames.push(&inbuf[..n]);
                    loop {
                        match frames.next_frame() {
                            Ok(Some(shell_frame::Frame::Input(bytes))) => {
                                if input.write_all(&bytes).await.is_err() || input.flush().await.is_err() {
                                    break 'relay;
                                }
                            }
                            Ok(Some(shell_frame::Frame::Resize(size))) if size.is_sane() => {
                                let _ = pty.resize(size);
                            }
                            Ok(Some(shell_frame::Frame::Resize(_))) => {}
                            Ok(None) => break,
                            Err(e) => {
                                tracing::warn!(machine = %id, error = %e, "a shell stream broke its framing");
                                break 'relay;
                            }
                        }
                    }
                }
                read = output.read(&mut outbuf) => {
                    let Ok(n @ 1..) = read else { break };
                    if to_viewer.write_all(&outbuf[..n]).await.is_err() {
                        break;
                    }
                }
                _ = child.wait() => break,
            }
        }
        let _ = child.kill().await;
        let _ = to_viewer.shutdown().await;
    });
    Ok(switching())
}
