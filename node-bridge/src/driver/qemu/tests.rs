//! The qemu driver on a fake host: the exact commands it runs, and what it leaves behind when
//! a step fails.

use super::*;
use crate::host::{CmdOutput, FakeExec};
use crate::time_fmt::now_rfc3339;

async fn driver(dir: &std::path::Path, exec: Arc<FakeExec>) -> QemuDriver {
    let store = MachineStore::open(dir).unwrap();
    let images = ImageStore::open(dir, exec.clone(), "qemu-img").unwrap();
    let config = QemuConfig {
        accel: Accel { name: "tcg", reason: "test".into() },
        qemu_binary: "qemu-system-x86_64".into(),
        qemu_img: "qemu-img".into(),
        stop_timeout: Duration::from_secs(1),
        host: HostFacts { hostname: "h".into(), cpus: 2, memory_mib: 1024, disk_gib: 10 },
        ip_binary: "ip".into(),
        xorriso: "xorriso".into(),
    };
    QemuDriver::open(config, store, images, exec, broadcast::channel(1024).0).await.unwrap()
}

fn req() -> BridgeMachineCreate {
    BridgeMachineCreate {
        id: MachineId::new_random(),
        name: "a".into(),
        kind: Default::default(),
        vcpus: 1,
        memory_mib: 128,
        disk_gib: 1,
        image: None,
        port_forwards: vec![],
        boot_order: vec![],
        cdrom: None,
        host_bridge: None,
        init: None,
    }
}

fn commands_of(exec: &FakeExec, program: &str) -> Vec<String> {
    exec.commands().into_iter().filter(|c| c[0] == program).map(|c| c[1..].join(" ")).collect()
}

#[tokio::test]
async fn a_nic_on_a_host_bridge_gets_a_tap_that_goes_when_qemu_fails() {
    let tmp = tempfile::tempdir().unwrap();
    let exec = Arc::new(FakeExec::default());
    let d = driver(tmp.path(), exec.clone()).await;
    let r = BridgeMachineCreate { host_bridge: Some("br0".into()), ..req() };
    d.machine_create(r.clone()).await.unwrap();
    exec.answer("qemu-system-x86_64", CmdOutput::failed("qemu-system-x86_64: could not open tap"));
    assert!(d.machine_power(r.id, PowerAction::Start).await.is_err());
    let tap = net::tap_name(r.id);
    assert_eq!(
        commands_of(&exec, "ip"),
        [
            format!("link del dev {tap}"),
            format!("tuntap add dev {tap} mode tap"),
            format!("link set dev {tap} master br0 up"),
            format!("link del dev {tap}"),
        ]
    );
    let qemu = commands_of(&exec, "qemu-system-x86_64").join(" ");
    assert!(qemu.contains(&format!("-netdev tap,id=net0,ifname={tap},script=no")), "{qemu}");
    assert_eq!(d.machine_get(r.id).await.unwrap().state, MachineState::Stopped);
}

#[tokio::test]
async fn a_late_state_change_cannot_bring_a_deleted_machine_back() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path(), Arc::new(FakeExec::default())).await;
    let r = req();
    d.machine_create(r.clone()).await.unwrap();
    // What `machine_delete` does before its files go, then what QEMU's monitor would do
    // had it seen the exit just before the delete began.
    d.set_state(r.id, MachineState::Deleting).unwrap();
    d.store.remove(r.id).unwrap();
    let late = d.set_state(r.id, MachineState::Stopped);
    assert!(matches!(late, Err(BridgeError::Conflict(_))), "{late:?}");
    assert!(!d.store.machine_dir(r.id).exists(), "the late write made the directory again");
    assert_eq!(d.machine_get(r.id).await.unwrap().state, MachineState::Deleting);
}

#[tokio::test]
async fn a_missing_host_bridge_is_said_and_qemu_never_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let exec = Arc::new(FakeExec::default());
    let d = driver(tmp.path(), exec.clone()).await;
    let r = BridgeMachineCreate { host_bridge: Some("br9".into()), ..req() };
    d.machine_create(r.clone()).await.unwrap();
    exec.answer("ip", CmdOutput::ok(""));
    exec.answer("ip", CmdOutput::ok(""));
    exec.answer("ip", CmdOutput::failed("Cannot find device \"br9\""));
    match d.machine_power(r.id, PowerAction::Start).await {
        Err(BridgeError::Host(why)) => {
            assert!(why.contains("host bridge br9") && why.contains("Cannot find device"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert!(commands_of(&exec, "qemu-system-x86_64").is_empty());
    assert_eq!(commands_of(&exec, "ip").last().unwrap(), &format!("link del dev {}", net::tap_name(r.id)));
    assert_eq!(d.machine_get(r.id).await.unwrap().state, MachineState::Stopped);
}

#[tokio::test]
async fn only_isos_go_in_the_cd_drive_and_a_stopped_eject_is_a_spec_change() {
    let tmp = tempfile::tempdir().unwrap();
    let exec = Arc::new(FakeExec::default());
    let d = driver(tmp.path(), exec.clone()).await;
    let missing = BridgeMachineCreate { cdrom: Some("nope.iso".into()), ..req() };
    assert!(matches!(d.machine_create(missing).await, Err(BridgeError::Validation { field: "cdrom", .. })));
    let r = req();
    d.machine_create(r.clone()).await.unwrap();
    let insert = BridgeMachineUpdate { cdrom: Some(Some("nope.iso".into())), ..Default::default() };
    assert!(matches!(d.machine_update(r.id, insert).await, Err(BridgeError::Validation { .. })));
    let order = BridgeMachineUpdate {
        boot_order: Some(vec![corral_api::bridge::BootDevice::Disk]),
        cdrom: Some(None),
        ..Default::default()
    };
    let m = d.machine_update(r.id, order).await.unwrap();
    assert_eq!(m.boot_order, vec![corral_api::bridge::BootDevice::Disk]);
    assert_eq!(m.cdrom, None);
}

/// A VM's CPUs, memory and forwards are on QEMU's command line: they change while it is
/// stopped, within the node's memory, on ports no other guest has; a refusal changes
/// nothing, not even a disk growth asked with it.
#[tokio::test]
async fn hardware_changes_while_stopped_within_the_node() {
    let tmp = tempfile::tempdir().unwrap();
    let exec = Arc::new(FakeExec::default());
    let d = driver(tmp.path(), exec.clone()).await;
    let (a, b) = (req(), req());
    d.machine_create(a.clone()).await.unwrap();
    d.machine_create(b.clone()).await.unwrap();
    let ssh = corral_api::spec::PortForward { protocol: "tcp".into(), host_port: 2222, guest_port: 22 };
    let change = BridgeMachineUpdate {
        vcpus: Some(2),
        memory_mib: Some(512),
        port_forwards: Some(vec![ssh.clone()]),
        ..Default::default()
    };
    let m = d.machine_update(a.id, change).await.unwrap();
    assert_eq!((m.vcpus, m.memory_mib, m.port_forwards.clone()), (2, 512, vec![ssh.clone()]));
    let spec = d.store.load_all().unwrap().into_iter().find(|r| r.id == a.id).unwrap();
    assert_eq!((spec.vcpus, spec.memory_mib), (2, 512), "the spec on disk has it too");

    let taken = BridgeMachineUpdate { port_forwards: Some(vec![ssh]), ..Default::default() };
    assert!(matches!(d.machine_update(b.id, taken).await, Err(BridgeError::Conflict(_))));
    // 512 + 128 of 1024 MiB are allocated: 385 more do not fit.
    let before = exec.commands().len();
    let big = BridgeMachineUpdate { memory_mib: Some(128 + 385), disk_gib: Some(2), ..Default::default() };
    match d.machine_update(b.id, big).await {
        Err(BridgeError::InsufficientCapacity(why)) => assert!(why.contains("384 of 1024"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(exec.commands().len(), before, "the disk was not grown");
    assert_eq!(d.machine_get(b.id).await.unwrap().disk_gib, 1);

    d.set_state(b.id, MachineState::Running).unwrap();
    let more = BridgeMachineUpdate { vcpus: Some(2), ..Default::default() };
    match d.machine_update(b.id, more).await {
        Err(BridgeError::Conflict(why)) => assert!(why.contains("stop it"), "{why}"),
        other => panic!("{other:?}"),
    }
    let same = BridgeMachineUpdate { vcpus: Some(1), name: Some("renamed".into()), ..Default::default() };
    assert_eq!(d.machine_update(b.id, same).await.unwrap().name, "renamed", "asking for what it has is fine");
}

#[tokio::test]
async fn create_makes_a_disk_and_a_failed_disk_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let exec = Arc::new(FakeExec::default());
    let d = driver(tmp.path(), exec.clone()).await;
    let ok = req();
    let (m, _) = d.machine_create(ok.clone()).await.unwrap();
    assert_eq!(m.state, MachineState::Stopped);
    let cmd = exec.commands().pop().unwrap().join(" ");
    assert!(cmd.starts_with("qemu-img create -q -f qcow2 ") && cmd.ends_with("/disk.qcow2 1G"), "{cmd}");

    exec.answer("qemu-img", CmdOutput::failed("qemu-img: No space left on device"));
    let bad = req();
    match d.machine_create(bad.clone()).await {
        Err(BridgeError::Host(why)) => assert!(why.contains("No space left"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(d.machine_get(bad.id).await.is_err());
    assert!(!d.store.machine_dir(bad.id).exists(), "no directory left behind");
    assert_eq!(d.machine_list().await.len(), 1);
}

#[tokio::test]
async fn a_qemu_that_exits_at_start_reports_its_stderr_and_stays_stopped() {
    let tmp = tempfile::tempdir().unwrap();
    let exec = Arc::new(FakeExec::default());
    let d = driver(tmp.path(), exec.clone()).await;
    let r = req();
    d.machine_create(r.clone()).await.unwrap();
    exec.answer(
        "qemu-system-x86_64",
        CmdOutput::failed(
            "warning: x\nqemu-system-x86_64: cannot set up guest memory 'pc.ram': Cannot allocate memory",
        ),
    );
    match d.machine_power(r.id, PowerAction::Start).await {
        Err(BridgeError::Host(why)) => assert!(why.contains("Cannot allocate memory"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(d.machine_get(r.id).await.unwrap().state, MachineState::Stopped);
    assert!(!d.paths(r.id).pidfile().exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_creates_never_overcommit_memory() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path(), Arc::new(FakeExec::default())).await;
    // The node has 1024 MiB: of four creates of 512 MiB at once, exactly two fit.
    let creates = (0..4).map(|i| {
        let d = d.clone();
        let r = BridgeMachineCreate { memory_mib: 512, name: format!("m{i}"), ..req() };
        tokio::spawn(async move { d.machine_create(r).await })
    });
    let results = futures::future::join_all(creates).await;
    let made = results.iter().filter(|r| matches!(r, Ok(Ok(_)))).count();
    let refused =
        results.iter().filter(|r| matches!(r, Ok(Err(BridgeError::InsufficientCapacity(_))))).count();
    assert_eq!((made, refused), (2, 2));
}

#[tokio::test]
async fn memory_beyond_the_node_is_refused_with_numbers() {
    let tmp = tempfile::tempdir().unwrap();
    let d = driver(tmp.path(), Arc::new(FakeExec::default())).await;
    let big = BridgeMachineCreate { memory_mib: 2048, ..req() };
    match d.machine_create(big).await {
        Err(BridgeError::InsufficientCapacity(why)) => assert!(why.contains("1024 of 1024"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_restart_undoes_a_half_made_create() {
    let tmp = tempfile::tempdir().unwrap();
    let store = MachineStore::open(tmp.path()).unwrap();
    let half = BridgeMachine {
        id: MachineId::new_random(),
        name: "half".into(),
        kind: Default::default(),
        vcpus: 1,
        memory_mib: 128,
        disk_gib: 1,
        image: None,
        port_forwards: vec![],
        boot_order: vec![],
        cdrom: None,
        host_bridge: None,
        zone: None,
        init_id: None,
        state: MachineState::Creating,
        created_at: now_rfc3339(),
    };
    store.save(&half).unwrap();
    let d = driver(tmp.path(), Arc::new(FakeExec::default())).await;
    assert!(d.machine_list().await.is_empty());
    assert!(!store.machine_dir(half.id).exists());
}

fn init(id: MachineId, revision: u32) -> corral_api::guest::GuestInit {
    corral_api::guest::GuestInit {
        instance_id: corral_api::guest::instance_id(id, revision),
        hostname: "web".into(),
        ssh_keys: vec![],
        user_data: Some(corral_api::guest::UserDataText("#!/bin/sh\necho secret\n".into())),
        network: None,
    }
}

#[tokio::test]
async fn guest_data_becomes_a_seed_that_boots_beside_the_disk_and_a_failed_seed_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let exec = Arc::new(FakeExec::default());
    exec.make_output("xorriso", "-output");
    let d = driver(tmp.path(), exec.clone()).await;
    let mut r = req();
    r.init = Some(init(r.id, 1));
    let (m, _) = d.machine_create(r.clone()).await.unwrap();
    assert_eq!(m.init_id, Some(format!("{}-r1", r.id)));
    let dir = d.paths(r.id).dir.display().to_string();
    let made = commands_of(&exec, "xorriso");
    let words: Vec<&str> = made[0].split(' ').collect();
    assert_eq!(words[..4], ["-as", "mkisofs", "-quiet", "-output"]);
    assert!(words[4].starts_with(&format!("{dir}/seed.out.")) && words[4].ends_with("/seed.iso"), "{made:?}");
    assert_eq!(words[5..9], ["-volid", "cidata", "-joliet", "-rock"]);
    assert!(words[9].starts_with(&format!("{dir}/seed.d.")), "{made:?}");
    let left: Vec<String> = std::fs::read_dir(&d.paths(r.id).dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("seed"))
        .collect();
    assert_eq!(left, ["seed.iso"], "the staged files (they hold the user data) are gone");

    // New data: a new seed, a new instance id.
    let update = BridgeMachineUpdate { init: Some(init(r.id, 2)), ..Default::default() };
    assert_eq!(d.machine_update(r.id, update).await.unwrap().init_id, Some(format!("{}-r2", r.id)));
    assert_eq!(commands_of(&exec, "xorriso").len(), 2);

    // At start the seed is a drive of its own (QEMU fails here, after being asked).
    exec.answer("qemu-system-x86_64", CmdOutput::failed("qemu-system-x86_64: no"));
    assert!(d.machine_power(r.id, PowerAction::Start).await.is_err());
    let line = commands_of(&exec, "qemu-system-x86_64").pop().unwrap();
    assert!(
        line.contains(&format!("file.filename={dir}/seed.iso")) && line.ends_with("-boot strict=on"),
        "{line}"
    );

    // xorriso failing takes the new machine out again, disk never made.
    exec.answer("xorriso", CmdOutput::failed("xorriso : FAILURE : Cannot write"));
    let mut bad = req();
    bad.init = Some(init(bad.id, 1));
    match d.machine_create(bad.clone()).await {
        Err(BridgeError::Host(why)) => assert!(why.contains("FAILURE"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(d.machine_get(bad.id).await.is_err());
    assert!(!d.store.machine_dir(bad.id).exists(), "no directory left behind");
    assert_eq!(commands_of(&exec, "qemu-img").len(), 1, "no disk was made for it");
}
