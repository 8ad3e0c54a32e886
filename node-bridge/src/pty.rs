//! Programs on a pseudo-terminal the bridge owns: `lxc-console` (a zone's console) and
//! `lxc-attach` (a shell in a zone) need a terminal, and a shell's terminal has a size that
//! follows the viewer's.
//!
//! The program runs through util-linux's `setsid --ctty`, in a session of its own with the
//! terminal as its controlling one (the crate forbids the `unsafe` a `pre_exec` would need).
//! The master side is a blocking file read and written through tokio's file type.

use std::process::Stdio;

use corral_api::console::TermSize;
use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};

/// The bridge's side of a terminal.
pub struct Pty {
    master: std::fs::File,
}

impl Pty {
    /// Runs `program args…` on a new terminal of `size`.
    pub fn spawn(
        program: &str,
        args: &[String],
        size: TermSize,
    ) -> std::io::Result<(tokio::process::Child, Pty)> {
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let name = ptsname(&master, Vec::new())?;
        let slave =
            std::fs::OpenOptions::new().read(true).write(true).open(name.to_string_lossy().as_ref())?;
        let pty = Pty { master: std::fs::File::from(master) };
        pty.resize(size)?;
        let child = tokio::process::Command::new("setsid")
            .arg("--ctty")
            .arg(program)
            .args(args)
            .stdin(Stdio::from(slave.try_clone()?))
            .stdout(Stdio::from(slave.try_clone()?))
            .stderr(Stdio::from(slave))
            .kill_on_drop(true)
            .spawn()?;
        Ok((child, pty))
    }

    /// Gives the terminal a new size; the program on it gets SIGWINCH.
    pub fn resize(&self, size: TermSize) -> std::io::Result<()> {
        let ws =
            rustix::termios::Winsize { ws_row: size.rows, ws_col: size.cols, ws_xpixel: 0, ws_ypixel: 0 };
        rustix::termios::tcsetwinsize(&self.master, ws)?;
        Ok(())
    }

    /// The terminal's output, and a handle to type into it.
    pub fn split(&self) -> std::io::Result<(tokio::fs::File, tokio::fs::File)> {
        Ok((
            tokio::fs::File::from_std(self.master.try_clone()?),
            tokio::fs::File::from_std(self.master.try_clone()?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[tokio::test]
    async fn a_program_sees_a_terminal_of_the_size_given_and_follows_a_resize() {
        let script = "stty size; read line; stty size; echo got-$line".to_string();
        let (mut child, pty) =
            Pty::spawn("sh", &["-c".into(), script], TermSize { cols: 100, rows: 30 }).unwrap();
        let (mut out, mut input) = pty.split().unwrap();
        let mut seen = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&seen).contains("30 100") {
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), out.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            seen.extend(&buf[..n]);
        }
        pty.resize(TermSize { cols: 132, rows: 43 }).unwrap();
        input.write_all(b"hi\n").await.unwrap();
        input.flush().await.unwrap();
        while !String::from_utf8_lossy(&seen).contains("got-hi") {
            let n = tokio::time::timeout(std::time::Duration::from_secs(5), out.read(&mut buf))
                .await
                .unwrap()
                .unwrap();
            seen.extend(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&seen);
        assert!(text.contains("43 132"), "{text}");
        let _ = child.wait().await;
    }
}
