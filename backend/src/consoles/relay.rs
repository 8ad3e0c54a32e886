//! Joins a browser websocket (binary frames) to a console byte stream from a bridge, both
//! ways, until either side ends or the session is stopped (taken over, access revoked); then
//! closes the other side with a code and a reason the page can show.
//!
//! Text frames are the terminal's control messages (`ConsoleControl`: a resize), never
//! typed bytes. A shell's stream is framed (`shell_frame`), so typing and resizes both
//! reach the node; a serial line or a screen has no size, and the message is dropped.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use corral_api::console::{ConsoleControl, close, shell_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::nodes::client::ConsoleStream;

/// Read size from the bridge: a VNC update arrives in few frames, a serial echo at once.
const CHUNK: usize = 256 * 1024;

pub fn close_frame(code: u16, reason: impl Into<String>) -> Message {
    // A close reason is limited to 123 bytes.
    let mut reason: String = reason.into();
    while reason.len() > 123 {
        reason.pop();
    }
    Message::Close(Some(CloseFrame { code, reason: reason.into() }))
}

/// Copies bytes both ways until either side ends, or `stop` resolves with the close code and
/// reason to send.
pub async fn relay(
    mut ws: WebSocket,
    stream: ConsoleStream,
    framed: bool,
    stop: impl std::future::Future<Output = (u16, String)>,
) {
    let (mut from_node, mut to_node) = tokio::io::split(stream);
    let mut buf = bytes::BytesMut::with_capacity(CHUNK);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            read = from_node.read_buf(&mut buf) => match read {
                Ok(n) if n > 0 => {
                    // The frame takes the bytes as they are; the buffer starts afresh.
                    let frame = buf.split().freeze();
                    buf.reserve(CHUNK);
                    if ws.send(Message::Binary(frame)).await.is_err() {
                        break;
                    }
                }
                // The node ended the stream: the machine stopped (its QEMU went away).
                _ => {
                    let _ = ws.send(close_frame(close::MACHINE_STOPPED, "the console ended: the machine stopped")).await;
                    break;
                }
            },
            msg = ws.recv() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    let bytes = if framed { shell_frame::input(&b) } else { b.to_vec() };
                    if to_node.write_all(&bytes).await.is_err() {
                        let _ = ws.send(close_frame(close::NODE_UNREACHABLE, "the node closed the console")).await;
                        break;
                    }
                }
                Some(Ok(Message::Text(t))) => {
                    // A control message the page sends; only a shell's terminal has a size.
                    let resize = serde_json::from_str::<ConsoleControl>(&t).ok().map(|c| c.resize);
                    if let Some(size) = resize.filter(|s| framed && s.is_sane())
                        && to_node.write_all(&shell_frame::resize(size)).await.is_err()
                    {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            },
            (code, reason) = &mut stop => {
                let _ = ws.send(close_frame(code, reason)).await;
                break;
            }
        }
    }
    let _ = to_node.shutdown().await;
}
