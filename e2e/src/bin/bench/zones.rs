//! Zones beside the same work done by hand with LXC's own tools: a zone made from the busybox
//! image (the bridge unpacks and checks the tarball and writes the config; by hand, `tar`
//! and the same config), started until its init says it is ready, and snapshotted (stopped:
//! `lxc-snapshot` refuses running directory-backed containers), all on plain directories.
//! Snapshots on overlayfs (a copy of what the zone changed) beside `lxc-snapshot` and beside
//! the same snapshot on directories; on btrfs, beside a bare `btrfs subvolume snapshot` and
//! beside directories. And a zone's start beside a VM's, both through the bridge.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use corral_api::bridge::BridgeSnapshotCreate;
use corral_api::machine::MachineState;
use corral_api::spec::PowerAction;
use corral_e2e::{BridgeProc, busybox_zone, zone_image};

use super::{Row, median};

/// Waits until `log` holds `text`.
fn wait_in_log(log: &Path, text: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !std::fs::read_to_string(log).is_ok_and(|l| l.contains(text)) {
        assert!(Instant::now() < deadline, "{} never said {text:?}", log.display());
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// How long the bridge takes to snapshot the zone `id` (as a task, followed to its end).
async fn snapshot_of(c: &corral::nodes::BridgeClient, id: corral_api::MachineId) -> Duration {
    let t = Instant::now();
    let task =
        c.snapshot_create_task(id, &BridgeSnapshotCreate { name: "s".into(), ram: false }).await.unwrap();
    c.task_finish(task).await.unwrap();
    t.elapsed()
}

fn lxc(tool: &str, path: &Path, name: &str, args: &[&str]) {
    let ok = Command::new(tool).arg("-P").arg(path).args(["-n", name]).args(args).status().unwrap();
    assert!(ok.success(), "{tool} {args:?}");
}

/// The rows, and the zones' start times for the VM comparison.
pub async fn rows(dir: &Path, runs: usize, vm_start: &[Duration]) -> Vec<Row> {
    let image = zone_image();
    let bridge = BridgeProc::start_with(dir, "zones", &["--driver", "lxc", "--zone-storage", "dir"]);
    let c = bridge.client();
    let task = bridge.import_image("busybox.tar.gz", &image).await;
    assert_eq!(task.state, corral_api::task::TaskState::Succeeded, "{task:?}");
    let zones = bridge.data_dir.join("zones");

    // Ours and by hand take turns, so drift in the machine's load falls on both alike. By
    // hand: the same rootfs and config, LXC's tools, the same ready line.
    let bare = dir.join("bare-zones");
    std::fs::create_dir_all(&bare).unwrap();
    let (mut create, mut start, mut snap) = (Vec::new(), Vec::new(), Vec::new());
    let (mut bare_create, mut bare_start, mut bare_snap) = (Vec::new(), Vec::new(), Vec::new());
    let mut made = Vec::new();
    for i in 0..runs {
        let req = busybox_zone(&format!("bench-{i}"));
        let t = Instant::now();
        let m = c.machine_create(&req).await.unwrap();
        create.push(t.elapsed());
        assert_eq!(m.state, MachineState::Stopped);
        let log = zones.join(req.id.to_string()).join("console.log");
        let t = Instant::now();
        c.machine_power(req.id, PowerAction::Start).await.unwrap();
        wait_in_log(&log, "corral-zone: ready");
        start.push(t.elapsed());
        c.machine_power(req.id, PowerAction::ForceStop).await.unwrap();
        snap.push(snapshot_of(&c, req.id).await);
        made.push(req.id);

        let name = format!("bare{i}");
        let zdir = bare.join(&name);
        let t = Instant::now();
        std::fs::create_dir_all(&zdir).unwrap();
        let ok =
            Command::new("tar").arg("-C").arg(&zdir).arg("-xpzf").arg(&image).arg("rootfs").status().unwrap();
        assert!(ok.success());
        let ours = zones.join(req.id.to_string());
        let config = std::fs::read_to_string(ours.join("config")).unwrap();
        std::fs::write(
            zdir.join("config"),
            config.replace(&*ours.to_string_lossy(), &zdir.to_string_lossy()),
        )
        .unwrap();
        bare_create.push(t.elapsed());
        let t = Instant::now();
        lxc("lxc-start", &bare, &name, &[]);
        lxc("lxc-wait", &bare, &name, &["-s", "RUNNING", "-t", "10"]);
        wait_in_log(&zdir.join("console.log"), "corral-zone: ready");
        bare_start.push(t.elapsed());
        lxc("lxc-stop", &bare, &name, &["-k"]);
        let t = Instant::now();
        // Its exit code, not its stderr: it prints ERROR for a directory-backed container.
        lxc("lxc-snapshot", &bare, &name, &[]);
        bare_snap.push(t.elapsed());
        let _ = Command::new("lxc-destroy").arg("-P").arg(&bare).args(["-n", &name, "-s"]).status();
    }
    for id in made {
        let task = c.machine_delete(id, true).await.unwrap();
        c.task_finish(task).await.unwrap();
    }
    drop(bridge);
    let overlay_snap = overlay_snapshots(dir, runs).await;
    let (btrfs_snap, bare_btrfs_snap) = btrfs_snapshots(dir, runs).await;
    eprintln!("zones: start median {:?}, VM start median {:?}", median(&start), median(vm_start));
    vec![
        Row {
            what: "zone create from image (unpacked, checked)",
            ours: create,
            base_name: "tar -x and the same config by hand",
            base: bare_create,
            goal: "≤ 1.2×",
            bytes: 0,
        },
        Row {
            what: "zone start → init ready",
            ours: start.clone(),
            base_name: "lxc-start + lxc-wait by hand → ready",
            base: bare_start,
            goal: "≤ 1.2×",
            bytes: 0,
        },
        Row {
            what: "zone snapshot (stopped, dir)",
            ours: snap.clone(),
            base_name: "lxc-snapshot by hand",
            base: bare_snap.clone(),
            goal: "—",
            bytes: 0,
        },
        Row {
            what: "zone snapshot (stopped, overlayfs)",
            ours: overlay_snap.clone(),
            base_name: "lxc-snapshot by hand",
            base: bare_snap,
            goal: "—",
            bytes: 0,
        },
        Row {
            what: "zone snapshot (stopped, overlayfs)",
            ours: overlay_snap,
            base_name: "zone snapshot (stopped, dir)",
            base: snap.clone(),
            goal: "—",
            bytes: 0,
        },
        Row {
            what: "zone snapshot (stopped, btrfs)",
            ours: btrfs_snap.clone(),
            base_name: "btrfs subvolume snapshot by hand",
            base: bare_btrfs_snap,
            goal: "—",
            bytes: 0,
        },
        Row {
            what: "zone snapshot (stopped, btrfs)",
            ours: btrfs_snap,
            base_name: "zone snapshot (stopped, dir)",
            base: snap,
            goal: "—",
            bytes: 0,
        },
        Row {
            what: "zone start → init ready",
            ours: start,
            base_name: "VM start → running (bridge)",
            base: vm_start.to_vec(),
            goal: "—",
            bytes: 0,
        },
    ]
}

/// Snapshots of zones on overlayfs, each booted once and stopped (so its upper layer holds
/// what a boot writes): a copy of those changes, not of the image.
async fn overlay_snapshots(dir: &Path, runs: usize) -> Vec<Duration> {
    let home = dir.join("overlay");
    std::fs::create_dir_all(&home).unwrap();
    let bridge = BridgeProc::start_with(&home, "o", &["--driver", "lxc", "--zone-storage", "overlay"]);
    let zones = bridge.data_dir.join("zones");
    let c = bridge.client();
    let task = bridge.import_image("busybox.tar.gz", &zone_image()).await;
    assert_eq!(task.state, corral_api::task::TaskState::Succeeded, "{task:?}");
    let mut ours = Vec::new();
    for i in 0..runs {
        let req = busybox_zone(&format!("overlay-{i}"));
        c.machine_create(&req).await.unwrap();
        c.machine_power(req.id, PowerAction::Start).await.unwrap();
        wait_in_log(&zones.join(req.id.to_string()).join("console.log"), "corral-zone: ready");
        c.machine_power(req.id, PowerAction::ForceStop).await.unwrap();
        ours.push(snapshot_of(&c, req.id).await);
        let task = c.machine_delete(req.id, true).await.unwrap();
        c.task_finish(task).await.unwrap();
    }
    ours
}

/// Snapshots of stopped zones on a btrfs loop filesystem (subvolume snapshots through the
/// bridge), and `btrfs subvolume snapshot` of the same root filesystem by hand.
async fn btrfs_snapshots(dir: &Path, runs: usize) -> (Vec<Duration>, Vec<Duration>) {
    let home = dir.join("btrfs");
    let fs = corral_e2e::btrfs::BtrfsLoop::mount_at(&dir.join("zones.btrfs"), &home.join("b/zones"), "4G");
    let bridge = BridgeProc::start_with(&home, "b", &["--driver", "lxc"]);
    let zones = bridge.data_dir.join("zones");
    let c = bridge.client();
    let task = bridge.import_image("busybox.tar.gz", &zone_image()).await;
    assert_eq!(task.state, corral_api::task::TaskState::Succeeded, "{task:?}");
    let (mut ours, mut bare) = (Vec::new(), Vec::new());
    for i in 0..runs {
        let req = busybox_zone(&format!("btrfs-{i}"));
        c.machine_create(&req).await.unwrap();
        ours.push(snapshot_of(&c, req.id).await);
        let rootfs = zones.join(req.id.to_string()).join("rootfs");
        let to = zones.join(format!("bare-{i}"));
        let t = Instant::now();
        let ok = Command::new("btrfs")
            .args(["-q", "subvolume", "snapshot"])
            .arg(&rootfs)
            .arg(&to)
            .status()
            .unwrap();
        bare.push(t.elapsed());
        assert!(ok.success());
        let _ = Command::new("btrfs").args(["-q", "subvolume", "delete"]).arg(&to).status();
        let task = c.machine_delete(req.id, true).await.unwrap();
        c.task_finish(task).await.unwrap();
    }
    drop(bridge);
    drop(fs);
    (ours, bare)
}
