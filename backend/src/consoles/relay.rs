//! Joins a browser websocket (binary frames) to a console byte stream from a bridge, both
//! ways, until either side ends or the console is taken over; then closes the other side
//! with a code and a reason the page can show.

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use corral_api::console::close;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

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

/// Copies bytes both ways. `kicked` ends the session with the reason given (a takeover).
pub async fn relay(mut ws: WebSocket, stream: ConsoleStream, kicked: Option<oneshot::Receiver<String>>) {
    let (mut from_node, mut to_node) = tokio::io::split(stream);
    let mut buf = bytes::BytesMut::with_capacity(CHUNK);
    let kicked = async move {
        match kicked {
            Some(rx) => rx.await.unwrap_or_else(|_| "taken over".into()),
            None => std::future::pending().await,
        }
    };
    tokio::pin!(kicked);
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
                    if to_node.write_all(&b).await.is_err() {
                        let _ = ws.send(close_frame(close::NODE_UNREACHABLE, "the node closed the console")).await;
                        break;
                    }
                }
                Some(Ok(Message::Text(t))) => {
                    if to_node.write_all(t.as_bytes()).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
            },
            reason = &mut kicked => {
                let _ = ws.send(close_frame(close::TAKEN_OVER, reason)).await;
                break;
            }
        }
    }
    let _ = to_node.shutdown().await;
}
