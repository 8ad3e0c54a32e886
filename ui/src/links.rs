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
}

impl Link {
    pub fn label(&self) -> String {
        match self {
            Link::Connecting => "connecting…".into(),
            Link::Connected => "connected".into(),
            Link::Closed { reason, retry_in: Some(s) } => format!("{reason} — reconnecting in {s} s"),
            Link::Closed { reason, retry_in: None } => reason.clone(),
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
}
