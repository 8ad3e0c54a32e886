//! The qemu driver on real QEMU (TCG) with the tiny guest, one named test per capability so
//! that the first failure hides nothing else: images imported and checked, a guest's serial
//! line, forwarded port, screen and pause, snapshots of a running guest (and the staged
//! "busy" race), surviving `kill -9` of its bridge and the ACPI power button, a stopped
//! machine's disk, refused creates, what snapshots bring back of the guest's disk through the
//! bridge and through the console's API, ISO and boot order, bridged NICs, a full disk.
//!
//! Needs the tiny image: `scripts/test.sh` builds it and sets `CORRAL_TINY_IMAGE`.

use std::path::Path;
use std::time::Duration;

use corral::nodes::{BridgeClient, NodeError};
use corral_api::bridge::{
    BootDevice, BridgeImageImport, BridgeMachineCreate, BridgeMachineUpdate, BridgeSnapshotCreate,
};
use corral_api::machine::MachineState;
use corral_api::spec::PowerAction;
use corral_api::task::{StepState, TaskState};
use corral_api::{ErrorCode, MachineId};
use corral_e2e::guest::{BOOT, READY, disk_read, disk_write};
use corral_e2e::{BridgeProc, serve_file, tiny_image, tiny_machine, wait_for, wait_until};
use corral_testkit::serial::Stream;
use tokio::io::AsyncReadExt;

fn sha256_hex(bytes: &[u8]) -> String {
    let out = std::process::Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(bytes)?;
            c.wait_with_output()
        })
        .unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_string()
}

fn qemu_bridge(dir: &Path) -> BridgeProc {
    BridgeProc::start_with(dir, "q", &["--driver", "qemu", "--accel", "tcg", "--stop-timeout-secs", "20"])
}

/// Waits for the bridge to report the machine in state `want`.
async fn wait_state(c: &BridgeClient, id: MachineId, want: MachineState, within: Duration) {
    wait_for(&format!("machine {id} to be {want}"), within, || async {
        match c.machine_get(id).await {
            Ok(m) if m.state == want => Ok(()),
            Ok(m) => Err(format!("{}", m.state)),
            Err(e) => Err(format!("{e:?}")),
        }
    })
    .await;
}

/// The guest's serial console through the bridge, read with the shared reader.
type Serial = corral_testkit::serial::Serial<Stream<corral::nodes::client::ConsoleStream>>;

/// The serial line from `from` on (the console's record kept by the bridge).
async fn serial_open(c: &BridgeClient, id: MachineId, from: u64) -> Serial {
    let (offset, stream) = c.serial_stream(id, from).await.expect("serial stream");
    Serial::new(Stream(stream), offset)
}

/// Deletes a machine and waits for its task to end.
async fn delete(c: &BridgeClient, id: MachineId, force: bool) {
    let task = c.machine_delete(id, force).await.expect("delete accepted");
    let task = c.task_finish(task).await.expect("delete done");
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
}

/// Alive and not a zombie (a daemonized QEMU's parent may be slow to reap it).
fn qemu_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| s.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
}

/// A bridge with the tiny image and one machine made from it, booted to its shell. Fields
/// drop in this order: the bridge, which stops QEMU, goes before the directory holding its
/// pid file (so do not destructure it, which would drop the directory first).
struct Booted {
    bridge: BridgeProc,
    id: MachineId,
    serial: Serial,
    _dir: tempfile::TempDir,
}

impl Booted {
    async fn start(name: &str) -> Booted {
        let dir = tempfile::tempdir().unwrap();
        let bridge = qemu_bridge(dir.path());
        bridge.import_image("tiny.qcow2", &tiny_image()).await;
        let c = bridge.client();
        let id = c.machine_create(&tiny_machine(name)).await.expect("the machine made").id;
        assert_eq!(c.machine_power(id, PowerAction::Start).await.unwrap().state, MachineState::Running);
        let mut serial = serial_open(&c, id, 0).await;
        serial.expect(READY, BOOT).await;
        Booted { bridge, id, serial, _dir: dir }
    }

    /// Where the bridge keeps the machine's files.
    fn vm_dir(&self) -> std::path::PathBuf {
        self.bridge.data_dir.join("machines").join(self.id.to_string())
    }

    /// QEMU's pid, from the file the bridge keeps.
    fn qemu_pid(&self) -> u32 {
        std::fs::read_to_string(self.vm_dir().join("qemu.pid")).unwrap().trim().parse().unwrap()
    }
}

/// Sends `signal` (`STOP`, `CONT`, `9`) to a process.
fn signal(pid: u32, signal: &str) {
    let ok = std::process::Command::new("kill").arg(format!("-{signal}")).arg(pid.to_string()).status();
    assert!(ok.is_ok_and(|s| s.success()), "kill -{signal} {pid}");
}

/// The image comes over HTTP, checked against its sha256, as a task with steps; a wrong
/// checksum, a missing URL and a taken name fail clearly and leave nothing; an image in use
/// cannot be deleted, and a machine's disk is an overlay of it.
#[tokio::test(flavor = "multi_thread")]
async fn images_come_over_http_checked_and_a_failed_import_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = qemu_bridge(dir.path());
    let c = bridge.client();
    let v = c.version().await.unwrap();
    assert_eq!(v.driver, "qemu");
    assert_eq!(v.accelerator.as_ref().map(|a| a.name.as_str()), Some("tcg"));

    let url = serve_file(&tiny_image(), "tiny.qcow2").await;
    let want_sha = sha256_hex(&std::fs::read(tiny_image()).unwrap());
    let import = |name: &str, source: &str, sha: Option<&str>| BridgeImageImport {
        name: name.into(),
        source: source.into(),
        sha256: sha.map(String::from),
    };
    let task = c.image_import(&import("tiny.qcow2", &url, Some(&want_sha))).await.unwrap();
    assert_eq!(task.kind, "image_import");
    let task = c.task_wait(task.id, Duration::from_secs(30)).await.unwrap();
    assert_eq!((task.state, task.progress), (TaskState::Succeeded, 100), "{task:?}");
    assert!(task.steps.iter().all(|s| s.state == StepState::Done), "{task:?}");
    assert!(task.log.iter().any(|l| l.contains(&want_sha)), "{:?}", task.log);
    let image = c.image_list().await.unwrap().pop().unwrap();
    assert_eq!(
        (image.name.as_str(), image.format.as_str(), image.sha256.as_str()),
        ("tiny.qcow2", "qcow2", want_sha.as_str())
    );

    let bad_sha = "0".repeat(64);
    let t = c.image_import(&import("other.qcow2", &url, Some(&bad_sha))).await.unwrap();
    let t = c.task_wait(t.id, Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        (t.state, t.error.as_ref().and_then(|e| e.field.as_deref())),
        (TaskState::Failed, Some("sha256")),
        "{t:?}"
    );
    let missing = url.replace("tiny.qcow2", "nope.qcow2");
    let t = c.image_import(&import("other.qcow2", &missing, None)).await.unwrap();
    let t = c.task_wait(t.id, Duration::from_secs(30)).await.unwrap();
    assert!(
        t.error.as_ref().is_some_and(|e| e.message.contains("download failed") && e.message.contains("404")),
        "{t:?}"
    );
    let (taken, _, _) = code(c.image_import(&import("tiny.qcow2", &url, None)).await);
    assert_eq!(taken, ErrorCode::Conflict);
    assert_eq!(c.image_list().await.unwrap().len(), 1);
    let files: Vec<_> =
        std::fs::read_dir(bridge.data_dir.join("images")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(files.len(), 2, "the image and its metadata, no partial files: {files:?}");

    let m = c.machine_create(&tiny_machine("tiny")).await.unwrap();
    assert_eq!(m.state, MachineState::Stopped);
    let disk = std::fs::metadata(bridge.data_dir.join("machines").join(m.id.to_string()).join("disk.qcow2"));
    assert!(disk.unwrap().len() < 1 << 20, "an overlay, not a copy");
    match c.image_delete("tiny.qcow2").await {
        Err(NodeError::Api { body, .. }) => assert_eq!(body.code, ErrorCode::Conflict),
        other => panic!("an image in use was deleted: {other:?}"),
    }
    delete(&c, m.id, false).await;
    c.image_delete("tiny.qcow2").await.unwrap();
    assert!(c.image_list().await.unwrap().is_empty());
}

/// A guest's serial line takes commands; a second viewer from offset 0 gets the boot
/// replayed from the node's history and a reconnect from an offset replays nothing twice;
/// a web server in the guest answers on the forwarded port of the node's loopback, which no
/// second machine may take; the screen answers with an RFB greeting; pause halts the guest
/// and resume lets it answer again.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_talks_on_its_serial_line_serves_its_forwarded_port_and_pauses() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = qemu_bridge(dir.path());
    bridge.import_image("tiny.qcow2", &tiny_image()).await;
    let c = bridge.client();
    let id = MachineId::new_random();
    let web_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let forward =
        corral_api::bridge::PortForward { protocol: "tcp".into(), host_port: web_port, guest_port: 8000 };
    let req = BridgeMachineCreate { id, port_forwards: vec![forward], ..tiny_machine("tiny") };
    c.machine_create(&req).await.unwrap();
    let other = BridgeMachineCreate { id: MachineId::new_random(), name: "other".into(), ..req.clone() };
    let (taken, _, why) = code(c.machine_create(&other).await);
    assert_eq!(taken, ErrorCode::Conflict, "one host port, one guest: {why}");

    assert_eq!(c.machine_power(id, PowerAction::Start).await.unwrap().state, MachineState::Running);
    let mut serial = serial_open(&c, id, 0).await;
    serial.expect(READY, BOOT).await;
    serial.send_line("echo answer-$((6*7))").await;
    serial.expect("answer-42", Duration::from_secs(10)).await;

    serial
        .send_line(
            "mkdir -p /tmp/www && echo hi-from-guest > /tmp/www/index.html && httpd -p 8000 -h /tmp/www",
        )
        .await;
    let url = format!("http://127.0.0.1:{web_port}/index.html");
    wait_until("the guest's web server through the forward", Duration::from_secs(20), || async {
        match reqwest::get(&url).await {
            Ok(r) => r.text().await.is_ok_and(|t| t.contains("hi-from-guest")),
            Err(_) => false,
        }
    })
    .await;

    let mut late = serial_open(&c, id, 0).await;
    assert_eq!(late.offset(), 0);
    late.expect(READY, Duration::from_secs(5)).await;
    late.expect("answer-42", Duration::from_secs(5)).await;
    let resume_at = serial.offset();
    drop(serial);
    let mut serial = serial_open(&c, id, resume_at).await;
    assert_eq!(serial.offset(), resume_at);
    serial.send_line("echo again-$((6*7))").await;
    let after = serial.expect("again-42", Duration::from_secs(10)).await;
    assert!(!String::from_utf8_lossy(&after).contains("answer-42"), "no byte twice");

    let mut vnc = c.vnc_stream(id).await.unwrap();
    let mut greeting = [0u8; 12];
    vnc.read_exact(&mut greeting).await.unwrap();
    assert!(greeting.starts_with(b"RFB 003."), "{greeting:?}");
    drop(vnc);

    assert_eq!(c.machine_power(id, PowerAction::Pause).await.unwrap().state, MachineState::Paused);
    assert_eq!(c.machine_get(id).await.unwrap().state, MachineState::Paused);
    let (paused, _, _) = code(c.machine_power(id, PowerAction::Reboot).await);
    assert_eq!(paused, ErrorCode::Conflict, "a paused guest is resumed, not reset");
    serial.send_line("echo resumed-$((5*5))").await;
    let early = tokio::time::timeout(Duration::from_secs(2), serial.expect("resumed-25", BOOT)).await;
    assert!(early.is_err(), "a paused guest answered");
    assert_eq!(c.machine_power(id, PowerAction::Resume).await.unwrap().state, MachineState::Running);
    serial.expect("resumed-25", Duration::from_secs(10)).await;
    delete(&c, id, true).await;
}

/// Snapshots of a running guest: one with RAM rolled back brings back what the guest had in
/// memory (a file in its RAM-backed /tmp) and it runs on; a disk-only one hangs below it and
/// cannot be loaded into the running guest; bad names and unknown snapshots are refused; a
/// clone boots on its own; deleting a snapshot re-parents what hung below it.
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_of_a_running_guest_roll_back_clone_and_re_parent() {
    let mut guest = Booted::start("snappy").await;
    let (c, id, bridge) = (guest.bridge.client(), guest.id, &guest.bridge);
    let serial = &mut guest.serial;

    // The write must have run before the snapshot: a line still half-typed when the RAM is
    // saved comes back half-typed, and the next line joins it.
    serial.send_line("echo ORIG-$((1+1)) > /tmp/f; echo written-$((5*5))").await;
    serial.expect("written-25", Duration::from_secs(10)).await;
    let s1 = c.snapshot_create(id, &BridgeSnapshotCreate { name: "s1".into(), ram: true }).await.unwrap();
    assert!(s1.ram && s1.current && s1.parent.is_none() && s1.vm_state_bytes > 0, "{s1:?}");
    serial.send_line("echo CHANGED-$((2+2)) > /tmp/f; cat /tmp/f").await;
    serial.expect("CHANGED-4", Duration::from_secs(10)).await;
    let m = c.snapshot_rollback(id, "s1").await.unwrap();
    assert_eq!(m.state, MachineState::Running);
    serial.send_line("cat /tmp/f; echo done-$((3*3))").await;
    let out = String::from_utf8_lossy(&serial.expect("done-9", Duration::from_secs(10)).await).into_owned();
    assert!(out.contains("ORIG-2") && !out.contains("CHANGED-4"), "after rollback: {out}");

    let s2 = c.snapshot_create(id, &BridgeSnapshotCreate { name: "s2".into(), ram: false }).await.unwrap();
    assert_eq!((s2.parent.as_deref(), s2.ram), (Some("s1"), false));
    let s3 = c.snapshot_create(id, &BridgeSnapshotCreate { name: "s3".into(), ram: true }).await.unwrap();
    assert_eq!((s3.parent.as_deref(), s3.ram), (Some("s2"), true));
    let (c1, f1, _) =
        code(c.snapshot_create(id, &BridgeSnapshotCreate { name: "bad name".into(), ram: false }).await);
    assert_eq!((c1, f1.as_deref()), (ErrorCode::ValidationFailed, Some("name")));
    let (c2, _, _) = code(c.snapshot_rollback(id, "nope").await);
    assert_eq!(c2, ErrorCode::NotFound);
    let (c3, _, _) = code(c.snapshot_rollback(id, "s2").await);
    assert_eq!(c3, ErrorCode::Conflict, "a disk-only snapshot cannot be loaded into a running guest");

    let clone_id = MachineId::new_random();
    let clone = c
        .snapshot_clone(
            id,
            "s1",
            &corral_api::bridge::BridgeSnapshotClone { id: clone_id, name: "tiny-clone".into(), init: None },
        )
        .await
        .unwrap();
    assert_eq!((clone.state, clone.image.as_deref()), (MachineState::Stopped, Some("tiny.qcow2")));
    c.machine_power(clone_id, PowerAction::Start).await.unwrap();
    let mut clone_serial = serial_open(&c, clone_id, 0).await;
    clone_serial.expect(READY, BOOT).await;
    drop(clone_serial);
    delete(&c, clone_id, true).await;
    assert!(!bridge.data_dir.join("machines").join(clone_id.to_string()).exists());

    // s2 hung below s1, the root, and s3 below s2: once s1 goes, s2 is a root and s3 still
    // hangs below it.
    let names: Vec<_> = c.snapshot_list(id).await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["s1", "s2", "s3"]);
    c.snapshot_delete(id, "s1").await.unwrap();
    let snaps = c.snapshot_list(id).await.unwrap();
    let tree: Vec<_> = snaps.iter().map(|s| (s.name.as_str(), s.parent.as_deref())).collect();
    assert_eq!(tree, [("s2", None), ("s3", Some("s2"))]);
    delete(&c, id, true).await;
    c.image_delete("tiny.qcow2").await.expect("the image is free once its machine and clone are gone");
}

/// Two snapshot operations on one machine at once: the second is refused as busy, and the
/// first completes. The race is staged: QEMU is frozen (SIGSTOP) while both are asked, so
/// whichever takes the machine first cannot finish before the other arrives.
#[tokio::test(flavor = "multi_thread")]
async fn a_second_snapshot_while_one_runs_is_refused_as_busy() {
    let guest = Booted::start("busy").await;
    // The request left waiting spends the freeze and then a RAM snapshot under TCG: more
    // than the plain client's 5 s may pass.
    let (c, id) = (guest.bridge.client().patient(), guest.id);
    let qemu = guest.qemu_pid();
    signal(qemu, "STOP");
    let first = tokio::spawn({
        let c = c.clone();
        async move { c.snapshot_create(id, &BridgeSnapshotCreate { name: "one".into(), ram: true }).await }
    });
    let second = tokio::spawn({
        let c = c.clone();
        async move { c.snapshot_create(id, &BridgeSnapshotCreate { name: "two".into(), ram: true }).await }
    });
    // One of them answers at once, refused; the other waits for QEMU.
    let refused = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if first.is_finished() || second.is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(refused.is_ok(), "neither request answered while QEMU was frozen");
    let (done, waiting) = if first.is_finished() { (first, second) } else { (second, first) };
    let done = done.await.unwrap();
    assert!(
        matches!(&done, Err(NodeError::Api { body, .. }) if body.code == ErrorCode::Busy),
        "the one that answered while the other held the machine was refused as busy: {done:?}"
    );
    signal(qemu, "CONT");
    let taken = tokio::time::timeout(Duration::from_secs(120), waiting)
        .await
        .expect("the waiting snapshot ended once QEMU ran")
        .unwrap()
        .expect("the first snapshot completes once QEMU runs");
    assert!(taken.ram && taken.current, "{taken:?}");
    assert_eq!(c.snapshot_list(id).await.unwrap().len(), 1, "only one snapshot was taken");
    delete(&c, id, true).await;
}

/// kill -9 of the bridge: the guest runs on and the new bridge adopts it. The power button
/// stops it through ACPI; a QEMU that dies while the bridge is away is noticed when it
/// returns; force-stop is immediate.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_survives_its_bridge_and_stops_by_its_power_button() {
    let mut guest = Booted::start("tough").await;
    let (id, vm_dir, pid) = (guest.id, guest.vm_dir(), guest.qemu_pid());
    let bridge = &mut guest.bridge;
    bridge.kill9();
    assert!(qemu_alive(pid), "the guest died with its bridge");
    bridge.restart();
    let c = bridge.client();
    assert_eq!(c.machine_get(id).await.unwrap().state, MachineState::Running);
    assert!(qemu_alive(pid), "the guest is adopted, not restarted");
    let kept = std::fs::read_to_string(vm_dir.join("qemu.pid")).unwrap();
    assert_eq!(kept.trim(), pid.to_string(), "the new bridge follows the same QEMU");
    let mut serial = serial_open(&c, id, 0).await;
    serial.send_line("echo still-$((40+2))").await;
    serial.expect("still-42", Duration::from_secs(10)).await;

    // The guest itself powers off: its kernel says so on the serial line, well before the
    // bridge's timeout (20 s here) would force it, which would print nothing.
    let pressed = std::time::Instant::now();
    assert_eq!(c.machine_power(id, PowerAction::Stop).await.unwrap().state, MachineState::Stopping);
    serial.expect("reboot: Power down", Duration::from_secs(15)).await;
    drop(serial);
    wait_state(&c, id, MachineState::Stopped, Duration::from_secs(20)).await;
    assert!(pressed.elapsed() < Duration::from_secs(15), "stopped after {:?}: forced", pressed.elapsed());
    assert!(!qemu_alive(pid));
    assert!(!vm_dir.join("qemu.pid").exists(), "runtime files are cleaned");

    c.machine_power(id, PowerAction::Start).await.unwrap();
    let pid: u32 = std::fs::read_to_string(vm_dir.join("qemu.pid")).unwrap().trim().parse().unwrap();
    bridge.kill9();
    signal(pid, "9");
    wait_until("qemu to die", Duration::from_secs(5), || async { !qemu_alive(pid) }).await;
    bridge.restart();
    let c = bridge.client();
    assert_eq!(c.machine_get(id).await.unwrap().state, MachineState::Stopped);

    c.machine_power(id, PowerAction::Start).await.unwrap();
    c.machine_power(id, PowerAction::ForceStop).await.unwrap();
    wait_state(&c, id, MachineState::Stopped, Duration::from_secs(5)).await;
    // At once: `stopped` is reported only once it is on disk, so the delete's own write of
    // the spec cannot race the monitor's (a full run once answered 500 here when it could).
    delete(&c, id, false).await;
    assert!(!vm_dir.exists(), "the machine's directory is gone");
}

/// A stopped machine: disk snapshots through qemu-img, RAM state refused; a QEMU that cannot
/// start says why and leaves the machine stopped and clean; the disk grows and never
/// shrinks; delete removes every file.
#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_machine_snapshots_its_disk_grows_it_and_leaves_nothing_when_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = qemu_bridge(dir.path());
    bridge.import_image("tiny.qcow2", &tiny_image()).await;
    let c = bridge.client();
    let id = c.machine_create(&tiny_machine("still")).await.unwrap().id;
    let vm_dir = bridge.data_dir.join("machines").join(id.to_string());
    // A disk that has been booted and written, as a stopped machine's usually is.
    let mut serial = boot(&c, id).await;
    disk_write(&mut serial, "/mnt/f", "used").await;
    drop(serial);
    power_off(&c, id).await;

    c.snapshot_create(id, &BridgeSnapshotCreate { name: "cold".into(), ram: false }).await.unwrap();
    c.snapshot_rollback(id, "cold").await.unwrap();
    let (c4, f4, _) =
        code(c.snapshot_create(id, &BridgeSnapshotCreate { name: "warm".into(), ram: true }).await);
    assert_eq!((c4, f4.as_deref()), (ErrorCode::ValidationFailed, Some("ram")));
    assert!(c.snapshot_list(id).await.unwrap().iter().any(|s| s.name == "cold" && s.current));

    let good = std::fs::read(vm_dir.join("disk.qcow2")).unwrap();
    std::fs::write(vm_dir.join("disk.qcow2"), b"this is not a qcow2 image").unwrap();
    match c.machine_power(id, PowerAction::Start).await {
        Err(NodeError::Api { body, .. }) => {
            assert!(body.message.contains("QEMU did not start"), "{}", body.message);
            assert!(
                body.message.to_lowercase().contains("qcow2"),
                "the stderr tail is shown: {}",
                body.message
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.machine_get(id).await.unwrap().state, MachineState::Stopped);
    assert!(!vm_dir.join("qemu.pid").exists());
    std::fs::write(vm_dir.join("disk.qcow2"), good).unwrap();

    let grown = c.machine_update(id, &BridgeMachineUpdate { disk_gib: Some(2), ..Default::default() }).await;
    assert_eq!(grown.unwrap().disk_gib, 2);
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(vm_dir.join("disk.qcow2"))
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert_eq!(info["virtual-size"].as_u64(), Some(2 << 30));
    let (c5, _, _) =
        code(c.machine_update(id, &BridgeMachineUpdate { disk_gib: Some(1), ..Default::default() }).await);
    assert_eq!(c5, ErrorCode::ValidationFailed);

    delete(&c, id, false).await;
    assert!(!vm_dir.exists(), "nothing is left of the machine");
    assert!(c.machine_list().await.unwrap().is_empty());
    let machines: Vec<_> = std::fs::read_dir(bridge.data_dir.join("machines")).unwrap().collect();
    assert!(machines.is_empty(), "no machine directories: {machines:?}");
}

/// The error body of a refused request.
fn code<T: std::fmt::Debug>(r: Result<T, NodeError>) -> (ErrorCode, Option<String>, String) {
    match r {
        Err(NodeError::Api { body, .. }) => (body.code, body.field, body.message),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_creates_are_refused_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = qemu_bridge(dir.path());
    let c = bridge.client();
    let base = |image: Option<&str>, memory_mib: u64, disk_gib: u64| BridgeMachineCreate {
        memory_mib,
        disk_gib,
        image: image.map(String::from),
        ..tiny_machine("x")
    };
    let (c1, f1, _) = code(c.machine_create(&base(Some("nope.qcow2"), 128, 1)).await);
    assert_eq!((c1, f1.as_deref()), (ErrorCode::ValidationFailed, Some("image")));
    let (c2, _, m2) = code(c.machine_create(&base(None, 4 * 1024 * 1024, 1)).await);
    assert_eq!(c2, ErrorCode::InsufficientCapacity, "{m2}");
    let (c3, _, m3) = code(c.machine_create(&base(None, 128, 60_000)).await);
    assert_eq!(c3, ErrorCode::InsufficientCapacity, "{m3}");
    assert!(m3.contains("does not fit"), "{m3}");

    // A corrupt image is refused at import, and leaves no partial file.
    let junk = dir.path().join("junk.qcow2");
    std::fs::write(&junk, b"QFI\xfbnot really").unwrap();
    let t = bridge.import_image("junk.qcow2", &junk).await;
    assert_eq!(t.state, TaskState::Failed);
    assert_eq!(t.error.as_ref().map(|e| e.code), Some(ErrorCode::ValidationFailed), "{t:?}");
    let (c5, f5, _) = code(
        c.image_import(&BridgeImageImport {
            name: "x.qcow2".into(),
            source: "relative/path".into(),
            sha256: None,
        })
        .await,
    );
    assert_eq!((c5, f5.as_deref()), (ErrorCode::ValidationFailed, Some("source")));
    let leftovers: Vec<_> = std::fs::read_dir(bridge.data_dir.join("images")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert!(c.machine_list().await.unwrap().is_empty());
    let machines: Vec<_> = std::fs::read_dir(bridge.data_dir.join("machines")).unwrap().collect();
    assert!(machines.is_empty(), "no machine directories: {machines:?}");
}

/// The console's API over a qemu node: a machine from the image, snapshots taken, listed,
/// rolled back, cloned into a machine of the same tenant, deleted. What the guest wrote on
/// its disk is read back through the console's serial websocket after each operation.
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_through_the_console_api() {
    use corral_e2e::{Api, BackendProc};
    use serde_json::json;

    let dir = tempfile::tempdir().unwrap();
    let bridge = qemu_bridge(dir.path());
    let backend = BackendProc::start(&dir.path().join("backend"), &[&bridge], None);
    let api = Api::login(&backend.url, "admin", &backend.admin_password).await;
    wait_until("the node online", Duration::from_secs(10), || async {
        api.nodes().await.iter().any(|n| n.status == corral_api::node::NodeStatus::Online)
    })
    .await;

    // An admin imports the image through the console; the task is followed there.
    let node_id = api.nodes().await[0].id;
    let r = api
        .send(
            "POST",
            "/api/v1/images",
            Some(json!({"node_id": node_id, "name": "tiny.qcow2", "source": tiny_image()})),
        )
        .await;
    assert_eq!(r.status, 202, "{r:?}");
    let task_path = format!("/api/v1/tasks/{}", r.body["id"].as_str().unwrap());
    wait_until("the import task to succeed", Duration::from_secs(30), || async {
        api.send("GET", &task_path, None).await.body["state"] == "succeeded"
    })
    .await;
    let r = api.send("GET", "/api/v1/tasks", None).await;
    assert_eq!(r.body[0]["kind"], "image_import");
    assert_eq!(r.body[0]["node_name"], "q");

    let r = api
        .send("POST", "/api/v1/machines", Some(json!({"name": "snappy", "vcpus": 1, "memory_mib": 128, "disk_gib": 1, "image": "tiny.qcow2"})))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let id: MachineId = r.body["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(api.send("POST", &format!("/api/v1/machines/{id}/start"), None).await.status, 202);
    api.wait_state(id, MachineState::Running, BOOT).await;
    let mut serial = api.serial(id).await;
    serial.expect(READY, BOOT).await;
    disk_write(&mut serial, "/mnt/f", "before").await;

    // A snapshot with RAM, then a disk-only one of the running guest after more writes.
    let snaps = format!("/api/v1/machines/{id}/snapshots");
    let r = api.send("POST", &snaps, Some(json!({"name": "first", "ram": true}))).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!((r.body["ram"].as_bool(), r.body["current"].as_bool()), (Some(true), Some(true)));
    disk_write(&mut serial, "/mnt/f", "after").await;
    disk_write(&mut serial, "/mnt/g", "later").await;
    let r = api.send("POST", &snaps, Some(json!({"name": "second"}))).await;
    assert_eq!((r.status, r.body["ram"].as_bool()), (201, Some(false)), "{r:?}");
    assert_eq!(r.body["parent"], "first");
    let r = api.send("POST", &snaps, Some(json!({"name": "no good"}))).await;
    assert_eq!((r.status, r.body["field"].as_str()), (422, Some("name")));

    // The RAM rollback: the guest runs on from the snapshot, its disk as it was then.
    drop(serial);
    let r = api.send("POST", &format!("{snaps}/first/rollback"), None).await;
    assert_eq!((r.status, r.body["state"].as_str()), (200, Some("running")), "{r:?}");
    let mut serial = api.serial(id).await;
    assert_eq!(disk_read(&mut serial, "/mnt/f", 1).await, "before", "a RAM rollback restores the disk");
    assert_eq!(disk_read(&mut serial, "/mnt/g", 2).await, "missing", "and removes what came after");
    drop(serial);
    let r = api.send("GET", &snaps, None).await;
    let current: Vec<_> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(current, vec![json!("first")]);

    // A clone of the first snapshot boots with what was on the disk then.
    let r = api.send("POST", &format!("{snaps}/first/clone"), Some(json!({"name": "snappy-copy"}))).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!((r.body["state"].as_str(), r.body["image"].as_str()), (Some("stopped"), Some("tiny.qcow2")));
    assert_eq!(
        r.body["tenant_id"],
        api.machines().await.iter().find(|m| m.name == "snappy").map(|m| json!(m.tenant_id)).unwrap()
    );
    let copy_id: MachineId = r.body["id"].as_str().unwrap().parse().unwrap();
    let r = api.send("POST", &format!("{snaps}/first/clone"), Some(json!({"name": "snappy-copy"}))).await;
    assert_eq!((r.status, r.body["code"].as_str()), (409, Some("already_exists")));
    assert_eq!(api.send("POST", &format!("/api/v1/machines/{copy_id}/start"), None).await.status, 202);
    api.wait_state(copy_id, MachineState::Running, BOOT).await;
    let mut copy = api.serial(copy_id).await;
    copy.expect(READY, BOOT).await;
    assert_eq!(
        disk_read(&mut copy, "/mnt/f", 3).await,
        "before",
        "the clone has what came before its snapshot"
    );
    assert_eq!(disk_read(&mut copy, "/mnt/g", 4).await, "missing", "and nothing written after it");
    drop(copy);
    assert_eq!(api.send("POST", &format!("/api/v1/machines/{copy_id}/force-stop"), None).await.status, 202);
    api.wait_state(copy_id, MachineState::Stopped, Duration::from_secs(30)).await;

    // Deleting the clone removes it for good: it does not come back as an unmanaged machine.
    assert_eq!(api.send("DELETE", &format!("/api/v1/machines/{copy_id}"), None).await.status, 202);
    wait_until("the clone gone", Duration::from_secs(10), || async { api.machine(copy_id).await.is_none() })
        .await;
    api.wait_for_resync().await;
    assert!(api.machine(copy_id).await.is_none(), "no ghost row after the delete");
    assert!(api.machines().await.iter().all(|m| m.managed), "nothing unmanaged appeared");

    // A cold rollback to the disk-only snapshot: the next boot finds what was written
    // before it.
    assert_eq!(api.send("POST", &format!("/api/v1/machines/{id}/force-stop"), None).await.status, 202);
    api.wait_state(id, MachineState::Stopped, Duration::from_secs(30)).await;
    let r = api.send("POST", &format!("{snaps}/second/rollback"), None).await;
    assert_eq!((r.status, r.body["state"].as_str()), (200, Some("stopped")), "{r:?}");
    assert_eq!(api.send("POST", &format!("/api/v1/machines/{id}/start"), None).await.status, 202);
    api.wait_state(id, MachineState::Running, BOOT).await;
    let mut serial = api.serial(id).await;
    serial.expect(READY, BOOT).await;
    assert_eq!(disk_read(&mut serial, "/mnt/f", 5).await, "after", "a cold rollback restores the disk");
    assert_eq!(disk_read(&mut serial, "/mnt/g", 6).await, "later");
    drop(serial);

    assert_eq!(api.send("DELETE", &format!("{snaps}/second"), None).await.status, 204);
    assert_eq!(api.send("DELETE", &format!("{snaps}/second"), None).await.status, 404);
    let r = api.send("GET", &snaps, None).await;
    assert_eq!(r.body.as_array().unwrap().len(), 1);

    // Each snapshot operation ran as a task on the node, mirrored by the console.
    wait_until("the snapshot tasks in the console's list", Duration::from_secs(10), || async {
        let r = api.send("GET", "/api/v1/tasks", None).await;
        let kinds: Vec<String> =
            r.body.as_array().unwrap().iter().map(|t| t["kind"].as_str().unwrap_or("").to_string()).collect();
        ["image_import", "snapshot_create", "snapshot_rollback", "snapshot_clone", "snapshot_delete"]
            .iter()
            .all(|k| kinds.iter().any(|have| have == k))
    })
    .await;
}

/// A machine made from an ISO gets a blank disk and boots from the ISO first.
#[tokio::test(flavor = "multi_thread")]
async fn an_iso_machine_gets_a_blank_disk_and_boots_from_the_cd_first() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = qemu_bridge(dir.path());
    let c = bridge.client();
    let iso = dir.path().join("installer.iso");
    std::fs::write(&iso, vec![0u8; 1 << 20]).unwrap();
    let task = bridge.import_image("installer.iso", &iso).await;
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    assert_eq!(c.image_list().await.unwrap()[0].format, "iso");

    let id = MachineId::new_random();
    let req = BridgeMachineCreate {
        id,
        disk_gib: 4,
        image: Some("installer.iso".into()),
        ..tiny_machine("installer")
    };
    c.machine_create(&req).await.unwrap();
    let vm_dir = bridge.data_dir.join("machines").join(id.to_string());
    let info = std::process::Command::new("qemu-img")
        .args(["info", "--output=json"])
        .arg(vm_dir.join("disk.qcow2"))
        .output()
        .unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info.stdout).unwrap();
    assert!(info.get("backing-filename").is_none(), "a blank disk, not an overlay of the ISO: {info}");
    assert_eq!(info["virtual-size"].as_u64(), Some(4 << 30));

    c.machine_power(id, PowerAction::Start).await.unwrap();
    let pid = std::fs::read_to_string(vm_dir.join("qemu.pid")).unwrap().trim().to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("media=cdrom,readonly=on,format=raw,file="), "{cmdline}");
    assert!(cmdline.contains("installer.iso"), "{cmdline}");
    assert!(cmdline.contains("id=cdrom0,bus=ide.0,bootindex=0"), "the CD boots first: {cmdline}");
    let (used, _, _) = code(c.image_delete("installer.iso").await);
    assert_eq!(used, ErrorCode::Conflict, "an ISO in a drive is in use");

    // Ejected from the running guest (QMP), the ISO is free to go, and back in it cannot come.
    let eject = BridgeMachineUpdate { cdrom: Some(None), ..Default::default() };
    let m = c.machine_update(id, &eject).await.unwrap();
    assert_eq!((m.cdrom, m.state), (None, MachineState::Running));
    let insert = BridgeMachineUpdate { cdrom: Some(Some("installer.iso".into())), ..Default::default() };
    let m = c.machine_update(id, &insert).await.unwrap();
    assert_eq!(m.cdrom.as_deref(), Some("installer.iso"), "inserted while running");
    c.machine_update(id, &eject).await.unwrap();
    c.image_delete("installer.iso").await.unwrap();
    let (gone, _, _) = code(c.machine_update(id, &insert).await);
    assert_eq!(gone, ErrorCode::ValidationFailed);
    delete(&c, id, true).await;
}

/// A boot order that lists an unbootable CD before the disk falls through to the disk; the
/// tiny guest still comes up.
#[tokio::test(flavor = "multi_thread")]
async fn a_boot_order_tries_the_cd_then_boots_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = qemu_bridge(dir.path());
    let c = bridge.client();
    bridge.import_image("tiny.qcow2", &tiny_image()).await;
    let iso = dir.path().join("blank.iso");
    std::fs::write(&iso, vec![0u8; 1 << 20]).unwrap();
    bridge.import_image("blank.iso", &iso).await;
    let id = MachineId::new_random();
    let req = BridgeMachineCreate {
        id,
        boot_order: vec![BootDevice::Cdrom, BootDevice::Disk],
        cdrom: Some("blank.iso".into()),
        ..tiny_machine("ordered")
    };
    c.machine_create(&req).await.unwrap();
    c.machine_power(id, PowerAction::Start).await.unwrap();
    let pid = std::fs::read_to_string(bridge.data_dir.join(format!("machines/{id}/qemu.pid"))).unwrap();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", pid.trim())).unwrap();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    assert!(cmdline.contains("bus=ide.0,bootindex=0") && cmdline.contains("-boot strict=on"), "{cmdline}");
    let mut serial = serial_open(&c, id, 0).await;
    serial.expect(READY, BOOT).await;
    drop(serial);
    delete(&c, id, true).await;
}

/// A NIC on a host bridge: the guest is reached on its own address from the bridge's network
/// (a namespace the test made), with the MAC fixed by its id; its tap goes when it stops.
#[tokio::test(flavor = "multi_thread")]
async fn a_nic_on_a_host_bridge_is_reached_on_its_own_address() {
    // The tiny guest is 10.0.2.15.
    let ns = corral_e2e::netns::Netns::with_bridge("corbr0", "10.0.2.2/24");
    let dir = tempfile::tempdir().unwrap();
    let bridge = BridgeProc::start_in(
        dir.path(),
        "q",
        Some(&ns.name),
        &["--driver", "qemu", "--accel", "tcg", "--stop-timeout-secs", "20", "--host-bridges", "corbr0"],
    );
    let c = bridge.client();
    assert_eq!(c.version().await.unwrap().host_bridges, vec!["corbr0".to_string()]);
    bridge.import_image("tiny.qcow2", &tiny_image()).await;
    let id = MachineId::new_random();
    let req = BridgeMachineCreate { id, host_bridge: Some("corbr0".into()), ..tiny_machine("bridged") };
    c.machine_create(&req).await.unwrap();
    c.machine_power(id, PowerAction::Start).await.unwrap();
    let tap = corral_bridge::driver::qemu::net::tap_name(id);
    assert!(ns.ip(&["link", "show", &tap]).contains("master corbr0"), "the tap is on the bridge");

    let mut serial = serial_open(&c, id, 0).await;
    serial.expect(READY, BOOT).await;
    serial
        .send_line(
            "mkdir -p /tmp/www && echo hi-on-the-bridge > /tmp/www/index.html && httpd -p 8000 -h /tmp/www",
        )
        .await;
    let url = "http://10.0.2.15:8000/";
    let mut page = String::new();
    for _ in 0..60 {
        page = ns.exec("curl", &["-s", "--max-time", "2", url]).1;
        if page.contains("hi-on-the-bridge") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(page.contains("hi-on-the-bridge"), "the guest's page over the bridge: {page:?}");
    let mac = corral_bridge::driver::qemu::net::mac_address(id);
    assert!(ns.ip(&["neigh", "show", "10.0.2.15"]).contains(&mac), "the guest has its fixed MAC {mac}");

    c.machine_power(id, PowerAction::ForceStop).await.unwrap();
    wait_state(&c, id, MachineState::Stopped, Duration::from_secs(20)).await;
    wait_until("the tap to go", Duration::from_secs(10), || async {
        ns.ip(&["link", "show", &tap]).is_empty()
    })
    .await;
    drop(serial);
    delete(&c, id, false).await;
    drop(bridge);
}

/// Unmounts the small filesystem even when the test fails.
struct Mounted(std::path::PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// The node's storage fills up during a snapshot with RAM: the snapshot fails with a reason,
/// the tree is unchanged, the guest runs on, and once space is back snapshots work again.
#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_during_a_snapshot_leaves_the_machine_usable() {
    let dir = tempfile::tempdir().unwrap();
    let small = dir.path().join("small");
    std::fs::create_dir_all(&small).unwrap();
    // Just over 1 GiB, so a 1 GiB disk passes the free-space check; tmpfs costs only what
    // is written.
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1100m", "tmpfs"])
        .arg(&small)
        .status()
        .unwrap()
        .success();
    assert!(ok, "this test needs root to mount a small tmpfs as the node's storage");
    let _mounted = Mounted(small.clone());

    let bridge = qemu_bridge(&small);
    let c = bridge.client();
    assert_eq!(bridge.import_image("tiny.qcow2", &tiny_image()).await.state, TaskState::Succeeded);
    let id = MachineId::new_random();
    let req = BridgeMachineCreate { id, ..tiny_machine("full") };
    c.machine_create(&req).await.unwrap();
    c.machine_power(id, PowerAction::Start).await.unwrap();
    let mut serial = serial_open(&c, id, 0).await;
    serial.expect(READY, BOOT).await;

    // Fill the node's storage to the last few KiB.
    let filler = small.join("filler");
    {
        use std::io::Write;
        let mut f = std::fs::File::create(&filler).unwrap();
        let chunk = vec![0xa5u8; 1 << 20];
        while f.write_all(&chunk).is_ok() {}
        let small_chunk = vec![0xa5u8; 4096];
        while f.write_all(&small_chunk).is_ok() {}
    }

    match c.snapshot_create(id, &BridgeSnapshotCreate { name: "nospace".into(), ram: true }).await {
        Err(NodeError::Api { body, .. }) => {
            assert!(body.message.to_lowercase().contains("space"), "the reason is given: {}", body.message)
        }
        other => panic!("a snapshot on a full disk cannot succeed: {other:?}"),
    }
    assert!(c.snapshot_list(id).await.unwrap().is_empty(), "the tree is unchanged");
    assert_eq!(c.machine_get(id).await.unwrap().state, MachineState::Running);

    // Space back: the guest still answers, and snapshots work again.
    std::fs::remove_file(&filler).unwrap();
    serial.send_line("echo alive-$((8*8))").await;
    serial.expect("alive-64", Duration::from_secs(20)).await;
    let s = c.snapshot_create(id, &BridgeSnapshotCreate { name: "roomy".into(), ram: true }).await.unwrap();
    assert!(s.ram && s.current);
    drop(serial);
    delete(&c, id, true).await;
    drop(bridge);
}

/// Starts a stopped machine and waits for its shell; returns its serial line.
async fn boot(c: &BridgeClient, id: MachineId) -> Serial {
    c.machine_power(id, PowerAction::Start).await.unwrap();
    let mut serial = serial_open(c, id, 0).await;
    serial.expect(READY, BOOT).await;
    serial
}

/// Stops a machine through its power button and waits until it is off.
async fn power_off(c: &BridgeClient, id: MachineId) {
    c.machine_power(id, PowerAction::Stop).await.unwrap();
    wait_state(c, id, MachineState::Stopped, Duration::from_secs(30)).await;
}

/// What the guest wrote on its disk (/mnt, not RAM) is what each snapshot operation brings
/// back: a RAM rollback of the running guest, a disk-only snapshot rolled back cold, and a
/// clone, which has what was written before its snapshot and not what came after.
#[tokio::test(flavor = "multi_thread")]
async fn snapshots_bring_back_what_the_guest_wrote_on_its_disk() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = qemu_bridge(dir.path());
    bridge.import_image("tiny.qcow2", &tiny_image()).await;
    let c = bridge.client();
    let id = c.machine_create(&tiny_machine("disky")).await.unwrap().id;
    let mut serial = boot(&c, id).await;

    // With RAM, running: the disk comes back with the memory.
    disk_write(&mut serial, "/mnt/f", "before").await;
    c.snapshot_create(id, &BridgeSnapshotCreate { name: "warm".into(), ram: true }).await.unwrap();
    disk_write(&mut serial, "/mnt/f", "after").await;
    assert_eq!(disk_read(&mut serial, "/mnt/f", 1).await, "after");
    assert_eq!(c.snapshot_rollback(id, "warm").await.unwrap().state, MachineState::Running);
    assert_eq!(disk_read(&mut serial, "/mnt/f", 2).await, "before", "a RAM rollback restores the disk");

    // Disk only, stopped: one file before the snapshot, one after.
    disk_write(&mut serial, "/mnt/a", "kept").await;
    drop(serial);
    power_off(&c, id).await;
    c.snapshot_create(id, &BridgeSnapshotCreate { name: "cold".into(), ram: false }).await.unwrap();
    let mut serial = boot(&c, id).await;
    disk_write(&mut serial, "/mnt/b", "later").await;
    assert_eq!(disk_read(&mut serial, "/mnt/b", 3).await, "later");
    drop(serial);
    power_off(&c, id).await;

    // A clone of the snapshot has what was there then, and nothing written since.
    let clone = c
        .snapshot_clone(
            id,
            "cold",
            &corral_api::bridge::BridgeSnapshotClone {
                id: MachineId::new_random(),
                name: "copy".into(),
                init: None,
            },
        )
        .await
        .unwrap();
    let mut copy = boot(&c, clone.id).await;
    assert_eq!(
        disk_read(&mut copy, "/mnt/a", 4).await,
        "kept",
        "the clone has what came before its snapshot"
    );
    assert_eq!(disk_read(&mut copy, "/mnt/b", 5).await, "missing", "and nothing written after it");
    drop(copy);
    delete(&c, clone.id, true).await;

    // The cold rollback takes the disk back to the snapshot.
    c.snapshot_rollback(id, "cold").await.unwrap();
    let mut serial = boot(&c, id).await;
    assert_eq!(disk_read(&mut serial, "/mnt/a", 6).await, "kept");
    assert_eq!(
        disk_read(&mut serial, "/mnt/b", 7).await,
        "missing",
        "a cold rollback removes what came after"
    );
    drop(serial);
    delete(&c, id, true).await;
}

/// The bridge samples a real guest without an agent: the disk's written bytes grow by what
/// the guest writes and its CPU time while it spins; its vCPU thread and memory are there,
/// and with user-mode networking no network counters (never zeros).
#[tokio::test(flavor = "multi_thread")]
async fn a_guests_counters_move_when_it_writes_and_spins() {
    use corral_api::metrics::Metric;
    use corral_e2e::{sample_value, wait_for_sample};
    let mut g = Booted::start("counted").await;
    let c = g.bridge.client();
    let before = wait_for_sample(&c, g.id, Duration::from_secs(15), |_| true).await;
    let written = |s: &corral_api::metrics::MetricSample| {
        sample_value(s, Metric::DiskWriteBytes, Some("disk0")).expect("disk0 written bytes")
    };
    let cpu = |s: &corral_api::metrics::MetricSample| {
        sample_value(s, Metric::CpuSeconds, None).expect("CPU seconds")
    };
    assert!(sample_value(&before, Metric::CpuSeconds, Some("vcpu0")).is_some(), "{before:?}");
    assert!(sample_value(&before, Metric::MemoryBytes, None).is_some_and(|m| m > 1e6));
    assert!(
        before.points.iter().all(|p| p.metric != Metric::NetRxBytes),
        "user-mode networking has no counters"
    );

    // 8 MiB to the disk, then three seconds of spinning.
    g.serial
        .send_line("grep -q ' /mnt ' /proc/mounts && dd if=/dev/zero of=/mnt/big bs=1M count=8 2>/dev/null && sync && echo wrote-$((1+1))")
        .await;
    g.serial.expect("wrote-2", Duration::from_secs(60)).await;
    g.serial
        .send_line("end=$(($(date +%s)+3)); while [ $(date +%s) -lt $end ]; do :; done; echo spun-$((2+2))")
        .await;
    g.serial.expect("spun-4", Duration::from_secs(60)).await;
    // A sample taken after the spin ended: the newest one when it ends may be up to a
    // sampling period older and miss the last second of it.
    let spun_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let after = wait_for_sample(&c, g.id, Duration::from_secs(15), |a| {
        a.at_ms >= spun_ms && written(a) - written(&before) >= 8.0 * 1_048_576.0
    })
    .await;
    assert!(cpu(&after) - cpu(&before) >= 2.0, "CPU moved by {} s", cpu(&after) - cpu(&before));
}

/// The seed a VM is given is what cloud-init's NoCloud datasource looks for, as xorriso
/// itself reads it back: an ISO 9660 volume labelled `cidata` holding `meta-data`,
/// `user-data` (the user's, byte for byte), `vendor-data` and `network-config`.
#[tokio::test]
async fn a_seed_volume_is_labelled_cidata_and_holds_the_files() {
    use corral_api::guest::{GuestInit, UserDataText};
    let dir = tempfile::tempdir().unwrap();
    let user_data = "#cloud-config\nruncmd: [touch /made-by-user-data]\n";
    let init = GuestInit {
        instance_id: "0123-r3".into(),
        hostname: "web".into(),
        ssh_keys: vec![
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEDP++AB6YIP5+uvo3/GxR5jU8eMI4ChHm/l8zJPXNDq a@b".into(),
        ],
        user_data: Some(UserDataText(user_data.into())),
        network: None,
    };
    let exec = corral_bridge::host::RealExec;
    let seed =
        corral_bridge::guest::iso::write_seed(&exec, "xorriso", dir.path(), &init, "52:54:00:01:02:03")
            .await
            .unwrap();
    let xorriso = |args: &[&str]| {
        let out = std::process::Command::new("xorriso").args(args).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let seed_path = seed.display().to_string();
    let pvd = xorriso(&["-indev", &seed_path, "-pvd_info"]);
    assert!(pvd.lines().any(|l| l.starts_with("Volume Id") && l.trim_end().ends_with(": cidata")), "{pvd}");
    let out = dir.path().join("out");
    xorriso(&["-osirrox", "on", "-indev", &seed_path, "-extract", "/", &out.display().to_string()]);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["meta-data", "network-config", "user-data", "vendor-data"]);
    assert_eq!(std::fs::read_to_string(out.join("user-data")).unwrap(), user_data);
    let meta = std::fs::read_to_string(out.join("meta-data")).unwrap();
    assert!(
        meta.contains("\"instance-id\": \"0123-r3\"") && meta.contains("\"local-hostname\": \"web\""),
        "{meta}"
    );
    let net = std::fs::read_to_string(out.join("network-config")).unwrap();
    assert!(net.contains("52:54:00:01:02:03"), "{net}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&seed).unwrap().permissions().mode() & 0o777, 0o600, "root's alone");
}
