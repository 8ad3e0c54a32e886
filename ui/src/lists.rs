//! How one live event patches the lists the browser shows, so that a list patched by events
//! reads as the server would list it now: machines and nodes in name order (ties by id, as
//! the server sorts them), tasks newest first.

use corral_api::MachineId;
use corral_api::machine::Machine;
use corral_api::node::Node;
use corral_api::task::Task;

/// Replaces the machine with the same id, or adds it; a rename moves it to its new place.
pub fn machine_upsert(ms: &mut Vec<Machine>, machine: Machine) {
    match ms.iter_mut().find(|m| m.id == machine.id) {
        Some(old) => *old = machine,
        None => ms.push(machine),
    }
    // Stable and nearly sorted already: cheap, and equal names keep the server's id order.
    ms.sort_by(|a, b| (a.name.as_str(), a.id).cmp(&(b.name.as_str(), b.id)));
}

pub fn machine_remove(ms: &mut Vec<Machine>, id: MachineId) {
    ms.retain(|m| m.id != id);
}

pub fn node_upsert(ns: &mut Vec<Node>, node: Node) {
    match ns.iter_mut().find(|n| n.id == node.id) {
        Some(old) => *old = node,
        None => ns.push(node),
    }
    ns.sort_by(|a, b| a.name.cmp(&b.name));
}

/// Replaces the task in place (it keeps its place: tasks are ordered by when they started),
/// or puts a task not seen before first. An ended task stays ended: the answer to the request
/// that started it (`running`) can arrive after the event that says it failed.
pub fn task_upsert(ts: &mut Vec<Task>, task: Task) {
    use corral_api::task::TaskState;
    match ts.iter_mut().find(|t| t.task.id == task.task.id) {
        Some(old) if old.task.state != TaskState::Running && task.task.state == TaskState::Running => {}
        Some(old) => *old = task,
        None => ts.insert(0, task),
    }
}

/// A column the machine list sorts by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MachineSort {
    Name,
    Kind,
    State,
    Tenant,
    Node,
    Vcpus,
    Memory,
    Disk,
}

impl MachineSort {
    /// Whether the column reads best largest first when first clicked (sizes), rather than
    /// in alphabetical order.
    pub fn largest_first(self) -> bool {
        matches!(self, Self::Vcpus | Self::Memory | Self::Disk)
    }
}

/// Sorts machines by a column, then by name and id, so equal keys keep a stable order;
/// `tenant` names a machine's tenant for the tenant column.
pub fn machines_sort(
    ms: &mut [Machine],
    by: MachineSort,
    descending: bool,
    tenant: impl Fn(&Machine) -> String,
) {
    use std::cmp::Ordering;
    let key = |a: &Machine, b: &Machine| -> Ordering {
        match by {
            MachineSort::Name => Ordering::Equal,
            MachineSort::Kind => a.kind.as_str().cmp(b.kind.as_str()),
            MachineSort::State => a.state.as_str().cmp(b.state.as_str()),
            MachineSort::Tenant => tenant(a).cmp(&tenant(b)),
            MachineSort::Node => a.node_name.cmp(&b.node_name),
            MachineSort::Vcpus => a.vcpus.cmp(&b.vcpus),
            MachineSort::Memory => a.memory_mib.cmp(&b.memory_mib),
            MachineSort::Disk => a.disk_gib.cmp(&b.disk_gib),
        }
    };
    ms.sort_by(|a, b| {
        let order = key(a, b).then_with(|| (a.name.as_str(), a.id).cmp(&(b.name.as_str(), b.id)));
        if descending { order.reverse() } else { order }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::machine::MachineState;
    use corral_api::task::TaskState;
    use serde_json::json;

    fn machine(id: u128, name: &str, state: &str) -> Machine {
        serde_json::from_value(json!({
            "id": uuid(id), "name": name, "kind": "vm", "tenant_id": null, "node_id": uuid(99), "node_name": "n1",
            "vcpus": 1, "memory_mib": 256, "disk_gib": 1, "image": null, "port_forwards": [],
            "boot_order": [], "cdrom": null, "host_bridge": null, "state": state, "managed": true,
            "created_at": "2026-12-05T00:00:00Z", "updated_at": "2026-12-05T00:00:00Z",
        }))
        .unwrap()
    }

    fn task(id: u128, state: &str) -> Task {
        serde_json::from_value(json!({
            "id": uuid(id), "node_id": uuid(99), "node_name": "n1", "tenant_id": null,
            "kind": "machine_create", "machine_id": null, "target": "", "state": state,
            "steps": [], "progress": 0, "log": [], "result": null, "error": null,
            "started_at": "2026-12-05T00:00:00Z", "finished_at": null,
        }))
        .unwrap()
    }

    fn uuid(n: u128) -> String {
        format!("00000000-0000-4000-8000-{n:012x}")
    }

    fn names(ms: &[Machine]) -> Vec<&str> {
        ms.iter().map(|m| m.name.as_str()).collect()
    }

    #[test]
    fn machines_sort_by_a_column_then_by_name() {
        let mut ms =
            vec![machine(1, "web", "running"), machine(2, "db", "stopped"), machine(3, "app", "running")];
        ms[0].memory_mib = 1024;
        ms[2].memory_mib = 1024;
        let none = |_: &Machine| String::new();
        machines_sort(&mut ms, MachineSort::State, false, none);
        assert_eq!(names(&ms), ["app", "web", "db"]);
        machines_sort(&mut ms, MachineSort::Memory, true, none);
        assert_eq!(names(&ms), ["web", "app", "db"], "largest first, ties by name reversed");
        machines_sort(&mut ms, MachineSort::Name, false, none);
        assert_eq!(names(&ms), ["app", "db", "web"]);
        let tenant = |m: &Machine| if m.name == "db" { "acme".to_string() } else { "zeta".to_string() };
        machines_sort(&mut ms, MachineSort::Tenant, false, tenant);
        assert_eq!(names(&ms), ["db", "app", "web"]);
        assert!(MachineSort::Disk.largest_first() && !MachineSort::Node.largest_first());
    }

    #[test]
    fn machines_stay_in_name_order_through_adds_renames_and_removals() {
        let mut ms = vec![machine(1, "b", "running")];
        machine_upsert(&mut ms, machine(2, "a", "creating"));
        machine_upsert(&mut ms, machine(3, "c", "stopped"));
        assert_eq!(names(&ms), ["a", "b", "c"]);

        // An update replaces the row (no duplicate), and a rename moves it.
        machine_upsert(&mut ms, machine(2, "d", "running"));
        assert_eq!(names(&ms), ["b", "c", "d"]);
        assert_eq!((ms[2].state, ms[2].id.to_string()), (MachineState::Running, uuid(2)));

        // Equal names keep the server's order: by id.
        machine_upsert(&mut ms, machine(0, "c", "stopped"));
        let cs: Vec<_> = ms.iter().filter(|m| m.name == "c").map(|m| m.id.to_string()).collect();
        assert_eq!(cs, [uuid(0), uuid(3)]);

        machine_remove(&mut ms, machine(1, "b", "running").id);
        machine_remove(&mut ms, machine(42, "x", "running").id);
        assert_eq!(names(&ms), ["c", "c", "d"]);
    }

    #[test]
    fn a_new_task_goes_first_and_an_update_keeps_its_place() {
        let mut ts = vec![task(1, "running"), task(2, "succeeded")];
        task_upsert(&mut ts, task(3, "running"));
        task_upsert(&mut ts, task(1, "failed"));
        let seen: Vec<_> = ts.iter().map(|t| (t.task.id.to_string(), t.task.state)).collect();
        assert_eq!(
            seen,
            [(uuid(3), TaskState::Running), (uuid(1), TaskState::Failed), (uuid(2), TaskState::Succeeded)]
        );
        // The start's answer, arriving after the failure, leaves it failed.
        task_upsert(&mut ts, task(1, "running"));
        assert_eq!(ts[1].task.state, TaskState::Failed);
    }
}
