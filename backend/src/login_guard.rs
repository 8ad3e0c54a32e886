//! Failed-login limits: per account (so one account cannot be guessed at) and per source
//! address (so one client cannot try many accounts). A limited login is refused before the
//! password is even checked, with how long to wait. A successful login clears its account.
//!
//! Kept in memory: a restart forgets the counts, which only hands an attacker one more window.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures remembered for this long.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures per account within the window before it is locked.
pub const PER_ACCOUNT: usize = 5;
/// Failures per source address within the window before it is refused.
pub const PER_SOURCE: usize = 30;

#[derive(Clone, Default)]
pub struct LoginGuard(Arc<Mutex<Counts>>);

#[derive(Default)]
struct Counts {
    accounts: HashMap<String, VecDeque<Instant>>,
    sources: HashMap<String, VecDeque<Instant>>,
}

/// How long until `log` (pruned to the window) has room under `limit`, if it has none.
fn wait(log: &mut VecDeque<Instant>, limit: usize, now: Instant) -> Option<Duration> {
    while log.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
        log.pop_front();
    }
    (log.len() >= limit)
        .then(|| log.front().map(|t| WINDOW.saturating_sub(now.duration_since(*t))).unwrap_or_default())
}

impl LoginGuard {
    /// `Err((message, seconds))` when this login must not be tried now.
    pub fn check(&self, username: &str, source: Option<&str>) -> Result<(), (String, u64)> {
        let now = Instant::now();
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let secs = |d: Duration| d.as_secs().max(1);
        if let Some(log) = c.accounts.get_mut(username)
            && let Some(d) = wait(log, PER_ACCOUNT, now)
        {
            return Err((
                format!("too many failed logins for this account; try again in {} s", secs(d)),
                secs(d),
            ));
        }
        if let Some(src) = source
            && let Some(log) = c.sources.get_mut(src)
            && let Some(d) = wait(log, PER_SOURCE, now)
        {
            return Err((
                format!("too many failed logins from your address; try again in {} s", secs(d)),
                secs(d),
            ));
        }
        Ok(())
    }

    pub fn failed(&self, username: &str, source: Option<&str>) {
        let now = Instant::now();
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        c.accounts.entry(username.to_string()).or_default().push_back(now);
        if let Some(src) = source {
            c.sources.entry(src.to_string()).or_default().push_back(now);
        }
    }

    pub fn succeeded(&self, username: &str) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).accounts.remove(username);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_locks_after_five_failures_and_a_source_after_thirty() {
        let g = LoginGuard::default();
        for _ in 0..PER_ACCOUNT {
            assert!(g.check("olive", Some("10.0.0.1")).is_ok());
            g.failed("olive", Some("10.0.0.1"));
        }
        let (msg, secs) = g.check("olive", Some("10.0.0.9")).unwrap_err();
        assert!(msg.contains("this account") && secs > 800, "{msg} {secs}");
        assert!(g.check("sam", Some("10.0.0.1")).is_ok(), "others are not locked out");
        for i in 0..PER_SOURCE {
            g.failed(&format!("user{i}"), Some("10.0.0.2"));
        }
        assert!(g.check("fresh", Some("10.0.0.2")).unwrap_err().0.contains("your address"));
        g.succeeded("olive");
        assert!(g.check("olive", Some("10.0.0.3")).is_ok());
    }
}
