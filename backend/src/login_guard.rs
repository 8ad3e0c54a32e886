//! Failed-login limits that slow an attacker without locking the owner out.
//!
//! Failures are counted per account *and source address*: after three, each further try of
//! that account from that address must wait, twice as long each time (2 s, 4 s, … up to
//! 15 min). Someone hammering `admin` from one address slows only themselves; the real admin,
//! from anywhere else, logs in at once. A source that fails on many accounts is refused for a
//! while (30 failures in 15 min). IPv6 sources count by their /64, which one host usually
//! holds whole. An attempt counts as failed from the moment it is let through (so a burst of
//! parallel guesses is counted as it arrives, not after the password checks end); a
//! successful login takes its own count back and clears its account's count from that
//! source.
//!
//! Kept in memory and bounded: a restart forgets the counts, which only hands an attacker one
//! more window; past `MAX_ENTRIES` the oldest are dropped.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures are remembered this long after the last one.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures of one account from one source before each try must wait.
pub const FREE_TRIES: u32 = 3;
/// The longest wait between tries of one account from one source.
pub const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Failures from one source within the window before it is refused.
pub const PER_SOURCE: usize = 30;
/// The most (account, source) pairs and sources remembered.
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Default)]
pub struct LoginGuard(Arc<Mutex<Counts>>);

#[derive(Default)]
struct Counts {
    pairs: HashMap<(String, String), Pair>,
    sources: HashMap<String, VecDeque<Instant>>,
}

struct Pair {
    failures: u32,
    last: Instant,
}

impl Pair {
    /// How long after the last failure the next try may come.
    fn delay(&self) -> Duration {
        let over = self.failures.saturating_sub(FREE_TRIES);
        if over == 0 {
            return Duration::ZERO;
        }
        Duration::from_secs(1u64 << over.min(20)).min(MAX_DELAY)
    }
}

/// What a source is counted as: an IPv4 address, an IPv6 /64, or `unknown`.
fn source_key(source: Option<IpAddr>) -> String {
    match source {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        None => "unknown".into(),
    }
}

fn secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

impl LoginGuard {
    /// Lets one login attempt through, counted as a failure until it `succeeded`; or
    /// `Err((message, seconds))` when this login must not be tried now.
    pub fn attempt(&self, username: &str, source: Option<IpAddr>) -> Result<(), (String, u64)> {
        self.check(username, source)?;
        self.failed(username, source);
        Ok(())
    }

    /// `Err((message, seconds))` when this login must not be tried now.
    pub fn check(&self, username: &str, source: Option<IpAddr>) -> Result<(), (String, u64)> {
        let now = Instant::now();
        let src = source_key(source);
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = c.sources.get_mut(&src) {
            while log.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
                log.pop_front();
            }
            if log.len() >= PER_SOURCE {
                let wait =
                    log.front().map(|t| WINDOW.saturating_sub(now.duration_since(*t))).unwrap_or_default();
                let s = secs(wait).max(1);
                return Err((format!("too many failed logins from your address; try again in {s} s"), s));
            }
        }
        if let Some(pair) = c.pairs.get(&(username.to_string(), src)) {
            let ready = pair.last + pair.delay();
            if now < ready {
                let s = secs(ready - now).max(1);
                return Err((
                    format!("too many failed logins for this account from your address; try again in {s} s"),
                    s,
                ));
            }
        }
        Ok(())
    }

    fn failed(&self, username: &str, source: Option<IpAddr>) {
        let now = Instant::now();
        let src = source_key(source);
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if c.pairs.len() + c.sources.len() >= MAX_ENTRIES {
            c.forget_old(now);
        }
        let pair =
            c.pairs.entry((username.to_string(), src.clone())).or_insert(Pair { failures: 0, last: now });
        pair.failures += 1;
        pair.last = now;
        c.sources.entry(src).or_default().push_back(now);
    }

    /// Clears the account's count from this source, and takes back the source's count for
    /// this attempt. The source's earlier failures stand: logging in to one's own account
    /// must not buy more guesses at others'.
    pub fn succeeded(&self, username: &str, source: Option<IpAddr>) {
        let src = source_key(source);
        let mut c = self.0.lock().unwrap_or_else(|p| p.into_inner());
        c.pairs.remove(&(username.to_string(), src.clone()));
        if let Some(log) = c.sources.get_mut(&src) {
            log.pop_back();
        }
    }
}

impl Counts {
    /// Drops what the window no longer holds, and if that is not enough, everything older
    /// than the newest half (an attacker with endless addresses only forgets themselves).
    fn forget_old(&mut self, now: Instant) {
        self.pairs.retain(|_, p| now.duration_since(p.last) < WINDOW + p.delay());
        self.sources.retain(|_, log| log.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
        if self.pairs.len() + self.sources.len() >= MAX_ENTRIES {
            let mut times: Vec<Instant> = self.pairs.values().map(|p| p.last).collect();
            times.sort_unstable();
            let cut = times.get(times.len() / 2).copied().unwrap_or(now);
            self.pairs.retain(|_, p| p.last >= cut);
            self.sources.retain(|_, log| log.back().is_some_and(|t| *t >= cut));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn an_attacker_slows_only_themselves() {
        let g = LoginGuard::default();
        for _ in 0..FREE_TRIES {
            assert!(g.check("admin", ip("10.0.0.66")).is_ok());
            g.failed("admin", ip("10.0.0.66"));
        }
        // Past the free tries, each one waits twice as long as the last.
        assert!(g.check("admin", ip("10.0.0.66")).is_ok());
        g.failed("admin", ip("10.0.0.66"));
        let (msg, wait) = g.check("admin", ip("10.0.0.66")).unwrap_err();
        assert!(msg.contains("this account from your address") && wait == 2, "{msg} {wait}");
        g.failed("admin", ip("10.0.0.66"));
        assert_eq!(g.check("admin", ip("10.0.0.66")).unwrap_err().1, 4);
        // The owner, elsewhere, is not held up at all.
        assert!(g.check("admin", ip("10.0.0.7")).is_ok());
        g.succeeded("admin", ip("10.0.0.7"));
        assert!(g.check("admin", ip("10.0.0.66")).is_err(), "the attacker's wait stands");
    }

    #[test]
    fn a_source_trying_many_accounts_is_refused_and_ipv6_counts_by_its_64() {
        let g = LoginGuard::default();
        for i in 0..PER_SOURCE {
            g.failed(&format!("user{i}"), ip(&format!("2001:db8:1:2::{i:x}")));
        }
        let (msg, _) = g.check("fresh", ip("2001:db8:1:2:ffff::1")).unwrap_err();
        assert!(msg.contains("your address"), "{msg}");
        assert!(g.check("fresh", ip("2001:db8:1:3::1")).is_ok(), "another /64 is another source");
    }

    #[test]
    fn waits_are_capped() {
        let p = Pair { failures: 200, last: Instant::now() };
        assert_eq!(p.delay(), MAX_DELAY);
        assert_eq!(Pair { failures: FREE_TRIES, last: Instant::now() }.delay(), Duration::ZERO);
    }

    #[test]
    fn a_burst_of_parallel_guesses_is_counted_as_it_arrives() {
        let g = LoginGuard::default();
        // Attempts let through before any password check ended: each already counts.
        let through = (0..10).filter(|_| g.attempt("admin", ip("10.0.0.66")).is_ok()).count();
        assert_eq!(through, FREE_TRIES as usize + 1);
        // A success takes its own count back and the owner's address is clean.
        assert!(g.attempt("admin", ip("10.0.0.7")).is_ok());
        g.succeeded("admin", ip("10.0.0.7"));
        assert!(g.check("admin", ip("10.0.0.7")).is_ok());
    }
}
