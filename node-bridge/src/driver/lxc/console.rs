//! A running zone's console, served like a VM's serial line (a [`SerialHub`]: history with
//! absolute offsets, any number of viewers).
//!
//! Output comes from the zone's `console.log`, which LXC's monitor writes whether or not
//! anyone is attached, and which outlives the bridge: a restarted bridge replays it (up to
//! the last 256 KiB, `config::CONSOLE_LOG_BYTES`). Input goes through `lxc-console`, run on
//! a pseudo-terminal the bridge owns, whose output is only a wake-up: each time it says
//! something the log is read at once, so echo is immediate; between wake-ups the log is
//! read every quarter second. LXC starts the log over when it reaches its size: a file
//! shorter than what was read is read again from its start.
//!
//! `lxc-console` leaves on Ctrl-a q: viewers' Ctrl-a is sent doubled, which it passes on as
//! one. It is started again if it exits while the zone runs.

use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use corral_api::MachineId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc};

use crate::pty::Pty;
use crate::serial::SerialHub;
use corral_api::console::TermSize;

/// Rows and columns of the console's terminal (a shared console has one size).
const ROWS: u16 = 40;
const COLS: u16 = 120;
/// `lxc-console`'s escape prefix, Ctrl-a.
const ESCAPE: u8 = 0x01;

/// The console of one running zone; dropping it stops following the zone.
pub struct ZoneConsole {
    pub hub: Arc<SerialHub>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for ZoneConsole {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        self.hub.close();
    }
}

impl ZoneConsole {
    /// Follows the zone `id` of the LXC path `lxc_path`, whose console log is `log`.
    pub fn open(lxc_path: String, id: MachineId, log: PathBuf) -> ZoneConsole {
        let (hub, input) = SerialHub::new();
        let wake = Arc::new(Notify::new());
        let tail = tokio::spawn(tail_log(log, hub.clone(), wake.clone()));
        let typing = tokio::spawn(type_into(lxc_path, id, input, wake));
        ZoneConsole { hub, tasks: vec![tail, typing] }
    }
}

/// Reads the log from its start, then what is added, into the hub.
async fn tail_log(log: PathBuf, hub: Arc<SerialHub>, wake: Arc<Notify>) {
    let mut pos = 0u64;
    loop {
        let path = log.clone();
        let read = tokio::task::spawn_blocking(move || read_from(&path, pos)).await;
        match read {
            Ok(Ok((new_pos, bytes))) => {
                pos = new_pos;
                if !bytes.is_empty() {
                    hub.record(&bytes);
                }
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => {}
            Ok(Err(e)) => tracing::warn!(log = %log.display(), error = %e, "reading a zone's console log"),
            Err(_) => return,
        }
        // A wake-up comes just after LXC writes to the console; the log is written right
        // after that, so it is read again a moment later too.
        if tokio::time::timeout(Duration::from_millis(250), wake.notified()).await.is_ok() {
            tokio::time::sleep(Duration::from_millis(15)).await;
        }
    }
}

/// What the log holds from `pos` on, and the position after it; from the start if the log
/// was started over (it is shorter than `pos`).
fn read_from(path: &std::path::Path, pos: u64) -> std::io::Result<(u64, Vec<u8>)> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let from = if len < pos { 0 } else { pos };
    f.seek(SeekFrom::Start(from))?;
    let mut bytes = Vec::with_capacity((len - from) as usize);
    f.take(len - from).read_to_end(&mut bytes)?;
    Ok((from + bytes.len() as u64, bytes))
}

/// Runs `lxc-console` on a terminal of our own and passes viewers' input to it, for as long
/// as the console is followed.
async fn type_into(lxc_path: String, id: MachineId, mut input: mpsc::Receiver<Bytes>, wake: Arc<Notify>) {
    loop {
        let args: Vec<String> =
            vec!["-P".into(), lxc_path.clone(), "-n".into(), id.to_string(), "-t".into(), "0".into()];
        let attached = Pty::spawn("lxc-console", &args, TermSize { cols: COLS, rows: ROWS })
            .and_then(|(child, pty)| pty.split().map(|(r, w)| (child, pty, r, w)));
        match attached {
            Ok((mut child, _pty, mut reader, mut writer)) => {
                let woken = wake.clone();
                let waker = tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    while matches!(reader.read(&mut buf).await, Ok(n) if n > 0) {
                        woken.notify_one();
                    }
                });
                loop {
                    tokio::select! {
                        bytes = input.recv() => {
                            let Some(bytes) = bytes else { break };
                            if writer.write_all(&escape(&bytes)).await.is_err() || writer.flush().await.is_err() {
                                break;
                            }
                        }
                        _ = child.wait() => break,
                    }
                }
                waker.abort();
                let _ = child.kill().await;
            }
            Err(e) => tracing::warn!(zone = %id, error = %e, "attaching to the zone's console"),
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Doubles `lxc-console`'s escape byte, so that it passes it on rather than acting on it.
fn escape(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for &b in bytes {
        out.push(b);
        if b == ESCAPE {
            out.push(b);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_escape_byte_is_doubled_and_nothing_else_changes() {
        assert_eq!(escape(b"ls\r"), b"ls\r");
        assert_eq!(escape(b"\x01q"), b"\x01\x01q");
    }

    #[test]
    fn a_log_started_over_is_read_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("console.log");
        std::fs::write(&log, b"boot\n").unwrap();
        assert_eq!(read_from(&log, 0).unwrap(), (5, b"boot\n".to_vec()));
        std::fs::write(&log, b"boot\nlogin: ").unwrap();
        assert_eq!(read_from(&log, 5).unwrap(), (12, b"login: ".to_vec()));
        std::fs::write(&log, b"new").unwrap();
        assert_eq!(read_from(&log, 12).unwrap(), (3, b"new".to_vec()));
    }

    #[tokio::test]
    async fn output_in_the_log_reaches_viewers_in_order_with_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("console.log");
        std::fs::write(&log, b"early boot\n").unwrap();
        let (hub, _input) = SerialHub::new();
        let wake = Arc::new(Notify::new());
        let tail = tokio::spawn(tail_log(log.clone(), hub.clone(), wake.clone()));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while hub.end() < 11 {
            assert!(tokio::time::Instant::now() < deadline, "the log was not read");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let (replay, mut live) = hub.attach(0);
        assert_eq!((replay.offset, &replay.data[..]), (0, &b"early boot\n"[..]));
        std::fs::OpenOptions::new().append(true).open(&log).unwrap().write_all_sync(b"ready\n");
        wake.notify_one();
        let chunk = tokio::time::timeout(Duration::from_secs(5), live.recv()).await.unwrap().unwrap();
        assert_eq!((chunk.offset, &chunk.data[..]), (11, &b"ready\n"[..]));
        tail.abort();
    }

    trait WriteAllSync {
        fn write_all_sync(&mut self, bytes: &[u8]);
    }

    impl WriteAllSync for std::fs::File {
        fn write_all_sync(&mut self, bytes: &[u8]) {
            std::io::Write::write_all(self, bytes).unwrap();
        }
    }
}
