//! Browser consoles: one-time tickets (`tickets`), the one writer of each serial line
//! (`SerialWriters`), and the relay that joins a browser's websocket to the bridge's console
//! byte stream (`relay`), copying bytes without looking inside them.

pub mod relay;
pub mod tickets;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use corral_api::MachineId;
use tokio::sync::oneshot;

pub use tickets::Tickets;

/// Who types on each machine's serial console. A second user is refused unless they take it
/// over, and then the first is told by whom.
#[derive(Clone, Default)]
pub struct SerialWriters {
    held: Arc<Mutex<HashMap<MachineId, Holder>>>,
    next: Arc<AtomicU64>,
}

struct Holder {
    session: u64,
    username: String,
    kick: oneshot::Sender<String>,
}

/// A claim on a serial console: released when dropped.
pub struct SerialClaim {
    writers: SerialWriters,
    machine: MachineId,
    session: u64,
    /// Fires with the reason when someone takes the console over (taken by the relay).
    pub kicked: Option<oneshot::Receiver<String>>,
}

impl SerialWriters {
    /// Claims the console for `username`; `Err(holder)` when someone else has it and
    /// `takeover` is not set.
    pub fn claim(&self, machine: MachineId, username: &str, takeover: bool) -> Result<SerialClaim, String> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(h) = held.get(&machine)
            && !h.kick.is_closed()
            && !takeover
        {
            return Err(h.username.clone());
        }
        let (kick, kicked) = oneshot::channel();
        let session = self.next.fetch_add(1, Ordering::Relaxed);
        if let Some(old) = held.insert(machine, Holder { session, username: username.to_string(), kick }) {
            let _ = old.kick.send(format!("taken over by {username}"));
        }
        Ok(SerialClaim { writers: self.clone(), machine, session, kicked: Some(kicked) })
    }
}

impl Drop for SerialClaim {
    fn drop(&mut self) {
        let mut held = self.writers.held.lock().unwrap_or_else(|p| p.into_inner());
        if held.get(&self.machine).is_some_and(|h| h.session == self.session) {
            held.remove(&self.machine);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_writer_and_an_explicit_takeover() {
        let w = SerialWriters::default();
        let m = MachineId(uuid::Uuid::new_v4());
        let mut alice = w.claim(m, "alice", false).unwrap();
        assert_eq!(w.claim(m, "bob", false).err().as_deref(), Some("alice"));
        let bob = w.claim(m, "bob", true).unwrap();
        assert_eq!(alice.kicked.as_mut().unwrap().try_recv().unwrap(), "taken over by bob");
        drop(alice);
        assert_eq!(w.claim(m, "carol", false).err().as_deref(), Some("bob"), "alice leaving frees nothing");
        drop(bob);
        assert!(w.claim(m, "carol", false).is_ok(), "free once bob is gone");
    }
}
