//! The lxc driver against fake host commands: the exact `lxc-*` command lines, the files a
//! zone is made of, and what is undone after each failure.

use std::path::Path;

use async_trait::async_trait;

use super::*;
use crate::host::{CmdOutput, FakeExec};

struct Fixture {
    dir: tempfile::TempDir,
    exec: Arc<FakeExec>,
    driver: LxcDriver,
}

/// Fake `lxc-*` tools, but a real `cp`: snapshots are copies of files the test can read.
#[derive(Debug)]
struct RealCopies(Arc<FakeExec>);

#[async_trait]
impl HostExec for RealCopies {
    async fn run(&self, program: &str, args: &[String]) -> std::io::Result<CmdOutput> {
        let out = self.0.run(program, args).await?;
        if program == "cp" { crate::host::RealExec.run(program, args).await } else { Ok(out) }
    }
}

impl Fixture {
    fn zones(&self) -> PathBuf {
        self.dir.path().join("zones")
    }

    fn cgroups(&self) -> PathBuf {
        self.dir.path().join("cgroup")
    }

    /// A zone made and started, with the commands that took cleared.
    async fn running_zone(&self, name: &str) -> MachineId {
        let id = self.driver.machine_create(zone(name)).await.unwrap().0.id;
        self.driver.machine_power(id, PowerAction::Start).await.unwrap();
        self.commands();
        id
    }

    /// `lxc-*` commands run since the last call, as `tool args…` with the path and name cut.
    fn commands(&self) -> Vec<String> {
        let prefix = format!("-P {} ", self.zones().display());
        let all: Vec<String> = self.exec.log.lock().unwrap().drain(..).map(|c| c.join(" ")).collect();
        all.into_iter().map(|c| c.replacen(&prefix, "", 1)).collect()
    }
}

async fn fixture() -> Fixture {
    fixture_on(ZoneStorage::Dir).await
}

async fn fixture_on(storage: ZoneStorage) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let exec = Arc::new(FakeExec::default());
    let driver = open(dir.path(), Arc::new(RealCopies(exec.clone())), storage).await;
    exec.log.lock().unwrap().clear();
    Fixture { dir, exec, driver }
}

async fn open(dir: &Path, exec: Arc<dyn HostExec>, storage: ZoneStorage) -> LxcDriver {
    let images = ImageStore::open(dir, exec.clone(), "qemu-img").unwrap();
    let image = crate::images::rootfs::tests::good(dir);
    std::fs::rename(&image, dir.join("images/busybox.tar.gz")).unwrap();
    let meta = corral_api::bridge::BridgeImage {
        name: "busybox.tar.gz".into(),
        kind: MachineKind::Zone,
        format: "tar".into(),
        size_bytes: 100,
        virtual_size_bytes: 12,
        sha256: "0".repeat(64),
        zone: Some(corral_api::bridge::ZoneImage {
            os: "busybox".into(),
            release: "1.35".into(),
            init: corral_api::spec::ZoneInit::Busybox,
        }),
    };
    std::fs::write(dir.join("images/busybox.tar.gz.json"), serde_json::to_vec(&meta).unwrap()).unwrap();
    let config = LxcConfig {
        host: HostFacts { hostname: "h".into(), cpus: 2, memory_mib: 1024, disk_gib: 10 },
        stop_timeout: Duration::from_secs(3),
        watch_every: None,
        common_conf: None,
        pids_max: 256,
        cgroup_root: dir.join("cgroup"),
        follow_consoles: false,
        bridge_netns: Some("ns1".into()),
        ip_binary: "ip".into(),
        storage: Some(storage),
    };
    let store = MachineStore::open_dir(dir.join("zones")).unwrap();
    LxcDriver::open(config, store, images, exec, broadcast::channel(64).0).await.unwrap()
}

fn zone(name: &str) -> BridgeMachineCreate {
    BridgeMachineCreate {
        id: MachineId::new_random(),
        name: name.into(),
        kind: MachineKind::Zone,
        vcpus: 1,
        memory_mib: 64,
        disk_gib: 1,
        image: Some("busybox.tar.gz".into()),
        port_forwards: vec![],
        boot_order: vec![],
        cdrom: None,
        host_bridge: None,
        init: None,
    }
}

fn running(id: MachineId) -> CmdOutput {
    CmdOutput::ok(&format!("NAME STATE\n{id} RUNNING\n"))
}

#[tokio::test]
async fn a_zone_is_made_from_its_image_with_its_config_and_nothing_run() {
    let f = fixture().await;
    let req = zone("web");
    let (m, created) = f.driver.machine_create(req.clone()).await.unwrap();
    assert_eq!((m.state, created), (MachineState::Stopped, Created::New));
    let facts = m.zone.clone().unwrap();
    assert_eq!(
        (facts.os.as_str(), facts.init, facts.storage),
        ("busybox", corral_api::spec::ZoneInit::Busybox, ZoneStorage::Dir)
    );
    let dir = f.zones().join(req.id.to_string());
    assert_eq!(std::fs::read_link(dir.join("rootfs/sbin/init")).unwrap(), Path::new("/bin/busybox"));
    let config = std::fs::read_to_string(dir.join("config")).unwrap();
    assert!(config.contains("lxc.uts.name = web\n"), "{config}");
    assert!(config.contains(&format!("lxc.rootfs.path = dir:{}/rootfs\n", dir.display())), "{config}");
    assert!(config.contains("lxc.cgroup.memory.limit_in_bytes = 67108864\n"), "{config}");
    assert!(config.contains("lxc.signal.halt = SIGUSR2\n"), "{config}");
    assert!(f.commands().is_empty(), "making a zone runs no lxc tool");
    // The same request again is the same zone; another spec under its id is refused.
    assert_eq!(f.driver.machine_create(req.clone()).await.unwrap().1, Created::Existing);
    let other = BridgeMachineCreate { memory_mib: 128, ..req };
    assert!(matches!(f.driver.machine_create(other).await, Err(BridgeError::Conflict(_))));
}

fn udp_forward() -> corral_api::spec::PortForward {
    corral_api::spec::PortForward { protocol: "udp".into(), host_port: 5353, guest_port: 53 }
}

/// On a bridge in another namespace, the zone's config names the hook that moves its veth
/// there, and the hook is written beside it, for root only; both go with the zone.
#[tokio::test]
async fn a_zone_on_a_host_bridge_in_a_namespace_gets_its_hook() {
    let f = fixture().await;
    let req = BridgeMachineCreate { host_bridge: Some("br0".into()), ..zone("net") };
    let id = f.driver.machine_create(req).await.unwrap().0.id;
    let dir = f.zones().join(id.to_string());
    let conf = std::fs::read_to_string(dir.join("config")).unwrap();
    let hook = dir.join(config::NET_UP_HOOK);
    assert!(conf.contains(&format!("lxc.net.0.script.up = {}\n", hook.display())), "{conf}");
    let text = std::fs::read_to_string(&hook).unwrap();
    let veth = config::veth_name(id);
    assert!(text.contains(&format!("ip link set dev {veth} netns ns1\n")), "{text}");
    assert!(text.contains(&format!("ip -n ns1 link set dev {veth} master br0 up\n")), "{text}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&hook).unwrap().permissions().mode() & 0o777, 0o700);
    f.driver.machine_delete(id, false).await.unwrap();
    assert!(!dir.exists(), "the zone's directory and hook go with it");
}

#[tokio::test]
async fn refused_creates_leave_nothing() {
    let f = fixture().await;
    let bad = [
        ("kind", BridgeMachineCreate { kind: MachineKind::Vm, ..zone("a") }),
        ("image", BridgeMachineCreate { image: None, ..zone("b") }),
        ("image", BridgeMachineCreate { image: Some("nope.tar.gz".into()), ..zone("c") }),
        ("image", BridgeMachineCreate { image: Some("tiny.qcow2".into()), ..zone("d") }),
        ("cdrom", BridgeMachineCreate { cdrom: Some("x.iso".into()), ..zone("e") }),
        ("port_forwards", BridgeMachineCreate { port_forwards: vec![udp_forward()], ..zone("f") }),
    ];
    for (field, req) in bad {
        match f.driver.machine_create(req).await {
            Err(BridgeError::Validation { field: got, .. }) => assert_eq!(got, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    // An image that does not unpack: the half-made zone goes again.
    std::fs::write(f.dir.path().join("images/busybox.tar.gz"), b"\x1f\x8bnot really gzip").unwrap();
    let req = zone("g");
    assert!(matches!(f.driver.machine_create(req.clone()).await, Err(BridgeError::Host(_))));
    assert!(f.driver.machine_list().await.is_empty());
    assert_eq!(std::fs::read_dir(f.zones()).unwrap().count(), 0, "no directory is left");
}

#[tokio::test]
async fn power_actions_run_the_lxc_tools_and_record_what_they_leave() {
    let f = fixture().await;
    let id = f.driver.machine_create(zone("web")).await.unwrap().0.id;
    let start = vec![format!("lxc-start -n {id}"), format!("lxc-wait -n {id} -s RUNNING -t 3")];
    let m = f.driver.machine_power(id, PowerAction::Start).await.unwrap();
    assert_eq!((m.state, f.commands()), (MachineState::Running, start.clone()));
    f.driver.machine_power(id, PowerAction::Pause).await.unwrap();
    assert_eq!(f.commands(), [format!("lxc-freeze -n {id}")]);
    // Asking for the state it is in runs nothing.
    assert_eq!(f.driver.machine_power(id, PowerAction::Pause).await.unwrap().state, MachineState::Paused);
    assert!(matches!(f.driver.machine_power(id, PowerAction::Reboot).await, Err(BridgeError::Conflict(_))));
    f.driver.machine_power(id, PowerAction::Resume).await.unwrap();
    assert_eq!(f.commands(), [format!("lxc-unfreeze -n {id}")]);
    // Reset: killed and started again.
    assert_eq!(f.driver.machine_power(id, PowerAction::Reset).await.unwrap().state, MachineState::Running);
    let mut reset = vec![format!("lxc-stop -n {id} -k")];
    reset.extend(start.clone());
    assert_eq!(f.commands(), reset);
    // A gentle stop answers `stopping` and ends `stopped` once lxc-stop returns.
    let mut events = f.driver.subscribe();
    assert_eq!(f.driver.machine_power(id, PowerAction::Stop).await.unwrap().state, MachineState::Stopping);
    loop {
        match events.recv().await.unwrap() {
            BridgeEvent::MachineChanged { machine } if machine.state == MachineState::Stopped => break,
            _ => {}
        }
    }
    assert_eq!(f.commands(), [format!("lxc-stop -n {id} -t 3")]);
    f.driver.machine_power(id, PowerAction::Start).await.unwrap();
    f.commands();
    f.driver.machine_power(id, PowerAction::ForceStop).await.unwrap();
    assert_eq!(f.commands(), [format!("lxc-stop -n {id} -k")]);
}

#[tokio::test]
async fn a_start_that_fails_says_why_and_leaves_the_zone_stopped_and_swept() {
    let f = fixture().await;
    let id = f.driver.machine_create(zone("web")).await.unwrap().0.id;
    let leftover = f.cgroups().join(format!("memory/lxc.payload.{id}"));
    std::fs::create_dir_all(&leftover).unwrap();
    f.exec.answer("lxc-start", CmdOutput::failed("lxc-start: web: ERROR Failed to setup cgroup limits"));
    match f.driver.machine_power(id, PowerAction::Start).await {
        Err(BridgeError::Host(why)) => assert!(why.contains("Failed to setup cgroup limits"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.commands(), [format!("lxc-start -n {id}"), format!("lxc-stop -n {id} -k")]);
    assert_eq!(f.driver.machine_get(id).await.unwrap().state, MachineState::Stopped);
    assert!(!leftover.exists(), "the half-made cgroup is swept");
}

#[tokio::test]
async fn delete_stops_a_running_zone_only_when_forced_and_removes_everything() {
    let f = fixture().await;
    let id = f.running_zone("web").await;
    f.exec.answer("lxc-ls", running(id));
    assert!(matches!(f.driver.machine_delete(id, false).await, Err(BridgeError::Conflict(_))));
    f.exec.answer("lxc-ls", running(id));
    f.driver.machine_delete(id, true).await.unwrap();
    let ls = "lxc-ls --fancy --fancy-format NAME,STATE".to_string();
    assert_eq!(
        f.commands(),
        [ls.clone(), ls, format!("lxc-stop -n {id} -k"), format!("lxc-destroy -n {id}")]
    );
    assert!(!f.zones().join(id.to_string()).exists());
    assert!(matches!(f.driver.machine_get(id).await, Err(BridgeError::MachineNotFound(_))));
}

#[tokio::test]
async fn a_restarted_bridge_takes_running_zones_back_and_undoes_half_made_ones() {
    let f = fixture().await;
    let up = f.driver.machine_create(zone("up")).await.unwrap().0.id;
    let down = f.driver.machine_create(zone("down")).await.unwrap().0.id;
    let half = f.driver.machine_create(zone("half")).await.unwrap().0.id;
    f.driver.machine_power(up, PowerAction::Start).await.unwrap();
    f.driver.machine_power(down, PowerAction::Start).await.unwrap();
    // As a crash mid-create leaves it.
    let spec = f.zones().join(half.to_string()).join("spec.json");
    let text = std::fs::read_to_string(&spec).unwrap().replace("\"stopped\"", "\"creating\"");
    std::fs::write(&spec, text).unwrap();

    f.exec.answer("lxc-ls", running(up));
    let again = open_again(&f).await;
    assert_eq!(again.machine_get(up).await.unwrap().state, MachineState::Running);
    assert_eq!(again.machine_get(down).await.unwrap().state, MachineState::Stopped, "it stopped meanwhile");
    assert!(again.machine_get(half).await.is_err());
    assert!(!f.zones().join(half.to_string()).exists());

    // The poller sees a zone whose init halted by itself.
    again.watch_once().await;
    assert_eq!(again.machine_get(up).await.unwrap().state, MachineState::Stopped);
}

/// The driver opened again on the same directories, as a restarted bridge does.
async fn open_again(f: &Fixture) -> LxcDriver {
    let images = ImageStore::open(f.dir.path(), f.exec.clone(), "qemu-img").unwrap();
    let config = f.driver.config.clone();
    let store = MachineStore::open_dir(f.zones()).unwrap();
    let exec = Arc::new(RealCopies(f.exec.clone()));
    LxcDriver::open(config, store, images, exec, broadcast::channel(64).0).await.unwrap()
}

#[tokio::test]
async fn a_freeze_that_fails_is_thawed_and_tried_again_and_at_last_leaves_the_zone_running() {
    let f = fixture().await;
    let id = f.running_zone("web").await;
    let busy = "lxc_cmd_serve_state_clients: 1579 Connection refused - Failed to serve state clients";
    f.exec.answer("lxc-freeze", CmdOutput::failed(busy));
    let snap = BridgeSnapshotCreate { name: "s1".into(), ram: false };
    f.driver.snapshot_create(id, snap).await.unwrap();
    let cmds = f.commands();
    let (freeze, thaw) = (format!("lxc-freeze -n {id}"), format!("lxc-unfreeze -n {id}"));
    assert_eq!([&cmds[0], &cmds[1], &cmds[2]], [&freeze, &thaw, &freeze], "{cmds:?}");
    assert!(cmds[3].starts_with("cp -a"), "{cmds:?}");
    assert_eq!(cmds[4], thaw);

    // Never freezes: refused, thawed after each try, and still running.
    for _ in 0..FREEZE_TRIES {
        f.exec.answer("lxc-freeze", CmdOutput::failed(busy));
    }
    let refused = f.driver.machine_power(id, PowerAction::Pause).await.unwrap_err();
    assert!(refused.to_string().contains("Failed to serve state clients"), "{refused}");
    let cmds = f.commands();
    assert_eq!(cmds.iter().filter(|c| **c == freeze).count(), FREEZE_TRIES as usize, "{cmds:?}");
    assert_eq!(cmds.last(), Some(&thaw));
    assert_eq!(f.driver.machine_get(id).await.unwrap().state, MachineState::Running);
}

#[tokio::test]
async fn snapshots_copy_the_files_freeze_a_running_zone_and_bring_them_back() {
    let f = fixture().await;
    let id = f.driver.machine_create(zone("web")).await.unwrap().0.id;
    let root = f.zones().join(id.to_string()).join("rootfs");
    std::fs::write(root.join("bin/state"), "one").unwrap();
    let snap = |name: &str, ram: bool| BridgeSnapshotCreate { name: name.into(), ram };
    let s1 = f.driver.snapshot_create(id, snap("s1", false)).await.unwrap();
    assert_eq!((s1.name.as_str(), s1.current, s1.ram), ("s1", true, false));
    let copy = f.zones().join(id.to_string()).join("snapshots/s1/rootfs");
    assert_eq!(f.commands(), [format!("cp -a --reflink=auto {} {}", root.display(), copy.display())]);
    assert_eq!(std::fs::read_to_string(copy.join("bin/state")).unwrap(), "one");
    assert_eq!(std::fs::read_link(copy.join("sbin/init")).unwrap(), Path::new("/bin/busybox"));
    match f.driver.snapshot_create(id, snap("s2", true)).await {
        Err(BridgeError::Validation { field: "ram", .. }) => {}
        other => panic!("{other:?}"),
    }
    assert!(matches!(f.driver.snapshot_create(id, snap("s1", false)).await, Err(BridgeError::Conflict(_))));

    // Running: frozen around the copy.
    f.driver.machine_power(id, PowerAction::Start).await.unwrap();
    f.commands();
    std::fs::write(root.join("bin/state"), "two").unwrap();
    f.driver.snapshot_create(id, snap("s2", false)).await.unwrap();
    let cmds = f.commands();
    assert_eq!(
        (cmds[0].as_str(), cmds[2].as_str()),
        (&*format!("lxc-freeze -n {id}"), &*format!("lxc-unfreeze -n {id}"))
    );
    assert!(cmds[1].starts_with("cp -a --reflink=auto"), "{cmds:?}");

    // Rollback of a running zone: killed, files put back, started again.
    std::fs::write(root.join("bin/state"), "three").unwrap();
    let m = f.driver.snapshot_rollback(id, "s1").await.unwrap();
    assert_eq!(m.state, MachineState::Running);
    assert_eq!(std::fs::read_to_string(root.join("bin/state")).unwrap(), "one");
    let cmds = f.commands();
    assert_eq!(cmds[0], format!("lxc-stop -n {id} -k"));
    assert_eq!(
        &cmds[cmds.len() - 2..],
        [format!("lxc-start -n {id}"), format!("lxc-wait -n {id} -s RUNNING -t 3")]
    );
    let tree = f.driver.snapshot_list(id).await.unwrap();
    let current: Vec<_> = tree.iter().filter(|s| s.current).map(|s| s.name.as_str()).collect();
    assert_eq!(current, ["s1"]);
    assert!(!f.zones().join(id.to_string()).join("rootfs.old").exists());

    // A clone: a new stopped zone with the snapshot's files.
    let clone_id = MachineId::new_random();
    let c = f
        .driver
        .snapshot_clone(id, "s2", BridgeSnapshotClone { id: clone_id, name: "copy".into(), init: None })
        .await
        .unwrap();
    assert_eq!((c.state, c.kind, c.zone.is_some()), (MachineState::Stopped, MachineKind::Zone, true));
    let clone_root = f.zones().join(clone_id.to_string()).join("rootfs");
    assert_eq!(std::fs::read_to_string(clone_root.join("bin/state")).unwrap(), "two");
    assert!(
        std::fs::read_to_string(f.zones().join(clone_id.to_string()).join("config"))
            .unwrap()
            .contains("lxc.uts.name = copy")
    );

    f.driver.snapshot_delete(id, "s2").await.unwrap();
    assert!(!f.zones().join(id.to_string()).join("snapshots/s2").exists());
    assert!(matches!(f.driver.snapshot_delete(id, "s2").await, Err(BridgeError::SnapshotNotFound(_))));
}

#[tokio::test]
async fn a_rollback_cut_short_is_finished_or_undone_when_the_bridge_starts() {
    let f = fixture().await;
    let done = f.driver.machine_create(zone("done")).await.unwrap().0.id;
    let half = f.driver.machine_create(zone("half")).await.unwrap().0.id;
    // Cut after the copy was made and the old files moved aside: the copy takes their place.
    let d = f.zones().join(done.to_string());
    std::fs::create_dir_all(d.join("rootfs.new/bin")).unwrap();
    std::fs::write(d.join("rootfs.new/bin/state"), "snapshot").unwrap();
    std::fs::rename(d.join("rootfs"), d.join("rootfs.old")).unwrap();
    // Cut while copying: the half copy goes, the zone keeps its files.
    let h = f.zones().join(half.to_string());
    std::fs::create_dir_all(h.join("rootfs.new/bin")).unwrap();
    open_again(&f).await;
    assert_eq!(std::fs::read_to_string(d.join("rootfs/bin/state")).unwrap(), "snapshot");
    assert!(!d.join("rootfs.old").exists() && !d.join("rootfs.new").exists());
    assert!(h.join("rootfs/sbin").exists() && !h.join("rootfs.new").exists());
}

/// On overlayfs the image stays below in `base/`; snapshots and clones copy only the zone's
/// changes, and a clone's `base/` is hard links to its source's.
#[tokio::test]
async fn overlay_zones_copy_only_their_changes() {
    use std::os::unix::fs::MetadataExt;
    let f = fixture_on(ZoneStorage::Overlay).await;
    let (m, _) = f.driver.machine_create(zone("web")).await.unwrap();
    assert_eq!(m.zone.unwrap().storage, ZoneStorage::Overlay);
    assert!(f.driver.capabilities().contains(&"zone-storage-overlay".to_string()));
    let dir = f.zones().join(m.id.to_string());
    assert_eq!(std::fs::read_link(dir.join("base/sbin/init")).unwrap(), Path::new("/bin/busybox"));
    assert_eq!(std::fs::read_dir(dir.join("rootfs")).unwrap().count(), 0, "no changes yet");
    let config = std::fs::read_to_string(dir.join("config")).unwrap();
    let layers = format!("lxc.rootfs.path = overlay:{0}/base:{0}/rootfs\n", dir.display());
    assert!(config.contains(&layers), "{config}");

    // What the zone wrote is all a snapshot holds.
    std::fs::create_dir_all(dir.join("rootfs/root")).unwrap();
    std::fs::write(dir.join("rootfs/root/f"), "mine").unwrap();
    let snap = BridgeSnapshotCreate { name: "s1".into(), ram: false };
    f.driver.snapshot_create(m.id, snap).await.unwrap();
    let names = |p: PathBuf| -> Vec<String> {
        std::fs::read_dir(p).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect()
    };
    assert_eq!(names(dir.join("snapshots/s1/rootfs")), ["root"]);

    let clone_id = MachineId::new_random();
    let req = BridgeSnapshotClone { id: clone_id, name: "copy".into(), init: None };
    let c = f.driver.snapshot_clone(m.id, "s1", req).await.unwrap();
    assert_eq!((c.state, c.zone.unwrap().storage), (MachineState::Stopped, ZoneStorage::Overlay));
    let cdir = f.zones().join(clone_id.to_string());
    assert_eq!(std::fs::read_to_string(cdir.join("rootfs/root/f")).unwrap(), "mine");
    let inode = |p: PathBuf| std::fs::metadata(p).unwrap().ino();
    assert_eq!(
        inode(cdir.join("base/bin/busybox")),
        inode(dir.join("base/bin/busybox")),
        "linked, not copied"
    );
    let config = std::fs::read_to_string(cdir.join("config")).unwrap();
    assert!(config.contains(&format!("lxc.rootfs.path = overlay:{0}/base:{0}/rootfs\n", cdir.display())));

    // Either may go first: the other keeps its files.
    f.exec.answer("lxc-ls", CmdOutput::ok("NAME STATE\n"));
    f.driver.machine_delete(m.id, false).await.unwrap();
    assert!(!dir.exists());
    assert!(cdir.join("base/bin/busybox").is_file());
}

/// A running zone's CPU and memory limits change at once, through its cgroup; a stopped one's
/// at its next start, from the config. Forwards wait for a stop. A refusal keeps the record.
#[tokio::test]
async fn a_zones_limits_change_live_and_its_forwards_while_stopped() {
    let f = fixture().await;
    // Swap is accounted on this fake host: memory with swap must move with memory.
    std::fs::create_dir_all(f.cgroups().join("memory")).unwrap();
    std::fs::write(f.cgroups().join("memory/memory.memsw.limit_in_bytes"), "").unwrap();
    let id = f.driver.machine_create(zone("web")).await.unwrap().0.id;
    let config = || std::fs::read_to_string(f.zones().join(id.to_string()).join("config")).unwrap();

    let grow = BridgeMachineUpdate { vcpus: Some(2), memory_mib: Some(128), ..Default::default() };
    let m = f.driver.machine_update(id, grow.clone()).await.unwrap();
    assert_eq!((m.vcpus, m.memory_mib), (2, 128));
    assert!(f.commands().is_empty(), "a stopped zone's limits wait for its start");
    assert!(config().contains("lxc.cgroup.memory.limit_in_bytes = 134217728\n"), "{}", config());

    f.driver.machine_power(id, PowerAction::Start).await.unwrap();
    f.commands();
    let shrink = BridgeMachineUpdate { vcpus: Some(1), memory_mib: Some(96), ..Default::default() };
    let m = f.driver.machine_update(id, shrink).await.unwrap();
    assert_eq!((m.vcpus, m.memory_mib, m.state), (1, 96, MachineState::Running));
    assert_eq!(
        f.commands(),
        [
            format!("lxc-cgroup -n {id} cpu.cfs_quota_us 100000"),
            format!("lxc-cgroup -n {id} memory.limit_in_bytes 100663296"),
            format!("lxc-cgroup -n {id} memory.memsw.limit_in_bytes 100663296"),
        ]
    );
    assert!(config().contains("lxc.cgroup.cpu.cfs_quota_us = 100000\n"), "{}", config());

    // The kernel refuses a limit below what the zone uses: said, and nothing recorded.
    f.exec.answer("lxc-cgroup", CmdOutput::failed("Device or resource busy"));
    let tight = BridgeMachineUpdate { memory_mib: Some(64), ..Default::default() };
    match f.driver.machine_update(id, tight).await {
        Err(BridgeError::Conflict(why)) => assert!(why.contains("Device or resource busy"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(f.driver.machine_get(id).await.unwrap().memory_mib, 96);

    let ssh = corral_api::spec::PortForward { protocol: "tcp".into(), host_port: 2222, guest_port: 22 };
    let forward = BridgeMachineUpdate { port_forwards: Some(vec![ssh.clone()]), ..Default::default() };
    assert!(matches!(f.driver.machine_update(id, forward.clone()).await, Err(BridgeError::Conflict(_))));
    f.exec.answer("lxc-stop", CmdOutput::ok(""));
    f.driver.machine_power(id, PowerAction::ForceStop).await.unwrap();
    assert_eq!(f.driver.machine_update(id, forward).await.unwrap().port_forwards, std::slice::from_ref(&ssh));
    // Another zone cannot take the same port; UDP is not forwarded to zones.
    let other = f.driver.machine_create(zone("db")).await.unwrap().0.id;
    let same = BridgeMachineUpdate { port_forwards: Some(vec![ssh]), ..Default::default() };
    assert!(matches!(f.driver.machine_update(other, same).await, Err(BridgeError::Conflict(_))));
    let udp = BridgeMachineUpdate { port_forwards: Some(vec![udp_forward()]), ..Default::default() };
    assert!(matches!(
        f.driver.machine_update(other, udp).await,
        Err(BridgeError::Validation { field: "port_forwards", .. })
    ));
    assert!(f.driver.machine_get(other).await.unwrap().port_forwards.is_empty());
}
