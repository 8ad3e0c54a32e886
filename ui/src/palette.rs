//! The command palette's search: pages, machines, nodes and tenants, and actions on machines,
//! found by typing part of their name. Matching and ranking live here, so they are tested
//! natively; the palette itself (components/palette.rs) only draws and runs.

use corral_api::machine::MachineState;
use corral_api::spec::PowerAction;

/// What an entry does when chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Act {
    /// Go to this path of the app.
    Go(String),
    /// Ask for this power action on the machine with this id.
    Power(String, PowerAction),
}

/// The power actions the palette offers on a machine in `state`, with their verbs: only
/// those that lose nothing (a shutdown or a reset asks first, on the machine's page).
pub fn power_actions(state: MachineState) -> &'static [(PowerAction, &'static str)] {
    match state {
        MachineState::Stopped | MachineState::Failed => &[(PowerAction::Start, "Start")],
        MachineState::Paused => &[(PowerAction::Resume, "Resume")],
        _ => &[],
    }
}

/// One thing the palette can find.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// What the user reads and types: "web-1", "Start web-1", "Tasks".
    pub label: String,
    /// What it is: "machine", "node", "tenant", "page", "action".
    pub kind: &'static str,
    pub act: Act,
}

impl Entry {
    pub fn new(label: impl Into<String>, kind: &'static str, act: Act) -> Entry {
        Entry { label: label.into(), kind, act }
    }
}

/// How well `label` matches `query` (lowercase, trimmed); `None` when it does not. Lower is
/// better: the whole label, then its start, then the start of a word, then anywhere, then
/// the query's letters in order (so "wb1" finds "web-1").
fn rank(label: &str, query: &str) -> Option<u8> {
    let l = label.to_lowercase();
    if l == query {
        return Some(0);
    }
    if l.starts_with(query) {
        return Some(1);
    }
    let word_start =
        l.match_indices(query).any(|(i, _)| l[..i].chars().next_back().is_none_or(|c| !c.is_alphanumeric()));
    if word_start {
        return Some(2);
    }
    if l.contains(query) {
        return Some(3);
    }
    let mut chars = l.chars();
    query.chars().all(|q| chars.by_ref().any(|c| c == q)).then_some(4)
}

/// The entries matching `query`, best first, at most `max`; with an empty query, the first
/// `max` entries as given (the pages, in the app's order).
pub fn search(entries: &[Entry], query: &str, max: usize) -> Vec<Entry> {
    let q = query.trim().to_lowercase();
    if q.is_empty() {
        return entries.iter().take(max).cloned().collect();
    }
    let mut found: Vec<(u8, usize, &Entry)> =
        entries.iter().enumerate().filter_map(|(i, e)| rank(&e.label, &q).map(|r| (r, i, e))).collect();
    found.sort_by_key(|(r, i, e)| (*r, e.label.len(), *i));
    found.into_iter().take(max).map(|(_, _, e)| e.clone()).collect()
}

/// The index of the option after `from` moving by `step` (±1) among `len`, wrapping around.
pub fn step(from: usize, step: isize, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (from as isize + step).rem_euclid(len as isize) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries() -> Vec<Entry> {
        vec![
            Entry::new("Dashboard", "page", Act::Go("/".into())),
            Entry::new("Machines", "page", Act::Go("/machines".into())),
            Entry::new("web-1", "machine", Act::Go("/machines/a".into())),
            Entry::new("Start web-1", "action", Act::Power("a".into(), PowerAction::Start)),
            Entry::new("db-web", "machine", Act::Go("/machines/b".into())),
            Entry::new("web", "machine", Act::Go("/machines/c".into())),
        ]
    }

    fn labels(v: &[Entry]) -> Vec<&str> {
        v.iter().map(|e| e.label.as_str()).collect()
    }

    #[test]
    fn the_best_match_comes_first() {
        let all = entries();
        assert_eq!(labels(&search(&all, " Web ", 10)), ["web", "web-1", "db-web", "Start web-1"]);
        assert_eq!(labels(&search(&all, "wb1", 10)), ["web-1", "Start web-1"], "letters in order");
        assert_eq!(labels(&search(&all, "mach", 10)), ["Machines"]);
        assert!(search(&all, "zzz", 10).is_empty());
        assert_eq!(labels(&search(&all, "", 2)), ["Dashboard", "Machines"], "nothing typed: the pages");
        assert_eq!(search(&all, "web", 1).len(), 1);
    }

    #[test]
    fn only_actions_that_lose_nothing_are_offered() {
        let verbs = |s| power_actions(s).iter().map(|(_, v)| *v).collect::<Vec<_>>();
        assert_eq!(verbs(MachineState::Stopped), ["Start"]);
        assert_eq!(verbs(MachineState::Failed), ["Start"]);
        assert_eq!(verbs(MachineState::Paused), ["Resume"]);
        for busy in
            [MachineState::Running, MachineState::Creating, MachineState::Deleting, MachineState::Lost]
        {
            assert!(power_actions(busy).is_empty(), "{busy:?}");
        }
    }

    #[test]
    fn arrows_wrap_around() {
        assert_eq!(step(0, -1, 3), 2);
        assert_eq!(step(2, 1, 3), 0);
        assert_eq!(step(1, 1, 3), 2);
        assert_eq!(step(0, 1, 0), 0);
    }
}
