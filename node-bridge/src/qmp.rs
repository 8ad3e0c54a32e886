//! An async client of QEMU's machine protocol (QMP) over its unix socket.
//!
//! One reader task owns the socket's read half: answers go to the command that waits for
//! them (matched by `id`), events go to a broadcast channel. When QEMU exits the socket
//! closes, every waiting command fails with `QmpError::Closed`, and the event channel ends —
//! which is how the driver learns that a guest is gone.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::OwnedWriteHalf;
use tokio::sync::{Mutex, broadcast, oneshot};

#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    #[error("QMP connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("QMP connection closed (QEMU exited?)")]
    Closed,
    #[error("QMP {command} failed: {class}: {desc}")]
    Command { command: String, class: String, desc: String },
    #[error("QMP {0} got no answer in time")]
    Timeout(String),
    #[error("unexpected QMP message: {0}")]
    Protocol(String),
}

/// A QMP event, e.g. `SHUTDOWN`, `RESET`, `STOP`, `RESUME`, `JOB_STATUS_CHANGE`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct QmpEvent {
    pub event: String,
    #[serde(default)]
    pub data: Value,
}

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Result<Value, (String, String)>>>>>;

#[derive(Clone)]
pub struct Qmp {
    writer: Arc<Mutex<OwnedWriteHalf>>,
    pending: Pending,
    next_id: Arc<AtomicU64>,
    /// Only the reader task holds the sender, so receivers see the channel close with QEMU.
    events: Arc<broadcast::Receiver<QmpEvent>>,
    closed: Arc<AtomicBool>,
    timeout: Duration,
}

impl std::fmt::Debug for Qmp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Qmp").finish_non_exhaustive()
    }
}

impl Qmp {
    /// Connects, reads the greeting and leaves negotiation mode.
    pub async fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let stream = tokio::time::timeout(timeout, UnixStream::connect(path))
            .await
            .map_err(|_| QmpError::Timeout("connect".into()))??;
        let (read, write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let greeting = tokio::time::timeout(timeout, lines.next_line())
            .await
            .map_err(|_| QmpError::Timeout("greeting".into()))??
            .ok_or(QmpError::Closed)?;
        if !greeting.contains("\"QMP\"") {
            return Err(QmpError::Protocol(greeting));
        }
        let (events, events_rx) = broadcast::channel(256);
        let qmp = Qmp {
            writer: Arc::new(Mutex::new(write)),
            pending: Arc::default(),
            next_id: Arc::new(AtomicU64::new(1)),
            events: Arc::new(events_rx),
            closed: Arc::default(),
            timeout,
        };
        let (pending, closed) = (qmp.pending.clone(), qmp.closed.clone());
        tokio::spawn(async move {
            while let Ok(Some(line)) = lines.next_line().await {
                let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                    tracing::warn!(%line, "unreadable QMP line");
                    continue;
                };
                if msg.get("event").is_some() {
                    if let Ok(ev) = serde_json::from_value::<QmpEvent>(msg) {
                        let _ = events.send(ev);
                    }
                    continue;
                }
                let Some(id) = msg.get("id").and_then(Value::as_u64) else { continue };
                let waiter = pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                if let Some(waiter) = waiter {
                    let answer = match msg.get("error") {
                        Some(e) => Err((
                            e["class"].as_str().unwrap_or("GenericError").to_string(),
                            e["desc"].as_str().unwrap_or("").to_string(),
                        )),
                        None => Ok(msg.get("return").cloned().unwrap_or(Value::Null)),
                    };
                    let _ = waiter.send(answer);
                }
            }
            // Closed: waiters see their sender dropped; event receivers see the channel end.
            closed.store(true, Ordering::SeqCst);
            pending.lock().unwrap_or_else(|p| p.into_inner()).clear();
        });
        qmp.execute("qmp_capabilities", Value::Null).await?;
        Ok(qmp)
    }

    /// Runs a command and returns its `return` value.
    pub async fn execute(&self, command: &str, arguments: Value) -> Result<Value, QmpError> {
        self.execute_within(command, arguments, self.timeout).await
    }

    /// Like `execute`, with its own deadline, for commands that take long (saving RAM).
    pub async fn execute_within(
        &self,
        command: &str,
        arguments: Value,
        timeout: Duration,
    ) -> Result<Value, QmpError> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).insert(id, tx);
        if self.closed.load(Ordering::SeqCst) {
            self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
            return Err(QmpError::Closed);
        }
        let mut msg = json!({ "execute": command, "id": id });
        if !arguments.is_null() {
            msg["arguments"] = arguments;
        }
        let mut line = msg.to_string();
        line.push('\n');
        {
            let mut w = self.writer.lock().await;
            if let Err(e) = w.write_all(line.as_bytes()).await {
                self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                return Err(if e.kind() == std::io::ErrorKind::BrokenPipe {
                    QmpError::Closed
                } else {
                    e.into()
                });
            }
        }
        match tokio::time::timeout(timeout, rx).await {
            Err(_) => {
                self.pending.lock().unwrap_or_else(|p| p.into_inner()).remove(&id);
                Err(QmpError::Timeout(command.to_string()))
            }
            Ok(Err(_)) => Err(QmpError::Closed),
            Ok(Ok(Ok(v))) => Ok(v),
            Ok(Ok(Err((class, desc)))) => {
                Err(QmpError::Command { command: command.to_string(), class, desc })
            }
        }
    }

    pub fn events(&self) -> broadcast::Receiver<QmpEvent> {
        self.events.resubscribe()
    }

    /// Whether QEMU has hung up.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// `running`, `paused`, `shutdown`, … and whether the guest runs.
    pub async fn query_status(&self) -> Result<(String, bool), QmpError> {
        let v = self.execute("query-status", Value::Null).await?;
        Ok((v["status"].as_str().unwrap_or("").to_string(), v["running"].as_bool().unwrap_or(false)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UnixListener;

    /// A tiny QMP server: greets, answers `qmp_capabilities`, `query-status` and `boom` (an
    /// error), emits an event after `system_powerdown`, then hangs up on `quit`.
    async fn fake_qemu(listener: UnixListener) {
        let (stream, _) = listener.accept().await.unwrap();
        let (r, mut w) = stream.into_split();
        w.write_all(b"{\"QMP\": {\"version\": {}, \"capabilities\": []}}\n").await.unwrap();
        let mut lines = BufReader::new(r).lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            let msg: Value = serde_json::from_str(&line).unwrap();
            let id = msg["id"].clone();
            let reply = match msg["execute"].as_str().unwrap() {
                "query-status" => json!({"return": {"status": "running", "running": true}, "id": id}),
                "boom" => json!({"error": {"class": "GenericError", "desc": "it went boom"}, "id": id}),
                "system_powerdown" => {
                    let ev = json!({"event": "POWERDOWN", "data": {}, "timestamp": {}});
                    w.write_all(format!("{ev}\n").as_bytes()).await.unwrap();
                    json!({"return": {}, "id": id})
                }
                "quit" => return,
                _ => json!({"return": {}, "id": id}),
            };
            w.write_all(format!("{reply}\n").as_bytes()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn commands_errors_events_and_hangup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qmp.sock");
        let listener = UnixListener::bind(&path).unwrap();
        tokio::spawn(fake_qemu(listener));
        let qmp = Qmp::connect(&path, Duration::from_secs(2)).await.unwrap();
        assert_eq!(qmp.query_status().await.unwrap(), ("running".into(), true));
        match qmp.execute("boom", Value::Null).await {
            Err(QmpError::Command { desc, .. }) => assert_eq!(desc, "it went boom"),
            other => panic!("{other:?}"),
        }
        let mut events = qmp.events();
        qmp.execute("system_powerdown", Value::Null).await.unwrap();
        assert_eq!(events.recv().await.unwrap().event, "POWERDOWN");
        assert!(matches!(qmp.execute("quit", Value::Null).await, Err(QmpError::Closed)));
        assert!(matches!(events.recv().await, Err(broadcast::error::RecvError::Closed)));
        assert!(matches!(qmp.query_status().await, Err(QmpError::Closed)));
    }
}
