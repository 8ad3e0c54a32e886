//! The one serial reader: a guest's serial line, read until some text shows up, whether the
//! line is the bridge's byte stream or the backend's console websocket. A text that never
//! comes fails the test with the tail of what the guest did say.

use std::future::Future;
use std::io;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

/// How much of what was seen a failure quotes.
const QUOTE: usize = 2000;

/// A serial line's two directions.
pub trait Line: Send {
    /// The next bytes from the guest; `Ok(None)` once the line has closed.
    fn recv(&mut self) -> impl Future<Output = io::Result<Option<Vec<u8>>>> + Send;
    /// Bytes to the guest, as typed.
    fn send(&mut self, bytes: &[u8]) -> impl Future<Output = io::Result<()>> + Send;
}

/// A plain byte stream (the bridge's console stream, a raw socket).
pub struct Stream<S>(pub S);

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Line for Stream<S> {
    async fn recv(&mut self) -> io::Result<Option<Vec<u8>>> {
        let mut buf = vec![0u8; 4096];
        let n = self.0.read(&mut buf).await?;
        buf.truncate(n);
        Ok((n > 0).then_some(buf))
    }

    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes).await
    }
}

/// The backend's serial websocket: binary frames carry the line, text frames are the
/// console's own messages (the hello) and are skipped here.
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Line for WebSocketStream<S> {
    async fn recv(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            match self.next().await {
                Some(Ok(Message::Binary(b))) => return Ok(Some(b.to_vec())),
                Some(Ok(Message::Close(frame))) => {
                    return Err(io::Error::other(format!("the console closed: {frame:?}")));
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(io::Error::other(e)),
                None => return Ok(None),
            }
        }
    }

    async fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        SinkExt::send(self, Message::Binary(bytes.to_vec().into())).await.map_err(io::Error::other)
    }
}

/// A serial line being read: what came after the last match is kept for the next one.
pub struct Serial<L> {
    line: L,
    buf: Vec<u8>,
    offset: u64,
}

impl<L: Line> Serial<L> {
    /// `offset`: where on the console's record the line starts (what a reconnect resumes
    /// from is that plus every byte read since).
    pub fn new(line: L, offset: u64) -> Self {
        Self { line, buf: Vec::new(), offset }
    }

    /// Where the next byte read sits on the console's record.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Reads until `needle`; returns everything up to and including it, keeps the rest.
    /// Panics after `within`, or when the line ends, quoting what was seen.
    pub async fn expect(&mut self, needle: &str, within: Duration) -> Vec<u8> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(pos) = self.buf.windows(needle.len()).position(|w| w == needle.as_bytes()) {
                let rest = self.buf.split_off(pos + needle.len());
                return std::mem::replace(&mut self.buf, rest);
            }
            let why = match tokio::time::timeout_at(deadline, self.line.recv()).await {
                Ok(Ok(Some(bytes))) => {
                    self.offset += bytes.len() as u64;
                    self.buf.extend_from_slice(&bytes);
                    continue;
                }
                Ok(Ok(None)) => "the line closed".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("{within:?} passed"),
            };
            let tail = &self.buf[self.buf.len().saturating_sub(QUOTE)..];
            panic!("{needle:?} never came ({why}); the serial line said: {}", String::from_utf8_lossy(tail));
        }
    }

    /// Types `line` and Enter.
    pub async fn send_line(&mut self, line: &str) {
        self.line.send(format!("{line}\n").as_bytes()).await.expect("the serial line takes input");
    }

    /// The line itself, for what this reader does not do (closing it, reading its close).
    pub fn line(&mut self) -> &mut L {
        &mut self.line
    }

    /// The line back, once what was awaited has come (what was read past it is dropped).
    pub fn into_line(self) -> L {
        self.line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn text_split_across_reads_is_found_and_the_rest_kept() {
        let (near, mut far) = tokio::io::duplex(64);
        let mut serial = Serial::new(Stream(near), 100);
        far.write_all(b"boot: rea").await.unwrap();
        let reader = tokio::spawn(async move {
            let first = serial.expect("ready", Duration::from_secs(5)).await;
            let second = serial.expect("$ ", Duration::from_secs(5)).await;
            (first, second, serial.offset())
        });
        far.write_all(b"dy\n$ ").await.unwrap();
        let (first, second, offset) = reader.await.unwrap();
        assert_eq!((first.as_slice(), second.as_slice(), offset), (&b"boot: ready"[..], &b"\n$ "[..], 114));
    }

    #[tokio::test]
    async fn a_line_that_ends_fails_quoting_what_it_said() {
        let (near, mut far) = tokio::io::duplex(64);
        far.write_all(b"kernel panic").await.unwrap();
        drop(far);
        let failed = tokio::spawn(async move {
            Serial::new(Stream(near), 0).expect("ready", Duration::from_secs(5)).await
        })
        .await
        .unwrap_err();
        let message = failed.into_panic().downcast::<String>().unwrap();
        assert!(message.contains("the line closed") && message.contains("kernel panic"), "{message}");
    }
}
