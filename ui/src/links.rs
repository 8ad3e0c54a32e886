//! How the app's websockets say how they are, and when they try again after they drop: the
//! events socket (behind the header's link indicator) and each console.

use std::time::Duration;

/// The wait before the events socket's reconnect attempt `attempt` (0 for the first): 0.5 s,
/// doubling, never more than 15 s, so a page left open through an outage comes back within
/// 15 s of the server without hammering it meanwhile.
pub fn events_reconnect_delay(attempt: u32) -> Duration {
    Duration::from_millis((500u64 << attempt.min(5)).min(15_000))
}

/// Seconds before a console's reconnect attempt `attempt` (0 for the first): 1, 2, 4, 8,
/// then 15. A console reconnects more slowly than the events socket: each attempt asks for a
/// ticket, and a guest that rebooted takes seconds to have a screen again.
pub fn console_backoff_secs(attempt: u32) -> u32 {
    (1u32 << attempt.min(4)).min(15)
}

/// Why a console closed, in words: the server's reason when it gave one.
pub fn close_reason(code: u16, reason: &str) -> String {
    match (code, reason.is_empty()) {
        (_, false) => reason.to_string(),
        (1000, true) => "closed".into(),
        (corral_api::console::close::MACHINE_STOPPED, true) => "the machine stopped".into(),
        _ => "the connection dropped".into(),
    }
}

/// How a console's link is, as its status line says.
#[derive(Clone, Debug, PartialEq)]
pub enum Link {
    Connecting,
    Connected,
    /// Closed; the reason, and the seconds until the next attempt (if one is planned).
    Closed {
        reason: String,
        retry_in: Option<u32>,
    },
    /// The machine is not running: no attempt until it is (a retry would only be refused,
    /// and every refusal is a line in the audit log).
    WaitingForStart {
        reason: String,
    },
}

impl Link {
    pub fn label(&self) -> String {
        match self {
            Link::Connecting => "connecting…".into(),
            Link::Connected => "connected".into(),
            Link::Closed { reason, retry_in: Some(s) } => format!("{reason} — reconnecting in {s} s"),
            Link::Closed { reason, retry_in: None } => reason.clone(),
            Link::WaitingForStart { reason } => format!("{reason} — reconnects when it runs"),
        }
    }

    pub fn waits_for_start(&self) -> bool {
        matches!(self, Link::WaitingForStart { .. })
    }
}

/// Why a console is not connected.
#[derive(Clone, Copy, Debug)]
pub enum Dropped<'a> {
    /// The ticket was refused: the HTTP status (0 when no answer came) and the server's words.
    TicketRefused { status: u16, message: &'a str },
    /// The socket closed: its code and reason.
    Closed { code: u16, reason: &'a str },
}

/// What a console does after `dropped`, on its attempt `attempt` (1 for the first retry):
/// try again with backoff (a guest rebooting, a node coming back), wait for the machine to
/// run (409 from the ticket, or closed because it stopped), or stop (access gone, the line
/// taken by someone else: another try would be refused the same way).
pub fn after(dropped: Dropped<'_>, attempt: u32) -> Link {
    use corral_api::console::close;
    let retry = |reason: String| Link::Closed { reason, retry_in: Some(console_backoff_secs(attempt)) };
    match dropped {
        Dropped::TicketRefused { status: 409, message } => {
            Link::WaitingForStart { reason: message.to_string() }
        }
        Dropped::TicketRefused { status: 401 | 403 | 404, message } => {
            Link::Closed { reason: message.to_string(), retry_in: None }
        }
        Dropped::TicketRefused { message, .. } => retry(message.to_string()),
        Dropped::Closed { code, reason } => {
            let reason = close_reason(code, reason);
            match code {
                close::MACHINE_STOPPED => Link::WaitingForStart { reason },
                close::ACCESS_REVOKED | close::IN_USE | close::TAKEN_OVER => {
                    Link::Closed { reason, retry_in: None }
                }
                _ => retry(reason),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_waits_double_from_half_a_second_up_to_fifteen() {
        let waits: Vec<u128> = (0..8).map(|n| events_reconnect_delay(n).as_millis()).collect();
        assert_eq!(waits, [500, 1_000, 2_000, 4_000, 8_000, 15_000, 15_000, 15_000]);
        assert_eq!(events_reconnect_delay(u32::MAX), Duration::from_secs(15), "no overflow");
    }

    #[test]
    fn console_waits_go_one_two_four_eight_then_fifteen() {
        let waits: Vec<u32> = (0..7).map(console_backoff_secs).collect();
        assert_eq!(waits, [1, 2, 4, 8, 15, 15, 15]);
        assert_eq!(console_backoff_secs(u32::MAX), 15);
    }

    #[test]
    fn the_status_line_says_why_and_when() {
        let stopped = corral_api::console::close::MACHINE_STOPPED;
        assert_eq!(close_reason(stopped, ""), "the machine stopped");
        assert_eq!(close_reason(stopped, "taken over by alice"), "taken over by alice");
        assert_eq!(close_reason(1000, ""), "closed");
        assert_eq!(close_reason(1006, ""), "the connection dropped");
        let closed = Link::Closed { reason: close_reason(1006, ""), retry_in: Some(4) };
        assert_eq!(closed.label(), "the connection dropped — reconnecting in 4 s");
        assert_eq!(Link::Closed { reason: "closed".into(), retry_in: None }.label(), "closed");
        assert_eq!(Link::Connecting.label(), "connecting…");
    }

    #[test]
    fn a_console_waits_for_a_stopped_machine_instead_of_retrying() {
        use corral_api::console::close;
        let refused = |status| Dropped::TicketRefused { status, message: "machine web is stopped" };
        let waits = after(refused(409), 3);
        assert!(waits.waits_for_start());
        assert_eq!(waits.label(), "machine web is stopped — reconnects when it runs");
        assert!(after(Dropped::Closed { code: close::MACHINE_STOPPED, reason: "" }, 1).waits_for_start());
        // Access gone, or someone else's line: stop, and say why.
        for gone in [refused(403), refused(404), refused(401)] {
            assert_eq!(
                after(gone, 1),
                Link::Closed { reason: "machine web is stopped".into(), retry_in: None }
            );
        }
        for code in [close::ACCESS_REVOKED, close::IN_USE, close::TAKEN_OVER] {
            assert!(matches!(
                after(Dropped::Closed { code, reason: "x" }, 1),
                Link::Closed { retry_in: None, .. }
            ));
        }
        // A node or a network that may come back: try again, more slowly each time.
        assert_eq!(
            after(refused(503), 3),
            Link::Closed { reason: "machine web is stopped".into(), retry_in: Some(8) }
        );
        assert_eq!(
            after(Dropped::Closed { code: 1006, reason: "" }, 1),
            Link::Closed { reason: "the connection dropped".into(), retry_in: Some(2) }
        );
    }
}
