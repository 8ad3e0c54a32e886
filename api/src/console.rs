//! Browser consoles: the one-time ticket that opens a machine's VNC, serial or shell
//! websocket, the resize message a terminal sends, the framing that carries it to the node,
//! and the close codes that say why a console ended.

use serde::{Deserialize, Serialize};

/// Which console.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ConsoleKind {
    /// The graphical screen (RFB, for noVNC). Several people may watch at once.
    Vnc,
    /// The first serial line (a zone's console). One writer at a time; another may take it
    /// over.
    Serial,
    /// A shell of its own in a zone (`lxc-attach` on a terminal), one per viewer, sized by its
    /// terminal.
    Shell,
}

impl ConsoleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Vnc => "vnc",
            Self::Serial => "serial",
            Self::Shell => "shell",
        }
    }
}

/// A text frame a terminal sends on its console websocket, beside the binary frames of what
/// is typed: `{"resize": {"cols": 120, "rows": 40}}`. A shell's terminal takes the new size;
/// a serial line has no size and ignores it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsoleControl {
    pub resize: TermSize,
}

/// Columns and rows of a terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TermSize {
    pub cols: u16,
    pub rows: u16,
}

impl TermSize {
    /// What a terminal may ask for: 1–1000 columns, 1–500 rows.
    pub fn is_sane(self) -> bool {
        (1..=1000).contains(&self.cols) && (1..=500).contains(&self.rows)
    }
}

/// The shell stream from the backend to a node is framed, so a resize can travel beside what
/// is typed: each frame is a kind byte, a big-endian u16 length and that many bytes. What the
/// node sends back is the terminal's output, unframed.
pub mod shell_frame {
    use super::TermSize;

    const INPUT: u8 = 0;
    const RESIZE: u8 = 1;

    /// A frame of the shell stream.
    #[derive(Clone, Debug, PartialEq, Eq)]
    pub enum Frame {
        Input(Vec<u8>),
        Resize(TermSize),
    }

    /// Typed bytes, as frames (split at 64 KiB).
    pub fn input(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(bytes.len() + 3);
        for chunk in bytes.chunks(u16::MAX as usize) {
            out.push(INPUT);
            out.extend((chunk.len() as u16).to_be_bytes());
            out.extend(chunk);
        }
        out
    }

    pub fn resize(size: TermSize) -> Vec<u8> {
        let mut out = vec![RESIZE, 0, 4];
        out.extend(size.cols.to_be_bytes());
        out.extend(size.rows.to_be_bytes());
        out
    }

    /// Reads frames from bytes as they arrive.
    #[derive(Debug, Default)]
    pub struct Decoder {
        buf: Vec<u8>,
    }

    impl Decoder {
        pub fn push(&mut self, bytes: &[u8]) {
            self.buf.extend_from_slice(bytes);
        }

        /// The next whole frame; `Err` for a kind or size that is not the protocol's (the
        /// stream is then closed).
        pub fn next_frame(&mut self) -> Result<Option<Frame>, String> {
            if self.buf.len() < 3 {
                return Ok(None);
            }
            let len = u16::from_be_bytes([self.buf[1], self.buf[2]]) as usize;
            if self.buf.len() < 3 + len {
                return Ok(None);
            }
            let kind = self.buf[0];
            let body: Vec<u8> = self.buf.drain(..3 + len).skip(3).collect();
            match (kind, body.as_slice()) {
                (INPUT, _) => Ok(Some(Frame::Input(body))),
                (RESIZE, [c0, c1, r0, r1]) => Ok(Some(Frame::Resize(TermSize {
                    cols: u16::from_be_bytes([*c0, *c1]),
                    rows: u16::from_be_bytes([*r0, *r1]),
                }))),
                (RESIZE, _) => Err(format!("a resize frame of {} bytes", body.len())),
                (other, _) => Err(format!("a frame of kind {other}")),
            }
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

#[cfg(test)]
mod tests {
    use super::shell_frame::{Decoder, Frame, input, resize};
    use super::*;

    #[test]
    fn shell_frames_survive_any_split_and_refuse_what_is_not_theirs() {
        let size = TermSize { cols: 120, rows: 40 };
        let mut bytes = input(b"ls\r");
        bytes.extend(resize(size));
        bytes.extend(input(&vec![b'x'; 70_000]));
        let mut d = Decoder::default();
        let mut got = Vec::new();
        for piece in bytes.chunks(7) {
            d.push(piece);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert_eq!(got[..2], [Frame::Input(b"ls\r".to_vec()), Frame::Resize(size)]);
        let typed: usize = got[2..].iter().map(|f| if let Frame::Input(b) = f { b.len() } else { 0 }).sum();
        assert_eq!(typed, 70_000);
        let mut bad = Decoder::default();
        bad.push(&[9, 0, 0]);
        assert!(bad.next_frame().is_err());
        let mut short = Decoder::default();
        short.push(&[1, 0, 2, 0, 80]);
        assert!(short.next_frame().is_err());
        let text = r#"{"resize":{"cols":120,"rows":40}}"#;
        assert_eq!(serde_json::from_str::<ConsoleControl>(text).unwrap().resize, size);
        assert!(!TermSize { cols: 0, rows: 40 }.is_sane() && size.is_sane());
    }
}
