//! Revocation that reaches open connections. Requests load their user afresh every time, but
//! a console or an events socket lives for hours on what was true when it opened. So every
//! change to someone's access (disabled, removed from a tenant, demoted, logged out, a token
//! revoked, a password changed) is announced here, and each open connection of that person
//! checks again at once: its credential must still stand and its rule must still hold, or it
//! is closed with the reason. A periodic check catches what is not announced (a session or a
//! token that expires).

use std::time::Duration;

use corral_api::UserId;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::Actor;
use crate::state::AppState;

/// How often an open connection checks its access when nothing was announced.
pub const RECHECK: Duration = Duration::from_secs(30);

/// Announcements of whose access changed.
#[derive(Clone)]
pub struct AccessChanges(broadcast::Sender<UserId>);

impl Default for AccessChanges {
    fn default() -> Self {
        Self(broadcast::channel(1024).0)
    }
}

impl AccessChanges {
    /// Tells every open connection of `user` to check its access again. Nobody listening is
    /// fine.
    pub fn changed(&self, user: UserId) {
        let _ = self.0.send(user);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<UserId> {
        self.0.subscribe()
    }
}

/// Follows `actor`'s access while a connection is open: resolves, with the reason to show,
/// once their credential no longer stands or `still_allowed` no longer holds for them.
/// `actor` is kept fresh, so a connection that checks per message sees current roles.
///
/// `changes` must be subscribed when the request was authenticated (before the upgrade), and
/// the first check runs at once: a change announced while the socket was being set up is
/// then seen, not missed.
pub async fn until_revoked(
    state: &AppState,
    mut changes: broadcast::Receiver<UserId>,
    actor: &tokio::sync::watch::Sender<Actor>,
    still_allowed: impl Fn(&Actor) -> bool,
) -> String {
    let mut tick = tokio::time::interval(RECHECK);
    tick.reset();
    let me = actor.borrow().id;
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            tokio::select! {
                change = changes.recv() => match change {
                    Ok(user) if user != me => continue,
                    // Missed announcements may have been ours: check.
                    Ok(_) | Err(RecvError::Lagged(_)) => {}
                    Err(RecvError::Closed) => return "the server is shutting down".into(),
                },
                _ = tick.tick() => {}
            }
        }
        let current = actor.borrow().clone();
        match current.reload(state).await {
            Ok(None) => return "your session ended".into(),
            Ok(Some(fresh)) if !still_allowed(&fresh) => return "your access was withdrawn".into(),
            Ok(Some(fresh)) => {
                actor.send_replace(fresh);
            }
            Err(e) => tracing::warn!(user = %me, error = %e, "rechecking an open connection's access"),
        }
    }
}
