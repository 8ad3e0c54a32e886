//! The audit log as the page shows it: targets by name with a link where there is a page,
//! and runs of identical refusals (a script or a console retrying) folded into one row.

use corral_api::audit::AuditEntry;

/// What an entry's target is, in words, and where its page is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub label: String,
    pub href: Option<String>,
}

/// What the page knows by id, to name targets: `kind` is `machine`, `tenant`, `node` or
/// `user`; `None` when it does not know (a deleted machine, a user an owner cannot list).
pub trait Names {
    fn name(&self, kind: &str, id: &str) -> Option<String>;
}

impl<F: Fn(&str, &str) -> Option<String>> Names for F {
    fn name(&self, kind: &str, id: &str) -> Option<String> {
        self(kind, id)
    }
}

/// The first characters of an id, enough to tell ids apart on screen.
fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// An entry's target (`machine:<id>`, `snapshot:<name>`, …) named and linked.
pub fn target(e: &AuditEntry, names: &impl Names) -> Option<Target> {
    let raw = e.target.as_deref()?;
    let (kind, value) = raw.split_once(':').unwrap_or(("", raw));
    let named = |kind: &str| names.name(kind, value);
    let t = match kind {
        "machine" => Target {
            label: named("machine").unwrap_or_else(|| format!("machine {} (gone)", short(value))),
            href: Some(format!("/machines/{value}")),
        },
        "tenant" => Target {
            label: named("tenant")
                .map_or_else(|| format!("tenant {}", short(value)), |n| format!("tenant {n}")),
            href: Some(format!("/admin/tenants/{value}")),
        },
        "snapshot" => Target {
            label: format!("snapshot {value}"),
            href: e.machine_id.map(|m| format!("/machines/{m}/snapshots")),
        },
        "node" => Target {
            label: named("node").map_or_else(|| format!("node {}", short(value)), |n| format!("node {n}")),
            href: None,
        },
        "user" | "member" => Target {
            label: named("user").map_or_else(|| format!("user {}", short(value)), |n| format!("user {n}")),
            href: None,
        },
        "token" => Target { label: format!("token {}", short(value)), href: None },
        _ => Target { label: raw.to_string(), href: None },
    };
    Some(t)
}

/// A row of the log: an entry, and how many identical refusals in a row it stands for (the
/// oldest's time beside it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Row {
    pub entry: AuditEntry,
    pub repeats: usize,
    pub first_at: String,
}

fn same_refusal(a: &AuditEntry, b: &AuditEntry) -> bool {
    a.result != "ok"
        && (&a.user_id, &a.username, &a.token_id, &a.action, &a.target, &a.result, &a.source)
            == (&b.user_id, &b.username, &b.token_id, &b.action, &b.target, &b.result, &b.source)
}

/// Folds runs of identical refusals (same who, action, target, result and source, one after
/// another) into one row; successes always stand alone. `entries` are newest first.
pub fn fold(entries: Vec<AuditEntry>) -> Vec<Row> {
    let mut rows: Vec<Row> = Vec::new();
    for e in entries {
        match rows.last_mut() {
            Some(last) if same_refusal(&last.entry, &e) => {
                last.repeats += 1;
                last.first_at = e.at;
            }
            _ => rows.push(Row { first_at: e.at.clone(), entry: e, repeats: 1 }),
        }
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: i64, action: &str, target: &str, result: &str) -> AuditEntry {
        AuditEntry {
            seq,
            at: format!("2026-12-06T21:00:{seq:02}Z"),
            user_id: None,
            username: Some("olive".into()),
            token_id: None,
            tenant_id: None,
            action: action.into(),
            target: Some(target.into()),
            machine_id: None,
            result: result.into(),
            source: Some("127.0.0.1".into()),
        }
    }

    #[test]
    fn a_retrying_console_is_one_row_and_successes_stand_alone() {
        let m = "machine:00000000-0000-4000-8000-000000000001";
        let newest_first = vec![
            entry(9, "console.create", m, "409 conflict"),
            entry(8, "console.create", m, "409 conflict"),
            entry(7, "console.create", m, "409 conflict"),
            entry(6, "machine.stop", m, "ok"),
            entry(5, "machine.start", m, "ok"),
            entry(4, "machine.start", m, "ok"),
            entry(3, "console.create", m, "409 conflict"),
        ];
        let rows = fold(newest_first);
        let shape: Vec<(i64, usize, &str)> =
            rows.iter().map(|r| (r.entry.seq, r.repeats, r.first_at.as_str())).collect();
        assert_eq!(
            shape,
            [
                (9, 3, "2026-12-06T21:00:07Z"),
                (6, 1, "2026-12-06T21:00:06Z"),
                (5, 1, "2026-12-06T21:00:05Z"),
                (4, 1, "2026-12-06T21:00:04Z"),
                (3, 1, "2026-12-06T21:00:03Z"),
            ]
        );
    }

    #[test]
    fn targets_are_named_and_linked_where_a_page_is() {
        let id = "0a1b2c3d-0000-4000-8000-000000000001";
        let names = |kind: &str, v: &str| match (kind, v == id) {
            ("machine", true) => Some("web".to_string()),
            ("tenant", true) => Some("acme".to_string()),
            _ => None,
        };
        let at = |t: &str| target(&entry(1, "x", t, "ok"), &names).unwrap();
        assert_eq!(
            at(&format!("machine:{id}")),
            Target { label: "web".into(), href: Some(format!("/machines/{id}")) }
        );
        assert_eq!(at("machine:ffffffff-0000-4000-8000-000000000009").label, "machine ffffffff (gone)");
        assert_eq!(at(&format!("tenant:{id}")).label, "tenant acme");
        let mut snap = entry(1, "snapshot.create", "snapshot:s1", "ok");
        snap.machine_id = Some(id.parse().unwrap());
        assert_eq!(target(&snap, &names).unwrap().href, Some(format!("/machines/{id}/snapshots")));
        assert_eq!(at("user:admin").label, "user admin");
        assert_eq!(at("something").label, "something");
        let mut none = entry(1, "session.login", "x", "ok");
        none.target = None;
        assert_eq!(target(&none, &names), None);
    }
}
