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

/// The shell line that writes `content` to `path` on the guest's disk (under /mnt) and
/// syncs it, and the marker it prints when done. The guest computes the marker, so the echo
/// of the line itself never matches; it prints none if /mnt is not mounted, since a write to
/// RAM would prove nothing. `tag` tells this marker from earlier ones on the same line.
pub fn disk_write_command(path: &str, content: &str, tag: &str) -> (String, String) {
    let line = format!(
        "grep -q ' /mnt ' /proc/mounts && echo {content} > {path} && sync && echo synced-$((40+2))-{tag}"
    );
    (line, format!("synced-42-{tag}"))
}

/// The shell line that reads `path` from the guest's disk after dropping the page cache (so
/// a rollback of RAM cannot answer from memory), and the marker that ends its answer. `n`
/// tells this answer from earlier ones on the same line.
pub fn disk_read_command(path: &str, n: u32) -> (String, String) {
    let line = format!(
        "echo 3 > /proc/sys/vm/drop_caches; echo \"[$(grep -q ' /mnt ' /proc/mounts || echo not-mounted:)$(cat {path} 2>/dev/null || echo missing)]-$(({n}+1000))\""
    );
    (line, format!("]-{}", n + 1000))
}

/// The answer before the last `marker` in what the line showed: the file's content, or
/// `missing`, prefixed with `not-mounted:` if /mnt is not the disk.
pub fn disk_read_answer(shown: &str, marker: &str) -> String {
    let before = &shown[..shown.rfind(marker).unwrap_or(shown.len())];
    before.rsplit_once('[').map(|(_, v)| v.to_string()).unwrap_or_else(|| before.to_string())
}

/// Writes `content` to `path` on the guest's disk and waits until it is synced.
pub async fn disk_write<L: Line>(serial: &mut Serial<L>, path: &str, content: &str) {
    let (line, marker) = disk_write_command(path, content, content);
    serial.send_line(&line).await;
    serial.expect(&marker, COMMAND).await;
}

/// Reads `path` from the guest's disk past the page cache ([`disk_read_answer`]).
pub async fn disk_read<L: Line>(serial: &mut Serial<L>, path: &str, n: u32) -> String {
    let (line, marker) = disk_read_command(path, n);
    serial.send_line(&line).await;
    let shown = String::from_utf8_lossy(&serial.expect(&marker, COMMAND).await).into_owned();
    disk_read_answer(&shown, &marker)
}
