//! The serial console hub of a running VM: one connection to QEMU's serial socket, a history
//! of the last 256 KiB of output with absolute byte offsets, and any number of viewers.
//!
//! The hub connects as soon as QEMU is up, so boot messages are kept even when nobody is
//! watching. A viewer asks for output from an offset: what is still in the history is
//! replayed, then live output follows, with no byte twice and none lost in between. Input
//! from viewers goes to the guest. When QEMU exits, the socket closes and so does every
//! viewer's stream.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::sync::{broadcast, mpsc};

/// How much output is kept for replay.
pub const HISTORY_BYTES: usize = 256 * 1024;

/// A piece of output and the offset of its first byte.
#[derive(Clone, Debug)]
pub struct Chunk {
    pub offset: u64,
    pub data: Bytes,
}

struct History {
    buf: VecDeque<u8>,
    /// Offset one past the last byte ever received.
    end: u64,
    /// Live output; taken (so every viewer's receiver closes) when QEMU hangs up.
    live: Option<broadcast::Sender<Chunk>>,
}

pub struct SerialHub {
    history: Mutex<History>,
    input: mpsc::Sender<Bytes>,
}

impl std::fmt::Debug for SerialHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialHub").finish_non_exhaustive()
    }
}

impl SerialHub {
    /// Connects to QEMU's serial socket (retrying for a moment while QEMU sets it up) and
    /// starts pumping.
    pub async fn connect(socket: &Path) -> std::io::Result<Arc<SerialHub>> {
        let mut last_err = None;
        let mut stream = None;
        for _ in 0..50 {
            match UnixStream::connect(socket).await {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => {
                    last_err = Some(e);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
        let stream =
            stream.ok_or_else(|| last_err.unwrap_or_else(|| std::io::Error::other("no serial socket")))?;
        Ok(Self::pump(stream))
    }

    /// Pumps an already connected serial line (the sim's scripted guest is the other end).
    pub fn pump(stream: UnixStream) -> Arc<SerialHub> {
        let (hub, mut input_rx) = SerialHub::new();
        let weak = Arc::downgrade(&hub);
        let (mut read, mut write) = stream.into_split();
        tokio::spawn(async move {
            while let Some(bytes) = input_rx.recv().await {
                if write.write_all(&bytes).await.is_err() {
                    break;
                }
            }
        });
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                let n = match read.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let Some(hub) = weak.upgrade() else { break };
                hub.record(&buf[..n]);
            }
            if let Some(hub) = weak.upgrade() {
                hub.close();
            }
        });
        hub
    }

    /// A hub fed by its owner (`record`, `close`), with the viewers' input on the receiver:
    /// for consoles that are not one socket (a zone's: its log for output, `lxc-console` for
    /// input).
    pub fn new() -> (Arc<SerialHub>, mpsc::Receiver<Bytes>) {
        let (live, _) = broadcast::channel(1024);
        let (input, input_rx) = mpsc::channel::<Bytes>(64);
        let hub = Arc::new(SerialHub {
            history: Mutex::new(History {
                buf: VecDeque::with_capacity(HISTORY_BYTES),
                end: 0,
                live: Some(live),
            }),
            input,
        });
        (hub, input_rx)
    }

    /// Ends every viewer's stream: the guest is gone.
    pub fn close(&self) {
        self.history.lock().unwrap_or_else(|p| p.into_inner()).live = None;
    }

    /// Adds output: kept for replay, sent to every viewer.
    pub fn record(&self, data: &[u8]) {
        let mut h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let offset = h.end;
        h.buf.extend(data);
        let excess = h.buf.len().saturating_sub(HISTORY_BYTES);
        h.buf.drain(..excess);
        h.end += data.len() as u64;
        // Sent under the lock, so a viewer that subscribes under it sees each byte once.
        if let Some(live) = &h.live {
            let _ = live.send(Chunk { offset, data: Bytes::copy_from_slice(data) });
        }
    }

    /// The output from `from` on that is still kept (it starts later if `from` is older than
    /// the history), and a receiver of everything after it.
    pub fn attach(&self, from: u64) -> (Chunk, broadcast::Receiver<Chunk>) {
        let h = self.history.lock().unwrap_or_else(|p| p.into_inner());
        let start = h.end - h.buf.len() as u64;
        let from = from.clamp(start, h.end);
        let skip = (from - start) as usize;
        let replay: Vec<u8> = h.buf.iter().skip(skip).copied().collect();
        let live = match &h.live {
            Some(live) => live.subscribe(),
            // QEMU is gone: a receiver that is closed from the start.
            None => broadcast::channel(1).1,
        };
        (Chunk { offset: from, data: Bytes::from(replay) }, live)
    }

    /// Sends keystrokes to the guest.
    pub async fn send(&self, bytes: Bytes) -> bool {
        self.input.send(bytes).await.is_ok()
    }

    /// Whether QEMU's serial socket is still connected.
    pub fn is_live(&self) -> bool {
        self.history.lock().unwrap_or_else(|p| p.into_inner()).live.is_some()
    }

    /// Offset one past the last byte received.
    pub fn end(&self) -> u64 {
        self.history.lock().unwrap_or_else(|p| p.into_inner()).end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn replay_then_live_without_gaps_and_a_bounded_history() {
        let (ours, mut guest) = UnixStream::pair().unwrap();
        let hub = SerialHub::pump(ours);
        guest.write_all(b"boot messages\n").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;

        let (replay, mut live) = hub.attach(0);
        assert_eq!((replay.offset, &replay.data[..]), (0, &b"boot messages\n"[..]));
        let (replay, _) = hub.attach(5);
        assert_eq!(&replay.data[..], b"messages\n");

        guest.write_all(b"login: ").await.unwrap();
        let chunk = live.recv().await.unwrap();
        assert_eq!((chunk.offset, &chunk.data[..]), (14, &b"login: "[..]));

        assert!(hub.send(Bytes::from_static(b"root\n")).await);
        let mut got = [0u8; 5];
        guest.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"root\n");

        // Past the bound, the oldest output goes, and offsets stay absolute.
        guest.write_all(&vec![b'x'; HISTORY_BYTES]).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (replay, _) = hub.attach(0);
        assert_eq!(replay.data.len(), HISTORY_BYTES);
        assert_eq!(replay.offset, hub.end() - HISTORY_BYTES as u64);

        drop(guest);
        let mut closed = false;
        for _ in 0..100 {
            match live.recv().await {
                Err(broadcast::error::RecvError::Closed) => {
                    closed = true;
                    break;
                }
                _ => continue,
            }
        }
        assert!(closed, "viewers end when QEMU hangs up");
    }
}
