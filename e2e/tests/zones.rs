//! The lxc driver on real LXC (privileged, as root) with the busybox zone image, on a bridge
//! that runs VMs and zones at once: a zone made, booted and held by its limits (read in its
//! cgroup files and enforced: a memory hog is killed, two busy loops get one CPU; raised while
//! it runs), surviving `kill -9` of its bridge, stopped by its init, deleted without a trace;
//! a hostile image refused with nothing left.
//!
//! Needs LXC and the zone image: `scripts/test.sh` installs the one, builds the other and
//! sets `CORRAL_ZONE_IMAGE`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use corral::nodes::BridgeClient;
use corral_api::MachineId;
use corral_api::machine::MachineState;
use corral_api::spec::ZoneStorage;
use corral_api::spec::{MachineKind, PowerAction};
use corral_api::task::TaskState;
use corral_e2e::btrfs::BtrfsLoop;
use corral_e2e::{BridgeProc, busybox_zone, wait_for, wait_until, zone_image};
use corral_testkit::serial::Stream;

/// The zone's console through the bridge, read with the shared reader.
type Serial = corral_testkit::serial::Serial<Stream<corral::nodes::client::ConsoleStream>>;

async fn console(c: &BridgeClient, id: MachineId) -> Serial {
    let (offset, stream) = c.serial_stream(id, 0).await.expect("console stream");
    Serial::new(Stream(stream), offset)
}

/// Opens a shell on a 100×30 terminal, resizes it to 132×43, and reads both sizes and the
/// terminal type from inside; leaving the shell ends the stream.
async fn shell_sizes(c: &BridgeClient, id: MachineId) {
    use corral_api::console::{TermSize, shell_frame};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = c.shell_stream(id, TermSize { cols: 100, rows: 30 }).await.expect("a shell");
    let mut seen = Vec::new();
    async fn until(s: &mut corral::nodes::client::ConsoleStream, seen: &mut Vec<u8>, needle: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(seen).contains(needle) {
            let Ok(read) = tokio::time::timeout_at(deadline, s.read(&mut buf)).await else {
                panic!("no {needle:?} from the shell: {:?}", String::from_utf8_lossy(seen));
            };
            let n = read.unwrap();
            assert!(n > 0, "the shell ended before {needle:?}: {}", String::from_utf8_lossy(seen));
            seen.extend(&buf[..n]);
        }
    }
    // Typed once the shell has its prompt (input before that would reach lxc-attach, not it),
    // answering the cursor query the busybox shell makes as a terminal would.
    until(&mut s, &mut seen, "# \x1b[6n").await;
    s.write_all(&shell_frame::input(b"\x1b[1;1R")).await.unwrap();
    s.write_all(&shell_frame::input(b"stty size; echo term-$TERM\r")).await.unwrap();
    until(&mut s, &mut seen, "term-xterm-256color").await;
    assert!(String::from_utf8_lossy(&seen).contains("30 100"), "{}", String::from_utf8_lossy(&seen));
    s.write_all(&shell_frame::resize(TermSize { cols: 132, rows: 43 })).await.unwrap();
    s.write_all(&shell_frame::input(b"stty size\r")).await.unwrap();
    until(&mut s, &mut seen, "43 132").await;
    s.write_all(&shell_frame::input(b"exit\r")).await.unwrap();
    let mut rest = Vec::new();
    let ended = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the stream outlived its shell");
}

fn zone_bridge(dir: &Path) -> BridgeProc {
    BridgeProc::start_with(dir, "z", &["--driver", "qemu,lxc", "--accel", "tcg", "--stop-timeout-secs", "10"])
}

async fn wait_state(c: &BridgeClient, id: MachineId, want: MachineState, within: Duration) {
    wait_for(&format!("zone {id} to be {want}"), within, || async {
        match c.machine_get(id).await {
            Ok(m) if m.state == want => Ok(()),
            Ok(m) => Err(format!("{}", m.state)),
            Err(e) => Err(format!("{e:?}")),
        }
    })
    .await;
}

/// What LXC says of the zone: `RUNNING`, `STOPPED`, `FROZEN`.
fn lxc_state(zones: &Path, id: MachineId) -> String {
    let out =
        Command::new("lxc-info").arg("-P").arg(zones).args(["-n", &id.to_string(), "-s"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().last().unwrap_or("").to_string()
}

/// Runs `script` in the zone with `lxc-attach`; its exit code and output.
fn attach(zones: &Path, id: MachineId, script: &str) -> (i32, String) {
    let out = Command::new("lxc-attach")
        .arg("-P")
        .arg(zones)
        .args(["-n", &id.to_string(), "--", "/bin/sh", "-c", script])
        .output()
        .unwrap();
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn cgroup(controller: &str, id: MachineId) -> PathBuf {
    Path::new("/sys/fs/cgroup").join(controller).join(format!("lxc.payload.{id}"))
}

fn cgroup_value(controller: &str, id: MachineId, file: &str) -> u64 {
    let path = cgroup(controller, id).join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.trim().parse().unwrap_or_else(|e| panic!("{}: {text:?}: {e}", path.display()))
}

/// Every cgroup a zone could leave, in any controller.
fn leftover_cgroups(id: MachineId) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for c in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        for name in [format!("lxc.payload.{id}"), format!("lxc.monitor.{id}")] {
            let p = c.path().join(name);
            if p.exists() {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_zone_boots_under_limits_that_hold_outlives_its_bridge_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut bridge = zone_bridge(dir.path());
    let zones = bridge.data_dir.join("zones");
    let c = bridge.client();
    let v = c.version().await.unwrap();
    assert_eq!(
        (v.driver.as_str(), v.kinds.as_slice()),
        ("qemu+lxc", [MachineKind::Vm, MachineKind::Zone].as_slice())
    );
    let task = bridge.import_image("busybox.tar.gz", &zone_image()).await;
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    let image = c.image_list().await.unwrap().into_iter().find(|i| i.name == "busybox.tar.gz").unwrap();
    assert_eq!((image.kind, image.format.as_str()), (MachineKind::Zone, "tar"));

    let req = busybox_zone("web");
    let id = req.id;
    let m = c.machine_create(&req).await.expect("the zone made");
    assert_eq!((m.kind, m.state), (MachineKind::Zone, MachineState::Stopped));
    // The image's files are where the storage the node says it has puts them.
    let storage = m.zone.unwrap().storage;
    assert!(v.capabilities.contains(&format!("zone-storage-{}", storage.as_str())), "{:?}", v.capabilities);
    let files = if storage == ZoneStorage::Overlay { "base" } else { "rootfs" };
    assert!(zones.join(id.to_string()).join(files).join("bin/busybox").exists());

    let started = Instant::now();
    assert_eq!(c.machine_power(id, PowerAction::Start).await.unwrap().state, MachineState::Running);
    let log = zones.join(id.to_string()).join("console.log");
    wait_until("the zone's init to say it is ready", Duration::from_secs(10), || async {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("corral-zone: ready"))
    })
    .await;
    eprintln!("zone start to ready: {:?}", started.elapsed());
    assert_eq!(lxc_state(&zones, id), "RUNNING");
    let (code, out) = attach(&zones, id, "echo in-$((40+2)); hostname");
    assert_eq!((code, out.as_str()), (0, "in-42\nweb\n"));
    // Its console, as a VM's serial line: boot output replayed, a typed command answered.
    let mut serial = console(&c, id).await;
    serial.expect("corral-zone: ready", Duration::from_secs(5)).await;
    serial.send_line("echo typed-$((6*7))").await;
    serial.expect("typed-42", Duration::from_secs(5)).await;
    drop(serial);
    // A shell of its own, on a terminal of the size asked, which follows a resize.
    shell_sizes(&c, id).await;

    // The limits, as the kernel holds them.
    assert_eq!(cgroup_value("memory", id, "memory.limit_in_bytes"), 64 << 20);
    if cgroup("memory", id).join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(cgroup_value("memory", id, "memory.memsw.limit_in_bytes"), 64 << 20, "no swap beyond it");
    }
    assert_eq!(cgroup_value("cpu", id, "cpu.cfs_quota_us"), 100_000);
    assert_eq!(cgroup_value("cpu", id, "cpu.cfs_period_us"), 100_000);
    assert_eq!(cgroup_value("pids", id, "pids.max"), 4096);
    // Memory: a process that holds 200 MiB is killed; the zone lives on.
    let (code, _) = attach(&zones, id, "head -c 200m /dev/zero | tail > /dev/null");
    assert_ne!(code, 0, "the hog ran to its end");
    // The kernel's own count of OOM kills in the zone's cgroup (failcnt stays 0 when the
    // memory-and-swap limit, the same size, is the one hit).
    let control = std::fs::read_to_string(cgroup("memory", id).join("memory.oom_control")).unwrap();
    let kills = control.lines().find_map(|l| l.strip_prefix("oom_kill ")).and_then(|n| n.parse::<u64>().ok());
    assert!(kills.is_some_and(|n| n > 0), "the limit never killed anything: {control}");
    assert_eq!(lxc_state(&zones, id), "RUNNING");
    // CPU: two busy loops for 2 s get about one CPU's 2 s, not the two CPUs' 4 s they could.
    let before = cgroup_value("cpuacct", id, "cpuacct.usage");
    let (code, _) = attach(
        &zones,
        id,
        "timeout 2 sh -c 'while :; do :; done' & timeout 2 sh -c 'while :; do :; done'; wait",
    );
    let used = Duration::from_nanos(cgroup_value("cpuacct", id, "cpuacct.usage") - before);
    eprintln!("two busy loops for 2 s used {used:?} of CPU (exit {code})");
    assert!(used < Duration::from_millis(2600), "the CPU quota did not hold: {used:?} in 2 s");
    // The limits change while it runs: the kernel holds the new ones at once, no restart.
    let more = corral_api::bridge::BridgeMachineUpdate {
        vcpus: Some(2),
        memory_mib: Some(96),
        ..Default::default()
    };
    let m = c.machine_update(id, &more).await.unwrap();
    assert_eq!((m.vcpus, m.memory_mib, m.state), (2, 96, MachineState::Running));
    assert_eq!(cgroup_value("memory", id, "memory.limit_in_bytes"), 96 << 20);
    if cgroup("memory", id).join("memory.memsw.limit_in_bytes").exists() {
        assert_eq!(cgroup_value("memory", id, "memory.memsw.limit_in_bytes"), 96 << 20);
    }
    assert_eq!(cgroup_value("cpu", id, "cpu.cfs_quota_us"), 200_000);
    assert_eq!(attach(&zones, id, "echo unharmed").1, "unharmed\n");

    // The zone outlives its bridge and is taken back by the next one.
    bridge.kill9();
    assert_eq!(lxc_state(&zones, id), "RUNNING", "the zone died with its bridge");
    bridge.restart();
    let c = bridge.client();
    assert_eq!(c.machine_get(id).await.unwrap().state, MachineState::Running);
    assert_eq!(attach(&zones, id, "echo still").1, "still\n");
    // Its console history is still there, kept by LXC while no bridge was.
    let mut serial = console(&c, id).await;
    serial.expect("typed-42", Duration::from_secs(5)).await;
    serial.send_line("echo again-$((6*7))").await;
    serial.expect("again-42", Duration::from_secs(5)).await;
    drop(serial);

    // Pause freezes it; stop asks its init, which halts it well before the timeout.
    assert_eq!(c.machine_power(id, PowerAction::Pause).await.unwrap().state, MachineState::Paused);
    assert_eq!(lxc_state(&zones, id), "FROZEN");
    assert_eq!(c.machine_power(id, PowerAction::Resume).await.unwrap().state, MachineState::Running);
    let pressed = Instant::now();
    assert_eq!(c.machine_power(id, PowerAction::Stop).await.unwrap().state, MachineState::Stopping);
    wait_state(&c, id, MachineState::Stopped, Duration::from_secs(20)).await;
    assert!(
        pressed.elapsed() < Duration::from_secs(9),
        "stopped after {:?}: killed, not halted",
        pressed.elapsed()
    );
    assert_eq!(lxc_state(&zones, id), "STOPPED");
    assert!(leftover_cgroups(id).is_empty(), "{:?}", leftover_cgroups(id));

    // A zone whose init halts by itself is seen stopped.
    c.machine_power(id, PowerAction::Start).await.unwrap();
    attach(&zones, id, "poweroff");
    wait_state(&c, id, MachineState::Stopped, Duration::from_secs(15)).await;

    // Delete, running: nothing is left of it.
    c.machine_power(id, PowerAction::Start).await.unwrap();
    let task = c.machine_delete(id, true).await.unwrap();
    assert_eq!(c.task_finish(task).await.unwrap().state, TaskState::Succeeded);
    assert!(!zones.join(id.to_string()).exists(), "its directory is gone");
    assert_eq!(lxc_state(&zones, id), "");
    assert!(leftover_cgroups(id).is_empty(), "{:?}", leftover_cgroups(id));
    assert!(c.machine_list().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hostile_zone_image_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = zone_bridge(dir.path());
    // A real tarball (made by tar itself) with an entry that climbs out of the rootfs.
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("rootfs/etc")).unwrap();
    std::fs::write(src.join("metadata.yaml"), "architecture: x86_64\nproperties:\n  os: evil\n").unwrap();
    std::fs::write(src.join("rootfs/etc/hostname"), "evil\n").unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/shadow", src.join("rootfs/etc/shadow")).unwrap();
    let evil = dir.path().join("evil.tar.gz");
    let ok = Command::new("tar")
        .arg("-C")
        .arg(&src)
        .arg("-czf")
        .arg(&evil)
        .args(["metadata.yaml", "rootfs"])
        .status();
    assert!(ok.unwrap().success());

    let task = bridge.import_image("evil.tar.gz", &evil).await;
    assert_eq!(task.state, TaskState::Failed, "{task:?}");
    let error = task.error.unwrap();
    assert_eq!(error.code, corral_api::ErrorCode::ValidationFailed);
    assert!(error.message.contains("etc/shadow"), "{}", error.message);
    let images = bridge.data_dir.join("images");
    let left: Vec<_> = std::fs::read_dir(&images).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "{left:?}");
    assert!(bridge.client().image_list().await.unwrap().is_empty());
}

/// On plain directories a snapshot is a whole copy of the zone's files; rolling back to it
/// brings them back (a file written after the snapshot is gone, one deleted before it stays
/// deleted) and restarts a running zone on them; a clone is a new zone that starts with the
/// snapshot's files.
#[tokio::test(flavor = "multi_thread")]
async fn zone_snapshots_on_directories_roll_files_back_and_clone_them() {
    let dir = tempfile::tempdir().unwrap();
    let bridge = zone_bridge_on(dir.path(), "dir");
    let (id, copy) = snapshot_journey(&bridge).await;
    let zones = bridge.data_dir.join("zones");
    for zone in [id, copy] {
        assert_eq!(bridge.client().machine_get(zone).await.unwrap().zone.unwrap().storage, ZoneStorage::Dir);
        assert!(!BtrfsLoop::is_subvolume(&zones.join(zone.to_string()).join("rootfs")));
    }
    assert!(zones.join(id.to_string()).join("snapshots/s1/rootfs/bin/busybox").is_file(), "a whole copy");
}

/// On overlayfs the same scenario passes, and a snapshot holds only what the zone changed:
/// its file, and the whiteout that keeps a deleted image file deleted; the clone's image
/// files are the source's, hard linked.
#[tokio::test(flavor = "multi_thread")]
async fn zone_snapshots_on_overlayfs_copy_only_the_changes() {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let dir = tempfile::tempdir().unwrap();
    let bridge = zone_bridge_on(dir.path(), "overlay");
    let caps = bridge.client().version().await.unwrap().capabilities;
    assert!(caps.contains(&"zone-storage-overlay".to_string()), "{caps:?}");
    let (id, copy) = snapshot_journey(&bridge).await;
    let zones = bridge.data_dir.join("zones");
    for zone in [id, copy] {
        let storage = bridge.client().machine_get(zone).await.unwrap().zone.unwrap().storage;
        assert_eq!(storage, ZoneStorage::Overlay);
    }
    let s1 = zones.join(id.to_string()).join("snapshots/s1/rootfs");
    assert_eq!(std::fs::read_to_string(s1.join("root/f")).unwrap(), "before\n");
    assert!(!s1.join("bin").exists(), "the image's files are not copied");
    let whiteout = std::fs::symlink_metadata(s1.join("etc/profile")).unwrap();
    assert!(whiteout.file_type().is_char_device() && whiteout.rdev() == 0, "{whiteout:?}");
    let inode =
        |z: MachineId| std::fs::metadata(zones.join(z.to_string()).join("base/bin/busybox")).unwrap().ino();
    assert_eq!(inode(id), inode(copy), "the clone links its source's image files");
}

fn zone_bridge_on(dir: &Path, storage: &str) -> BridgeProc {
    BridgeProc::start_with(
        dir,
        "z",
        &["--driver", "lxc", "--zone-storage", storage, "--stop-timeout-secs", "10"],
    )
}

/// The snapshot scenario both storages must pass; the zone and its clone.
async fn snapshot_journey(bridge: &BridgeProc) -> (MachineId, MachineId) {
    use corral_api::bridge::{BridgeSnapshotClone, BridgeSnapshotCreate};
    let zones = bridge.data_dir.join("zones");
    let c = bridge.client();
    bridge.import_image("busybox.tar.gz", &zone_image()).await;
    let id = c.machine_create(&busybox_zone("snappy")).await.unwrap().id;
    c.machine_power(id, PowerAction::Start).await.unwrap();
    assert_eq!(attach(&zones, id, "echo before > /root/f; rm /etc/profile; sync").0, 0);

    let snap = |name: &str| BridgeSnapshotCreate { name: name.into(), ram: false };
    let s1 = c.snapshot_create(id, &snap("s1")).await.unwrap();
    assert!(!s1.ram && s1.current);
    assert_eq!(lxc_state(&zones, id), "RUNNING", "thawed after the copy");
    match c.snapshot_create(id, &BridgeSnapshotCreate { name: "s2".into(), ram: true }).await {
        Err(corral::nodes::NodeError::Api { body, .. }) => assert_eq!(body.field.as_deref(), Some("ram")),
        other => panic!("a RAM snapshot of a zone: {other:?}"),
    }

    assert_eq!(attach(&zones, id, "echo after > /root/f; echo new > /root/g; echo back > /etc/profile").0, 0);
    let m = c.snapshot_rollback(id, "s1").await.unwrap();
    assert_eq!(m.state, MachineState::Running, "a running zone runs again on the snapshot's files");
    let files = "cat /root/f; ls /root; test -e /etc/profile || echo no-profile";
    assert_eq!(attach(&zones, id, files).1, "before\nf\nno-profile\n");

    let copy = MachineId::new_random();
    let cloned = c
        .snapshot_clone(id, "s1", &BridgeSnapshotClone { id: copy, name: "copy".into(), init: None })
        .await
        .unwrap();
    assert_eq!((cloned.kind, cloned.state), (MachineKind::Zone, MachineState::Stopped));
    c.machine_power(copy, PowerAction::Start).await.unwrap();
    let files = "cat /root/f; hostname; test -e /etc/profile || echo no-profile";
    assert_eq!(attach(&zones, copy, files).1, "before\ncopy\nno-profile\n");

    // Stopped: a snapshot without freezing; deleting it removes its files.
    c.machine_power(id, PowerAction::ForceStop).await.unwrap();
    c.snapshot_create(id, &snap("cold")).await.unwrap();
    c.snapshot_delete(id, "cold").await.unwrap();
    assert!(!zones.join(id.to_string()).join("snapshots/cold").exists());
    let names: Vec<_> = c.snapshot_list(id).await.unwrap().into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["s1"]);
    (id, copy)
}

/// On a node whose zones directory is btrfs (as `up.sh` makes it): root filesystems,
/// snapshots and clones are subvolumes, each held to the zone's disk size, so a zone cannot
/// write past it; the snapshot scenario passes as on directories; deleting a zone leaves no
/// subvolume.
#[tokio::test(flavor = "multi_thread")]
async fn zones_on_btrfs_are_held_to_their_disk_size_and_snapshot_as_subvolumes() {
    let dir = tempfile::tempdir().unwrap();
    let fs = BtrfsLoop::mount_at(&dir.path().join("zones.btrfs"), &dir.path().join("z/zones"), "4G");
    let bridge = zone_bridge(dir.path());
    let zones = bridge.data_dir.join("zones");
    let c = bridge.client();
    let caps = c.version().await.unwrap().capabilities;
    assert!(caps.contains(&"zone-storage-btrfs".to_string()), "{caps:?}");

    let (id, copy) = snapshot_journey(&bridge).await;
    let root = |z: MachineId| zones.join(z.to_string()).join("rootfs");
    for zone in [id, copy] {
        assert_eq!(c.machine_get(zone).await.unwrap().zone.unwrap().storage, ZoneStorage::Btrfs);
        assert!(BtrfsLoop::is_subvolume(&root(zone)), "{zone}'s root is a subvolume");
        assert_eq!(BtrfsLoop::limit_of(&root(zone)).as_deref(), Some("1.00GiB"), "held to its 1 GiB disk");
    }
    assert!(BtrfsLoop::is_subvolume(&zones.join(id.to_string()).join("snapshots/s1/rootfs")));

    // The clone runs (the scenario started it): past its 1 GiB, a write fails in the zone.
    let (_, out) = attach(&zones, copy, "dd if=/dev/zero of=/fill bs=1M count=1200 2>&1; echo dd=$?");
    assert!(out.contains("Disk quota exceeded") && out.contains("dd=1"), "{out}");
    let filled = std::fs::metadata(root(copy).join("fill")).unwrap().len();
    assert!(filled <= 1 << 30, "the zone wrote {filled} bytes on a 1 GiB disk");

    for zone in [id, copy] {
        let task = c.machine_delete(zone, true).await.unwrap();
        assert_eq!(c.task_finish(task).await.unwrap().state, TaskState::Succeeded);
    }
    let left = fs.subvolumes();
    assert!(!left.contains(&id.to_string()) && !left.contains(&copy.to_string()), "{left}");
    drop(bridge);
}

/// A port of the node's loopback forwarded to a zone's: a web server in the zone answers on
/// it, through a restart of the bridge too; the port closes when the zone stops.
#[tokio::test(flavor = "multi_thread")]
async fn a_zone_port_forward_reaches_its_server_and_closes_with_it() {
    use corral_api::spec::PortForward;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let mut bridge = zone_bridge(dir.path());
    let zones = bridge.data_dir.join("zones");
    bridge.import_image("busybox.tar.gz", &zone_image()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let forward = PortForward { protocol: "tcp".into(), host_port: port, guest_port: 8080 };
    let req = corral_api::bridge::BridgeMachineCreate {
        port_forwards: vec![forward.clone()],
        ..busybox_zone("web")
    };
    let c = bridge.client();
    let id = c.machine_create(&req).await.unwrap().id;
    // UDP is QEMU's to forward, not a zone's; and the port is this zone's now.
    for (bad, why) in [
        (vec![PortForward { protocol: "udp".into(), ..forward.clone() }], "udp"),
        (vec![forward.clone()], "taken"),
    ] {
        let other = corral_api::bridge::BridgeMachineCreate { port_forwards: bad, ..busybox_zone("other") };
        assert!(c.machine_create(&other).await.is_err(), "{why}");
    }
    c.machine_power(id, PowerAction::Start).await.unwrap();
    let script = "mkdir -p /www && echo zone-page > /www/index.html && httpd -p 127.0.0.1:8080 -h /www";
    assert_eq!(attach(&zones, id, script).0, 0);
    let get = || async move {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n").await.ok()?;
        let mut body = String::new();
        tokio::time::timeout(Duration::from_secs(5), s.read_to_string(&mut body)).await.ok()?.ok()?;
        Some(body)
    };
    let page = get().await.expect("the forwarded port answers");
    assert!(page.contains("zone-page"), "{page}");

    bridge.kill9();
    bridge.restart();
    let page = get().await.expect("the forward is served again by the next bridge");
    assert!(page.contains("zone-page"), "{page}");

    let c = bridge.client();
    c.machine_power(id, PowerAction::ForceStop).await.unwrap();
    // The listener's task is cancelled with the zone's stop and ends at its next turn.
    wait_until("the forwarded port to close with its zone", Duration::from_secs(5), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err()
    })
    .await;
}

/// A zone on a host bridge inside a namespace the test made, while the bridge itself runs in
/// the node's own (so LXC still applies the zone's cgroup limits): its veth is moved onto the
/// bridge by the hook, carries the MAC fixed by its id, and the zone is reached on the
/// address it gave itself; the veth goes when the zone stops.
#[tokio::test(flavor = "multi_thread")]
async fn a_zone_on_a_host_bridge_is_reached_on_its_own_address() {
    let ns = corral_e2e::netns::Netns::with_bridge("corbrz", "10.0.3.1/24");
    let dir = tempfile::tempdir().unwrap();
    let bridge = BridgeProc::start_with(
        dir.path(),
        "z",
        &[
            "--driver",
            "lxc",
            "--stop-timeout-secs",
            "10",
            "--host-bridges",
            "corbrz",
            "--host-bridge-netns",
            &ns.name,
        ],
    );
    let zones = bridge.data_dir.join("zones");
    bridge.import_image("busybox.tar.gz", &zone_image()).await;
    let c = bridge.client();
    let req = corral_api::bridge::BridgeMachineCreate {
        host_bridge: Some("corbrz".into()),
        ..busybox_zone("bridged")
    };
    let id = c.machine_create(&req).await.unwrap().id;
    c.machine_power(id, PowerAction::Start).await.unwrap();
    let veth = corral_bridge::driver::lxc::config::veth_name(id);
    assert!(ns.ip(&["link", "show", &veth]).contains("master corbrz"), "the veth is on the bridge");
    assert_eq!(cgroup_value("memory", id, "memory.limit_in_bytes"), 64 << 20, "limits still hold");

    let mac = corral_bridge::driver::lxc::config::mac_address(id);
    let (code, link) = attach(&zones, id, "ip link show eth0");
    assert_eq!(code, 0, "{link}");
    assert!(link.contains(&mac), "the zone's NIC has its fixed MAC {mac}: {link}");
    let script = "ip addr add 10.0.3.20/24 dev eth0 && ping -c 1 -W 5 10.0.3.1 \
                  && mkdir -p /www && echo hi-on-the-bridge > /www/index.html && httpd -p 8000 -h /www";
    let (code, out) = attach(&zones, id, script);
    assert_eq!(code, 0, "the zone reaches the bridge's side: {out}");
    let (ok, page) = ns.exec("curl", &["-s", "--max-time", "5", "http://10.0.3.20:8000/"]);
    assert!(ok && page.contains("hi-on-the-bridge"), "the zone's page over the bridge: {page:?}");

    c.machine_power(id, PowerAction::ForceStop).await.unwrap();
    wait_until("the veth to go", Duration::from_secs(10), || async {
        ns.ip(&["link", "show", &veth]).is_empty()
    })
    .await;
    assert!(std::fs::read_to_string("/proc/net/dev").unwrap().lines().all(|l| !l.contains(&veth)));
    let task = c.machine_delete(id, false).await.unwrap();
    assert_eq!(c.task_finish(task).await.unwrap().state, TaskState::Succeeded);
    assert!(!zones.join(id.to_string()).exists());
}

/// The bridge samples a running zone: its disk bytes grow by what its processes write
/// (buffered, which cgroup v1's blkio would miss) and its CPU time while one spins; its
/// memory and processes are there, and a zone without a NIC has no network counters.
#[tokio::test(flavor = "multi_thread")]
async fn a_zones_counters_move_when_it_writes_and_spins() {
    use corral_api::metrics::Metric;
    use corral_e2e::{sample_value, wait_for_sample};
    let dir = tempfile::tempdir().unwrap();
    let bridge = zone_bridge(dir.path());
    let zones = bridge.data_dir.join("zones");
    let c = bridge.client();
    bridge.import_image("busybox.tar.gz", &zone_image()).await;
    let req = busybox_zone("counted");
    let id = req.id;
    c.machine_create(&req).await.expect("the zone made");
    assert_eq!(c.machine_power(id, PowerAction::Start).await.unwrap().state, MachineState::Running);
    let before = wait_for_sample(&c, id, Duration::from_secs(15), |_| true).await;
    let written = |s: &corral_api::metrics::MetricSample| {
        sample_value(s, Metric::DiskWriteBytes, Some("rootfs")).expect("rootfs written bytes")
    };
    let cpu = |s: &corral_api::metrics::MetricSample| {
        sample_value(s, Metric::CpuSeconds, None).expect("CPU seconds")
    };
    assert!(sample_value(&before, Metric::Pids, None).is_some_and(|n| n >= 1.0), "{before:?}");
    assert!(sample_value(&before, Metric::MemoryBytes, None).is_some());
    assert!(before.points.iter().all(|p| p.metric != Metric::NetRxBytes), "no NIC, no counters");

    // A process that stays in the zone writes 8 MiB (buffered), and another spins for 3 s.
    let (code, _) = attach(
        &zones,
        id,
        "(dd if=/dev/zero of=/big bs=1M count=8 2>/dev/null; sync; sleep 30) >/dev/null 2>&1 & \
         (end=$(($(date +%s)+3)); while [ $(date +%s) -lt $end ]; do :; done; sleep 30) >/dev/null 2>&1 &",
    );
    assert_eq!(code, 0);
    wait_for_sample(&c, id, Duration::from_secs(20), |a| {
        written(a) - written(&before) >= 8.0 * 1_048_576.0 && cpu(a) - cpu(&before) >= 2.0
    })
    .await;
    c.machine_power(id, PowerAction::ForceStop).await.unwrap();
    wait_state(&c, id, MachineState::Stopped, Duration::from_secs(20)).await;
}

/// A busybox zone has no cloud-init: its guest data arrive as root's `authorized_keys` and
/// its hostname, read from inside the running zone; new data reach it at the next start,
/// and a key its people added themselves stays.
#[tokio::test(flavor = "multi_thread")]
async fn a_zone_without_cloud_init_gets_its_keys_and_hostname() {
    use corral_api::guest::{GuestInit, instance_id};
    let dir = tempfile::tempdir().unwrap();
    let bridge = zone_bridge(dir.path());
    let zones = bridge.data_dir.join("zones");
    bridge.import_image("busybox.tar.gz", &zone_image()).await;
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEDP++AB6YIP5+uvo3/GxR5jU8eMI4ChHm/l8zJPXNDq olive@laptop";
    let base = busybox_zone("keyed");
    let init = |revision, hostname: &str| GuestInit {
        instance_id: instance_id(base.id, revision),
        hostname: hostname.into(),
        ssh_keys: vec![key.into()],
        user_data: None,
        network: None,
    };
    let req = corral_api::bridge::BridgeMachineCreate { init: Some(init(1, "keyed.example.org")), ..base };
    let c = bridge.client();
    let id = c.machine_create(&req).await.unwrap().id;
    c.machine_power(id, PowerAction::Start).await.unwrap();
    wait_state(&c, id, MachineState::Running, Duration::from_secs(30)).await;
    let (code, out) = attach(
        &zones,
        id,
        "hostname; cat /etc/hostname; cat /root/.ssh/authorized_keys; stat -c %a /root/.ssh/authorized_keys",
    );
    assert_eq!(code, 0, "{out}");
    assert_eq!(out, format!("keyed.example.org\nkeyed.example.org\n{key}\n600\n"));
    assert_eq!(attach(&zones, id, "echo 'ssh-ed25519 AAAA theirs' >> /root/.ssh/authorized_keys").0, 0);

    let update =
        corral_api::bridge::BridgeMachineUpdate { init: Some(init(2, "renamed")), ..Default::default() };
    c.machine_update(id, &update).await.unwrap();
    c.machine_power(id, PowerAction::ForceStop).await.unwrap();
    wait_state(&c, id, MachineState::Stopped, Duration::from_secs(30)).await;
    c.machine_power(id, PowerAction::Start).await.unwrap();
    wait_state(&c, id, MachineState::Running, Duration::from_secs(30)).await;
    let (_, out) = attach(&zones, id, "hostname; cat /root/.ssh/authorized_keys");
    assert_eq!(out, format!("renamed\n{key}\nssh-ed25519 AAAA theirs\n"), "theirs stays, ours once");
    c.machine_power(id, PowerAction::ForceStop).await.unwrap();
}
