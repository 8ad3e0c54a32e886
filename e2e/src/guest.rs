//! What tests do inside the tiny guest through its serial line, whichever way the line
//! arrives (the bridge's stream or the backend's console websocket): write a file on its
//! disk and read one back past the page cache.

use std::time::Duration;

use corral_testkit::serial::{Line, Serial};

/// What the tiny guest prints once its shell takes commands.
pub const READY: &str = "corral-tiny: ready";

/// How long the tiny guest may take to boot to its shell under TCG on a busy machine.
pub const BOOT: Duration = Duration::from_secs(90);

/// How long one shell command may take on a busy TCG guest.
const COMMAND: Duration = Duration::from_secs(20);

/// Writes `content` to `path` on the guest's disk (under /mnt) and waits until it is synced.
/// The guest computes the marker it prints, so the echo of the command itself never matches;
/// it prints none if /mnt is not mounted, since a write to RAM would prove nothing.
pub async fn disk_write<L: Line>(serial: &mut Serial<L>, path: &str, content: &str) {
    serial.send_line(&format!("grep -q ' /mnt ' /proc/mounts && echo {content} > {path} && sync && echo synced-$((40+2))-{content}")).await;
    serial.expect(&format!("synced-42-{content}"), COMMAND).await;
}

/// Reads `path` from the guest's disk after dropping the page cache, so that a rollback of
/// RAM cannot answer from memory: the file's content, or `missing`, prefixed with
/// `not-mounted:` if /mnt is not the disk. `n` tells this answer from earlier ones on the
/// same line.
pub async fn disk_read<L: Line>(serial: &mut Serial<L>, path: &str, n: u32) -> String {
    let ask = format!(
        "echo 3 > /proc/sys/vm/drop_caches; echo \"[$(grep -q ' /mnt ' /proc/mounts || echo not-mounted:)$(cat {path} 2>/dev/null || echo missing)]-$(({n}+1000))\""
    );
    serial.send_line(&ask).await;
    let marker = format!("]-{}", n + 1000);
    let out = String::from_utf8_lossy(&serial.expect(&marker, COMMAND).await).into_owned();
    out.rsplit_once('[').map(|(_, v)| v.trim_end_matches(&marker).to_string()).unwrap_or(out)
}
