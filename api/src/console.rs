//! Browser consoles: the one-time ticket that opens a machine's VNC or serial websocket, and
//! the close codes that say why a console ended.

use serde::{Deserialize, Serialize};

/// Which console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsoleKind {
    /// The graphical screen (RFB, for noVNC). Several people may watch at once.
    Vnc,
    /// The first serial line. One writer at a time; another may take it over.
    Serial,
}

impl ConsoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vnc => "vnc",
            Self::Serial => "serial",
        }
    }
}

/// Input of `POST /api/v1/machines/{id}/console`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConsoleTicketRequest {
    pub kind: ConsoleKind,
}

/// A one-time ticket: valid for 30 s, for this user, machine and kind only, burnt when used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsoleTicket {
    /// 32 random bytes, base64url.
    pub ticket: String,
    pub kind: ConsoleKind,
    /// RFC 3339.
    pub expires_at: String,
    /// The websocket path to open with `?ticket=…` (and, for serial, `&offset=` and
    /// `&takeover=true`).
    pub path: String,
}

/// The first (text) message of a serial console: where its byte stream starts, so a
/// reconnect can ask for exactly what it missed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SerialHello {
    pub offset: u64,
}

/// Close codes of a console websocket (4000–4999 are the application's).
pub mod close {
    /// The ticket was unknown, used, expired, or for someone or something else.
    pub const TICKET_INVALID: u16 = 4001;
    /// The machine is not running (or stopped while the console was open).
    pub const MACHINE_STOPPED: u16 = 4002;
    /// The machine's node does not answer.
    pub const NODE_UNREACHABLE: u16 = 4003;
    /// Another user took the serial console over.
    pub const TAKEN_OVER: u16 = 4005;
    /// The person's access ended while the console was open: they were disabled, removed
    /// from the tenant or demoted, logged out, or their token was revoked.
    pub const ACCESS_REVOKED: u16 = 4008;
    /// Someone else is typing on the serial console; take it over to write.
    pub const IN_USE: u16 = 4009;
}
