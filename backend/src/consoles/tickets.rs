//! One-time console tickets: 32 random bytes, valid 30 s, bound to a user, a machine and a
//! console kind, and burnt the first time anyone presents them, whether or not they match.
//!
//! They live in memory: a restarted backend forgets them, which only means a browser asks
//! for a new one (it does so on every connect anyway). Only their SHA-256 is kept, so a
//! memory dump does not hold usable tickets.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use corral_api::console::ConsoleKind;
use corral_api::{MachineId, UserId};
use sha2::Digest;

/// How long a ticket may wait to be used.
pub const TICKET_TTL: Duration = Duration::from_secs(30);

#[derive(Clone, Debug)]
struct Ticket {
    user: UserId,
    machine: MachineId,
    kind: ConsoleKind,
    expires: Instant,
}

/// Why a ticket was refused; said to the browser in the close reason.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("unknown or already used ticket")]
    Unknown,
    #[error("the ticket expired; ask for a new one")]
    Expired,
    #[error("the ticket is for another user, machine or console")]
    Mismatch,
}

#[derive(Clone, Default)]
pub struct Tickets(Arc<Mutex<HashMap<[u8; 32], Ticket>>>);

fn digest(ticket: &str) -> [u8; 32] {
    sha2::Sha256::digest(ticket.as_bytes()).into()
}

impl Tickets {
    /// A new ticket and when it expires.
    pub fn issue(&self, user: UserId, machine: MachineId, kind: ConsoleKind) -> (String, Duration) {
        let mut raw = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut raw);
        let ticket = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let now = Instant::now();
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, t| t.expires > now);
        map.insert(digest(&ticket), Ticket { user, machine, kind, expires: now + TICKET_TTL });
        (ticket, TICKET_TTL)
    }

    /// Burns the ticket and says whether it opens this console for this user.
    pub fn redeem(
        &self,
        ticket: &str,
        user: UserId,
        machine: MachineId,
        kind: ConsoleKind,
    ) -> Result<(), TicketError> {
        let t = self.0.lock().unwrap_or_else(|p| p.into_inner()).remove(&digest(ticket));
        let t = t.ok_or(TicketError::Unknown)?;
        if t.expires <= Instant::now() {
            return Err(TicketError::Expired);
        }
        if t.user != user || t.machine != machine || t.kind != kind {
            return Err(TicketError::Mismatch);
        }
        Ok(())
    }

    #[cfg(test)]
    fn age(&self, by: Duration) {
        for t in self.0.lock().unwrap().values_mut() {
            t.expires -= by;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (UserId, MachineId) {
        (UserId(uuid::Uuid::new_v4()), MachineId(uuid::Uuid::new_v4()))
    }

    #[test]
    fn a_ticket_opens_its_console_once() {
        let t = Tickets::default();
        let (u, m) = ids();
        let (ticket, ttl) = t.issue(u, m, ConsoleKind::Vnc);
        assert_eq!(ttl, Duration::from_secs(30));
        assert_eq!(base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(&ticket).unwrap().len(), 32);
        assert_eq!(t.redeem(&ticket, u, m, ConsoleKind::Vnc), Ok(()));
        assert_eq!(t.redeem(&ticket, u, m, ConsoleKind::Vnc), Err(TicketError::Unknown), "single use");
    }

    #[test]
    fn a_ticket_is_bound_and_burnt_by_any_attempt() {
        let t = Tickets::default();
        let (u, m) = ids();
        let (other_u, other_m) = ids();
        for (user, machine, kind) in
            [(other_u, m, ConsoleKind::Vnc), (u, other_m, ConsoleKind::Vnc), (u, m, ConsoleKind::Serial)]
        {
            let (ticket, _) = t.issue(u, m, ConsoleKind::Vnc);
            assert_eq!(t.redeem(&ticket, user, machine, kind), Err(TicketError::Mismatch));
            assert_eq!(t.redeem(&ticket, u, m, ConsoleKind::Vnc), Err(TicketError::Unknown), "burnt");
        }
        let (ticket, _) = t.issue(u, m, ConsoleKind::Vnc);
        t.age(Duration::from_secs(31));
        assert_eq!(t.redeem(&ticket, u, m, ConsoleKind::Vnc), Err(TicketError::Expired));
        assert_eq!(t.redeem("made-up", u, m, ConsoleKind::Vnc), Err(TicketError::Unknown));
    }
}
