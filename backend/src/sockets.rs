//! Limits on long-lived sockets (consoles, event streams): how large a message a browser may
//! send, and how many sockets one person may hold open, so no user can pin the backend's
//! memory or its file descriptors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use corral_api::UserId;

use crate::error::ApiError;

/// Sockets one person may have open at once: many tabs, each with an events socket and a
/// console or two, fit with room to spare.
pub const PER_USER: usize = 32;
/// The largest message a browser sends on a console (a pasted text, an RFB client message).
pub const CONSOLE_MESSAGE_MAX: usize = 256 << 10;
/// The events socket carries nothing from the browser but pings and its close.
pub const EVENTS_MESSAGE_MAX: usize = 4 << 10;

/// The open sockets of each person.
#[derive(Clone, Default)]
pub struct OpenSockets(Arc<Mutex<HashMap<UserId, usize>>>);

/// One open socket, counted until dropped.
#[derive(Debug)]
pub struct SocketSlot {
    sockets: OpenSockets,
    user: UserId,
}

impl std::fmt::Debug for OpenSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenSockets").finish_non_exhaustive()
    }
}

impl OpenSockets {
    /// A slot for one more socket of `user`, or 429 when they hold `PER_USER` already.
    pub fn take(&self, user: UserId) -> Result<SocketSlot, ApiError> {
        let mut open = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(user).or_default();
        if *n >= PER_USER {
            return Err(ApiError::TooManyAttempts {
                message: format!("you have {PER_USER} consoles and event streams open: close some first"),
                retry_after_secs: 5,
            });
        }
        *n += 1;
        Ok(SocketSlot { sockets: self.clone(), user })
    }
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.sockets.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_holds_at_most_per_user_sockets_and_closing_one_frees_it() {
        let s = OpenSockets::default();
        let (me, other) = (UserId(uuid::Uuid::new_v4()), UserId(uuid::Uuid::new_v4()));
        let mut held: Vec<SocketSlot> = (0..PER_USER).map(|_| s.take(me).unwrap()).collect();
        assert!(s.take(me).is_err());
        assert!(s.take(other).is_ok(), "others are not affected");
        held.pop();
        assert!(s.take(me).is_ok());
    }
}
