//! The console paths side by side: a busy guest screen read as RFB, a synthetic byte stream,
//! and the serial echo round trip, each straight from the source, through the backend's
//! websocket, through the backend over SSH, and (for the streams) through websockify.
//!
//! Setup: one qemu bridge with a running tiny guest; backend A reaches it through its socket,
//! backend B through a real sshd. The synthetic stream swaps the guest's `vnc.sock` for a
//! socket that sends `STREAM_BYTES`, so every path carries exactly the same bytes.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use corral::nodes::BridgeClient;
use corral_api::MachineId;
use corral_e2e::sshd::{SshdProc, ssh_user};
use corral_e2e::{Api, BackendProc, BridgeProc, tiny_image, wait_until};
use futures::{SinkExt, StreamExt};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

use super::Row;

const STREAM_BYTES: u64 = 64 << 20;
const SCREEN_SECS: u64 = 3;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A byte pipe the measurements run over: a socket, or a websocket of binary frames.
enum Conn {
    Raw(Box<dyn Raw>),
    Ws { ws: Box<Ws>, pending: Vec<u8> },
}

trait Raw: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Raw for T {}

impl Conn {
    async fn send(&mut self, bytes: &[u8]) {
        match self {
            Conn::Raw(s) => s.write_all(bytes).await.unwrap(),
            Conn::Ws { ws, .. } => ws.send(Message::Binary(bytes.to_vec().into())).await.unwrap(),
        }
    }

    /// Some bytes (an empty vector at the end of the stream).
    async fn recv(&mut self) -> Vec<u8> {
        match self {
            Conn::Raw(s) => {
                let mut buf = vec![0u8; 256 * 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                buf.truncate(n);
                buf
            }
            Conn::Ws { ws, pending } => {
                if !pending.is_empty() {
                    return std::mem::take(pending);
                }
                loop {
                    match ws.next().await {
                        Some(Ok(Message::Binary(b))) => return b.to_vec(),
                        Some(Ok(Message::Text(_) | Message::Ping(_) | Message::Pong(_))) => {}
                        _ => return Vec::new(),
                    }
                }
            }
        }
    }

    async fn recv_exact(&mut self, n: usize) -> Vec<u8> {
        if let Conn::Raw(s) = self {
            let mut out = vec![0u8; n];
            s.read_exact(&mut out).await.expect("the stream ended early");
            return out;
        }
        let mut out = Vec::with_capacity(n);
        while out.len() < n {
            let chunk = self.recv().await;
            assert!(!chunk.is_empty(), "the stream ended early");
            let want = n - out.len();
            if chunk.len() > want {
                out.extend_from_slice(&chunk[..want]);
                self.unread(chunk[want..].to_vec());
            } else {
                out.extend_from_slice(&chunk);
            }
        }
        out
    }

    fn unread(&mut self, bytes: Vec<u8>) {
        match self {
            Conn::Ws { pending, .. } => *pending = bytes,
            Conn::Raw(_) => unreachable!("raw streams are read exactly"),
        }
    }
}

async fn unix(path: &Path) -> Conn {
    Conn::Raw(Box::new(tokio::net::UnixStream::connect(path).await.unwrap()))
}

/// `binary`: ask for the `binary` subprotocol, as noVNC does (the serial socket has none).
async fn websocket(url: &str, cookie: Option<&str>, origin: Option<&str>, binary: bool) -> Conn {
    let ws = corral_testkit::socket::open(
        url,
        corral_testkit::socket::Opener { cookie, origin, binary, bearer: None },
    )
    .await
    .unwrap_or_else(|status| panic!("websocket {url} refused: {status}"));
    Conn::Ws { ws: Box::new(ws), pending: Vec::new() }
}

/// A backend's console websocket for the machine, through a fresh ticket.
async fn console(api: &Api, id: MachineId, kind: &str, query: &str) -> Conn {
    let r = api.send("POST", &format!("/api/v1/machines/{id}/console"), Some(json!({"kind": kind}))).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let url = format!(
        "{}{}?ticket={}{query}",
        api.base.replace("http://", "ws://"),
        r.body["path"].as_str().unwrap(),
        r.body["ticket"].as_str().unwrap()
    );
    let mut conn = websocket(&url, Some(&api.cookie), Some(&api.base), kind == "vnc").await;
    if kind == "serial"
        && let Conn::Ws { ws, .. } = &mut conn
    {
        // The hello (a text frame) comes first.
        let _ = ws.next().await;
    }
    conn
}

/// Reads a busy screen as an RFB client for `SCREEN_SECS`: bytes per second of updates.
/// RFB 3.8, no authentication, raw encoding, incremental updates as fast as they come.
async fn screen_rate(mut c: Conn) -> f64 {
    let version = c.recv_exact(12).await;
    assert!(version.starts_with(b"RFB 003."), "{version:?}");
    c.send(b"RFB 003.008\n").await;
    let n = c.recv_exact(1).await[0] as usize;
    let types = c.recv_exact(n).await;
    assert!(types.contains(&1), "no 'None' security type: {types:?}");
    c.send(&[1]).await;
    assert_eq!(c.recv_exact(4).await, [0, 0, 0, 0], "security result");
    c.send(&[1]).await; // ClientInit: shared
    let init = c.recv_exact(24).await;
    let (w, h) = (u16::from_be_bytes([init[0], init[1]]), u16::from_be_bytes([init[2], init[3]]));
    let bpp = init[4] as usize / 8;
    let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    c.recv_exact(name_len).await;
    c.send(&[2, 0, 0, 1, 0, 0, 0, 0]).await; // SetEncodings: raw
    let request = |incremental: u8| {
        let mut r = vec![3, incremental, 0, 0, 0, 0];
        r.extend_from_slice(&w.to_be_bytes());
        r.extend_from_slice(&h.to_be_bytes());
        r
    };
    c.send(&request(0)).await;
    let start = Instant::now();
    let mut bytes = 0u64;
    while start.elapsed() < Duration::from_secs(SCREEN_SECS) {
        let head = c.recv_exact(4).await;
        assert_eq!(head[0], 0, "a framebuffer update");
        let rects = u16::from_be_bytes([head[2], head[3]]);
        for _ in 0..rects {
            let r = c.recv_exact(12).await;
            let (rw, rh) =
                (u16::from_be_bytes([r[4], r[5]]) as usize, u16::from_be_bytes([r[6], r[7]]) as usize);
            let encoding = i32::from_be_bytes([r[8], r[9], r[10], r[11]]);
            if encoding == 0 {
                c.recv_exact(rw * rh * bpp).await;
                bytes += (rw * rh * bpp) as u64;
            }
        }
        c.send(&request(1)).await;
    }
    bytes as f64 / start.elapsed().as_secs_f64()
}

/// Time to read `STREAM_BYTES` from `c`.
async fn drain(mut c: Conn) -> Duration {
    let start = Instant::now();
    let mut got = 0u64;
    while got < STREAM_BYTES {
        let chunk = c.recv().await;
        assert!(!chunk.is_empty(), "the stream ended after {got} bytes");
        got += chunk.len() as u64;
    }
    start.elapsed()
}

/// One serial echo: a character typed, until the guest's echo of it comes back.
async fn echo(c: &mut Conn) -> Duration {
    let start = Instant::now();
    c.send(b"x").await;
    loop {
        let chunk = c.recv().await;
        assert!(!chunk.is_empty(), "the serial line ended");
        if chunk.contains(&b'x') {
            return start.elapsed();
        }
    }
}

async fn echoes(mut c: Conn, runs: usize) -> Vec<Duration> {
    let mut v = Vec::new();
    for _ in 0..runs {
        v.push(echo(&mut c).await);
    }
    c.send(b"\x03").await; // Ctrl-C: a clean prompt for the next path
    tokio::time::sleep(Duration::from_millis(200)).await;
    v
}

/// websockify in front of a unix socket; `None` when it is not installed.
struct Websockify {
    child: std::process::Child,
    port: u16,
}

impl Websockify {
    fn start(target: &Path) -> Option<Websockify> {
        let port = corral_e2e::sshd::free_port();
        let child = std::process::Command::new("websockify")
            .arg(format!("--unix-target={}", target.display()))
            .arg(format!("127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if start.elapsed() > Duration::from_secs(10) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Websockify { child, port })
    }

    async fn conn(&self) -> Conn {
        websocket(&format!("ws://127.0.0.1:{}/", self.port), None, None, true).await
    }
}

impl Drop for Websockify {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rate(bytes_per_sec: f64) -> Duration {
    // Rows compare durations: a rate becomes the time one MiB takes.
    Duration::from_secs_f64((1 << 20) as f64 / bytes_per_sec.max(1.0))
}

pub async fn rows(dir: &Path, runs: usize) -> Vec<Row> {
    let bridge = BridgeProc::start_with(dir, "con", &["--driver", "qemu", "--accel", "tcg"]);
    bridge.import_image("tiny.qcow2", &tiny_image()).await;
    let a = BackendProc::start(&dir.join("backend-a"), &[&bridge], None);
    let api_a = Api::login(&a.url, "admin", &a.admin_password).await;
    wait_until("the image", Duration::from_secs(10), || async {
        api_a.send("GET", "/api/v1/images", None).await.body.as_array().is_some_and(|v| !v.is_empty())
    })
    .await;
    let body =
        json!({"name": "bench-con", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "image": "tiny.qcow2"});
    let r = api_a.send("POST", "/api/v1/machines", Some(body)).await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    let id: MachineId = serde_json::from_value(r.body["id"].clone()).unwrap();
    assert_eq!(api_a.send("POST", &format!("/api/v1/machines/{id}/start"), None).await.status, 202);

    let b = BackendProc::start(&dir.join("backend-b"), &[], None);
    let api_b = Api::login(&b.url, "admin", &b.admin_password).await;
    let key: serde_json::Value = api_b.get("/api/v1/ssh-key").await;
    let sshd = SshdProc::start(&dir.join("con-sshd"), key["public_key"].as_str().unwrap());
    let r = api_b
        .send(
            "POST",
            "/api/v1/nodes",
            Some(json!({"name": "con", "host": "127.0.0.1", "port": sshd.port, "user": ssh_user(),
                "socket": bridge.socket.display().to_string(), "host_key": sshd.host_key_fingerprint()})),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", r.body);
    wait_until("the machine through SSH", Duration::from_secs(15), || async {
        api_b.machine(id).await.is_some()
    })
    .await;

    let direct: BridgeClient = bridge.client();
    let (_, mut s) = direct.serial_stream(id, 0).await.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&seen).contains("corral-tiny: ready") {
        let n = s.read(&mut buf).await.unwrap();
        seen.extend_from_slice(&buf[..n]);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let echo_runs = runs.max(30);
    let echo_direct = echoes(Conn::Raw(Box::new(s)), echo_runs).await;
    let echo_a = echoes(console(&api_a, id, "serial", "&offset=999999999").await, echo_runs).await;
    let echo_b =
        echoes(console(&api_b, id, "serial", "&offset=999999999&takeover=true").await, echo_runs).await;

    // A busy screen: the guest floods its text console.
    let (_, mut s) = direct.serial_stream(id, 999_999_999).await.unwrap();
    s.write_all(b"while true; do cat /proc/interrupts /proc/meminfo; done > /dev/tty1 &\n").await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let vm_dir: PathBuf = bridge.data_dir.join("machines").join(id.to_string());
    let vnc = vm_dir.join("vnc.sock");
    let screen_direct = screen_rate(unix(&vnc).await).await;
    let screen_a = screen_rate(console(&api_a, id, "vnc", "").await).await;
    let screen_b = screen_rate(console(&api_b, id, "vnc", "").await).await;
    let wsf = Websockify::start(&vnc);
    let screen_wsf = match &wsf {
        Some(w) => Some(screen_rate(w.conn().await).await),
        None => None,
    };
    drop(wsf);
    s.write_all(b"kill %1\n").await.unwrap();

    // The synthetic stream: the same bytes through every path.
    let qemu_vnc = vm_dir.join("vnc.sock.qemu");
    std::fs::rename(&vnc, &qemu_vnc).unwrap();
    super::serve_source(&vnc, STREAM_BYTES);
    let (mut s_direct, mut s_a, mut s_b, mut s_wsf) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let wsf = Websockify::start(&vnc);
    drain(unix(&vnc).await).await;
    for _ in 0..runs.min(3) {
        s_direct.push(drain(unix(&vnc).await).await);
        s_a.push(drain(console(&api_a, id, "vnc", "").await).await);
        s_b.push(drain(console(&api_b, id, "vnc", "").await).await);
        if let Some(w) = &wsf {
            s_wsf.push(drain(w.conn().await).await);
        }
    }
    drop(wsf);
    let _ = std::fs::remove_file(&vnc);
    std::fs::rename(&qemu_vnc, &vnc).unwrap();
    drop(sshd);

    let mut rows = vec![
        Row {
            what: "busy guest screen (RFB raw, 720×400 text console) through the backend",
            ours: vec![rate(screen_a)],
            base_name: "read from QEMU's VNC socket",
            base: vec![rate(screen_direct)],
            goal: "≥ 0.95× (ratio ≤ 1.05)",
            bytes: 1 << 20,
        },
        Row {
            what: "busy guest screen through the backend over SSH",
            ours: vec![rate(screen_b)],
            base_name: "read from QEMU's VNC socket",
            base: vec![rate(screen_direct)],
            goal: "≥ 0.9× (ratio ≤ 1.11)",
            bytes: 1 << 20,
        },
        Row {
            what: "64 MiB synthetic stream through the backend",
            ours: s_a.clone(),
            base_name: "read from the socket",
            base: s_direct.clone(),
            goal: "—",
            bytes: STREAM_BYTES,
        },
        Row {
            what: "64 MiB synthetic stream through the backend over SSH",
            ours: s_b,
            base_name: "read from the socket",
            base: s_direct,
            goal: "—",
            bytes: STREAM_BYTES,
        },
        Row {
            what: "serial echo round trip through the backend",
            ours: echo_a,
            base_name: "through the bridge's socket",
            base: echo_direct.clone(),
            goal: "≤ direct + 2 ms",
            bytes: 0,
        },
        Row {
            what: "serial echo round trip through the backend over SSH",
            ours: echo_b,
            base_name: "through the bridge's socket",
            base: echo_direct,
            goal: "—",
            bytes: 0,
        },
    ];
    if let Some(w) = screen_wsf {
        rows.push(Row {
            what: "busy guest screen through the backend",
            ours: vec![rate(screen_a)],
            base_name: "through websockify",
            base: vec![rate(w)],
            goal: "—",
            bytes: 1 << 20,
        });
    }
    if !s_wsf.is_empty() {
        rows.push(Row {
            what: "64 MiB synthetic stream through the backend",
            ours: s_a,
            base_name: "through websockify",
            base: s_wsf,
            goal: "≥ 4× (ratio ≤ 0.25)",
            bytes: STREAM_BYTES,
        });
    } else {
        println!("(websockify is not installed: `apt-get install websockify` adds its rows)");
    }
    rows
}
