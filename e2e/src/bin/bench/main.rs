//! `corral-bench`: Corral's figures beside their baselines, measured in one run on this
//! machine. Not a test: it prints a table and asserts nothing.
//!
//!   cargo run -p corral-e2e --bin corral-bench [-- --runs N]
//!
//! Needs the binaries (`cargo build --workspace --bins`), QEMU and the tiny image (both from
//! `scripts/test.sh` or `scripts/up.sh`), OpenSSH's `sshd` for the SSH rows, and LXC with
//! the busybox zone image (root) for the zone rows.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use corral_api::bridge::{BridgeMachine, BridgeMachineCreate, BridgeSnapshotCreate};
use corral_api::machine::MachineState;
use corral_api::spec::PowerAction;
use corral_bridge::driver::qemu::launch::{Nic, VmPaths, qemu_args};
use corral_e2e::{BridgeProc, root};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

mod cloud;
mod console;
mod metrics;
mod ssh;
mod zones;

struct Row {
    what: &'static str,
    ours: Vec<Duration>,
    base_name: &'static str,
    base: Vec<Duration>,
    goal: &'static str,
    /// Bytes moved per run, for rows that measure throughput (0 otherwise).
    bytes: u64,
}

/// A unix socket that writes `bytes` to whoever connects, then closes: the synthetic stream
/// the transport and console rows carry.
fn serve_source(path: &Path, bytes: u64) {
    let listener = tokio::net::UnixListener::bind(path).unwrap();
    tokio::spawn(async move {
        let chunk = vec![0x5au8; 64 * 1024];
        while let Ok((mut s, _)) = listener.accept().await {
            let chunk = chunk.clone();
            tokio::spawn(async move {
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(chunk.len() as u64) as usize;
                    if s.write_all(&chunk[..n]).await.is_err() {
                        return;
                    }
                    left -= n as u64;
                }
                let _ = s.shutdown().await;
            });
        }
    });
}

/// A median, with the throughput it means when bytes were moved.
fn figure(d: Duration, bytes: u64) -> String {
    match bytes {
        0 => ms(d),
        b => format!("{} ({:.0} MB/s)", ms(d), b as f64 / 1e6 / d.as_secs_f64()),
    }
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

#[tokio::main]
async fn main() {
    let runs: usize =
        std::env::args().skip_while(|a| a != "--runs").nth(1).and_then(|n| n.parse().ok()).unwrap_or(7);
    // `--only metrics`: the metrics rows alone (they need no QEMU, LXC or sshd).
    let only: Option<String> = std::env::args().skip_while(|a| a != "--only").nth(1);
    if only.as_deref() == Some("metrics") {
        let dir = tempfile::tempdir().unwrap();
        print_figures(&metrics::rows(dir.path()).await);
        return;
    }
    // `--only cloud`: the Debian cloud guest's login rows alone (minutes under TCG).
    if only.as_deref() == Some("cloud") {
        let dir = tempfile::tempdir().unwrap();
        print_figures(&cloud::rows(dir.path()).await);
        return;
    }
    let image = std::env::var_os("CORRAL_TINY_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".corral/images/tiny.qcow2"));
    assert!(image.exists(), "{} is missing: run scripts/build-tiny-image.sh", image.display());

    let dir = tempfile::tempdir().unwrap();
    let bridge = BridgeProc::start_with(dir.path(), "b", &["--driver", "qemu", "--accel", "tcg"]);
    let c = bridge.client();
    let task = bridge.import_image("tiny.qcow2", &image).await;
    assert_eq!(task.state, corral_api::task::TaskState::Succeeded, "{task:?}");

    let mut create = Vec::new();
    let mut start = Vec::new();
    let mut machines: Vec<BridgeMachine> = Vec::new();
    for i in 0..runs {
        let req = BridgeMachineCreate { name: format!("bench-{i}"), ..corral_e2e::tiny_machine("") };
        let t = Instant::now();
        let m = c.machine_create(&req).await.unwrap();
        create.push(t.elapsed());
        assert_eq!(m.state, MachineState::Stopped);
        let t = Instant::now();
        let m = c.machine_power(req.id, PowerAction::Start).await.unwrap();
        start.push(t.elapsed());
        assert_eq!(m.state, MachineState::Running);
        c.machine_power(req.id, PowerAction::ForceStop).await.unwrap();
        machines.push(m);
    }

    // The same work by hand: qemu-img for the overlay, the same qemu command line, QMP ready.
    let bare_dir = dir.path().join("bare");
    let mut bare_create = Vec::new();
    let mut bare_start = Vec::new();
    for (i, m) in machines.iter().enumerate() {
        let vm = VmPaths::new(bare_dir.join(i.to_string()));
        std::fs::create_dir_all(&vm.dir).unwrap();
        let t = Instant::now();
        bare_overlay(&image, &vm);
        bare_create.push(t.elapsed());
        let t = Instant::now();
        let ok = std::process::Command::new("qemu-system-x86_64")
            .args(qemu_args(m, &vm, "tcg", None, None, Nic::User))
            .status()
            .unwrap()
            .success();
        assert!(ok, "bare qemu did not start");
        qmp_ready(&vm.qmp()).await;
        bare_start.push(t.elapsed());
        if let Some(pid) = vm.pid() {
            let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
        }
    }

    // Snapshot with RAM of a booted guest: through the bridge, then HMP savevm by hand on the
    // same guest image launched the same way. One guest at a time, so they do not compete.
    let snap_runs = runs;
    let m = &machines[0];
    c.machine_power(m.id, PowerAction::Start).await.unwrap();
    let (_, mut serial) = c.serial_stream(m.id, 0).await.unwrap();
    wait_for_text(&mut serial, "corral-tiny: ready").await;
    let mut snap = Vec::new();
    for i in 0..snap_runs {
        let req = BridgeSnapshotCreate { name: format!("b{i}"), ram: true };
        // Until the node says the task is done, as the console sees it.
        let t = Instant::now();
        let task = c.snapshot_create_task(m.id, &req).await.unwrap();
        c.task_finish(task).await.unwrap();
        snap.push(t.elapsed());
    }
    c.machine_power(m.id, PowerAction::ForceStop).await.unwrap();

    let vm = VmPaths::new(bare_dir.join("snap"));
    std::fs::create_dir_all(&vm.dir).unwrap();
    bare_overlay(&image, &vm);
    assert!(
        std::process::Command::new("qemu-system-x86_64")
            .args(qemu_args(m, &vm, "tcg", None, None, Nic::User))
            .status()
            .unwrap()
            .success()
    );
    let mut serial = tokio::net::UnixStream::connect(vm.serial()).await.unwrap();
    wait_for_text(&mut serial, "corral-tiny: ready").await;
    let (mut qmp_lines, mut qmp_w) = qmp_open(&vm.qmp()).await;
    let mut bare_snap = Vec::new();
    for i in 0..snap_runs {
        let cmd = format!(
            "{{\"execute\":\"human-monitor-command\",\"arguments\":{{\"command-line\":\"savevm b{i}\"}}}}\n"
        );
        let t = Instant::now();
        qmp_w.write_all(cmd.as_bytes()).await.unwrap();
        loop {
            let line = qmp_lines.next_line().await.unwrap().expect("QMP answer");
            if line.contains("\"return\"") {
                assert!(!line.to_lowercase().contains("error"), "{line}");
                break;
            }
        }
        bare_snap.push(t.elapsed());
    }
    if let Some(pid) = vm.pid() {
        let _ = std::process::Command::new("kill").arg(pid.to_string()).status();
    }

    let vm_start = start.clone();
    let rows = [
        Row {
            what: "create from image (overlay)",
            ours: create,
            base_name: "qemu-img create -b by hand",
            base: bare_create,
            goal: "—",
            bytes: 0,
        },
        Row {
            what: "start → running, QMP ready",
            ours: start,
            base_name: "same qemu by hand → QMP ready",
            base: bare_start,
            goal: "≤ 1.5×",
            bytes: 0,
        },
        Row {
            what: "snapshot with RAM, booted 128 MiB guest",
            ours: snap,
            base_name: "HMP savevm over bare QMP",
            base: bare_snap,
            goal: "≤ 1.1×",
            bytes: 0,
        },
    ];
    let rows: Vec<Row> = rows
        .into_iter()
        .chain(ssh::rows(dir.path(), runs).await)
        .chain(console::rows(dir.path(), runs).await)
        .chain(zones::rows(dir.path(), runs, &vm_start).await)
        .collect();
    println!("corral-bench: {runs} runs each, medians, TCG, tiny image ({})", image.display());
    println!();
    println!("| measure | corral | baseline | baseline figure | ratio | goal |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let (o, b) = (median(&r.ours), median(&r.base));
        println!(
            "| {} | {} | {} | {} | {:.2}× | {} |",
            r.what,
            figure(o, r.bytes),
            r.base_name,
            figure(b, r.bytes),
            o.as_secs_f64() / b.as_secs_f64(),
            r.goal
        );
    }
    println!();
    let figures: Vec<metrics::FigureRow> =
        metrics::rows(dir.path()).await.into_iter().chain(cloud::rows(dir.path()).await).collect();
    print_figures(&figures);
}

fn print_figures(rows: &[metrics::FigureRow]) {
    println!("| measure | corral | baseline | baseline figure | goal |");
    println!("|---|---|---|---|---|");
    for r in rows {
        println!("| {} | {} | {} | {} | {} |", r.what, r.ours, r.base_name, r.base, r.goal);
    }
}

/// The overlay disk a person would make by hand for the same machine.
fn bare_overlay(image: &Path, vm: &VmPaths) {
    let ok = std::process::Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
        .arg(image)
        .arg(vm.disk())
        .arg("1G")
        .status()
        .unwrap()
        .success();
    assert!(ok, "qemu-img create by hand failed");
}

/// Reads until `needle` has been seen (two minutes at most: a TCG boot on a busy machine).
async fn wait_for_text(
    stream: &mut (impl tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send),
    needle: &str,
) {
    let mut serial = corral_testkit::serial::Serial::new(corral_testkit::serial::Stream(stream), 0);
    serial.expect(needle, Duration::from_secs(120)).await;
}

type QmpLines = tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>;

/// Connects to a QMP socket, reads the greeting and completes negotiation.
async fn qmp_open(path: &Path) -> (QmpLines, tokio::net::unix::OwnedWriteHalf) {
    let stream = tokio::net::UnixStream::connect(path).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    lines.next_line().await.unwrap().expect("greeting");
    w.write_all(b"{\"execute\":\"qmp_capabilities\"}\n").await.unwrap();
    lines.next_line().await.unwrap().expect("capabilities answer");
    (lines, w)
}

/// Connects to a QMP socket as soon as it exists, reads the greeting and completes
/// negotiation.
async fn qmp_ready(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let stream = loop {
        match tokio::net::UnixStream::connect(path).await {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(2)).await,
            Err(e) => panic!("bare QMP: {e}"),
        }
    };
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    lines.next_line().await.unwrap().expect("greeting");
    w.write_all(b"{\"execute\":\"qmp_capabilities\"}\n").await.unwrap();
    lines.next_line().await.unwrap().expect("capabilities answer");
}
