//! Where an import may fetch from (the node's [`ImportPolicy`](super::ImportPolicy)) and the
//! fetching itself: a copy of a node path, or a download, hashed on the way and capped.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{ImportPolicy, source_error};
use crate::error::BridgeError;
use crate::tasks::TaskHandle;

/// Redirects followed (each one checked) before an import gives up.
const MAX_REDIRECTS: usize = 5;

/// Addresses no import may reach unless their host is allowed: this machine, its links, the
/// private networks it sits in.
fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
                || (a == 198 && (18..20).contains(&b)) // benchmarking
                || (a == 192 && b == 0 && v4.octets()[2] == 0) // IETF protocol assignments
                || a >= 240
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal(IpAddr::V4(v4));
            }
            let seg = v6.segments();
            let first = seg[0];
            // Addresses that carry an IPv4 one inside: judged by it.
            let embedded = |hi: u16, lo: u16| {
                std::net::Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)
            };
            let compatible = seg[..6].iter().all(|s| *s == 0); // ::a.b.c.d
            let nat64 = seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0]; // 64:ff9b::a.b.c.d
            if compatible || nat64 {
                return is_internal(IpAddr::V4(embedded(seg[6], seg[7])));
            }
            if seg[..3] == [0x64, 0xff9b, 1] {
                return true; // local-use NAT64 (64:ff9b:1::/48): this network's own translator
            }
            if first == 0x2002 {
                return is_internal(IpAddr::V4(embedded(seg[1], seg[2])));
            }
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first & 0xffc0) == 0xfec0 // site-local (deprecated, still routed inside)
        }
    }
}

impl ImportPolicy {
    /// The file a path import may copy: an existing file inside an import directory,
    /// symlinks resolved.
    pub(super) fn admit_path(&self, p: &Path) -> Result<PathBuf, BridgeError> {
        if self.dirs.is_empty() {
            return Err(source_error(
                "this node takes no imports by path (its bridge has no --import-dir): use an http(s) URL",
            ));
        }
        let real = p.canonicalize().map_err(|e| source_error(format!("cannot read {}: {e}", p.display())))?;
        let inside = self.dirs.iter().filter_map(|d| d.canonicalize().ok()).any(|d| real.starts_with(&d));
        if !inside || !real.is_file() {
            return Err(source_error(format!(
                "{} is not a file in this node's import directories",
                p.display()
            )));
        }
        Ok(real)
    }

    /// Where a URL leads: its host, port, and one address to connect to, checked. Hosts the
    /// operator allowed may be anywhere; others must resolve to public addresses only.
    pub(super) async fn admit_url(&self, raw: &str) -> Result<(url::Url, SocketAddr), BridgeError> {
        let url = url::Url::parse(raw).map_err(|e| source_error(format!("not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(source_error("only http:// and https:// URLs"));
        }
        let host = url.host_str().ok_or_else(|| source_error("the URL names no host"))?.to_string();
        let port = url.port_or_known_default().ok_or_else(|| source_error("the URL names no port"))?;
        let bare = host.trim_start_matches('[').trim_end_matches(']').to_string();
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((bare.as_str(), port))
            .await
            .map_err(|e| source_error(format!("cannot resolve {host}: {e}")))?
            .collect();
        let first = *addrs.first().ok_or_else(|| source_error(format!("{host} has no address")))?;
        let allowed = self.allow_hosts.iter().any(|h| h.eq_ignore_ascii_case(&bare));
        if !allowed && let Some(bad) = addrs.iter().find(|a| is_internal(a.ip())) {
            return Err(source_error(format!(
                "{host} is {}, an internal address: imports reach only public hosts unless the node allows this one",
                bad.ip()
            )));
        }
        Ok((url, first))
    }
}

/// Where an image comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Path(PathBuf),
    Url(String),
}

impl Source {
    pub fn parse(s: &str) -> Result<Source, BridgeError> {
        if s.starts_with("http://") || s.starts_with("https://") {
            return Ok(Source::Url(s.to_string()));
        }
        let p = PathBuf::from(s);
        if p.is_absolute() {
            Ok(Source::Path(p))
        } else {
            Err(BridgeError::Validation {
                field: "source",
                message: "an absolute path on the node, or an http:// or https:// URL".into(),
            })
        }
    }
}

/// Copies `input` to `part`, hashing on the way and reporting progress against `total`;
/// fails once more than `max` bytes came.
pub(super) async fn copy_hashing(
    mut input: impl tokio::io::AsyncRead + Unpin,
    total: Option<u64>,
    max: u64,
    part: &Path,
    task: &TaskHandle,
) -> Result<(u64, String), BridgeError> {
    if let Some(total) = total.filter(|t| *t > max) {
        return Err(too_large(total, max));
    }
    let mut output = tokio::fs::File::create(part).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n =
            input.read(&mut buf).await.map_err(|e| BridgeError::Host(format!("reading the source: {e}")))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        output
            .write_all(&buf[..n])
            .await
            .map_err(|e| BridgeError::Host(format!("writing the image: {e}")))?;
        size += n as u64;
        if size > max {
            return Err(too_large(size, max));
        }
        if let Some(total) = total.filter(|t| *t > 0) {
            task.progress((size.saturating_mul(100) / total).min(99) as u8);
        }
    }
    output.sync_all().await?;
    Ok((size, hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()))
}

fn too_large(size: u64, max: u64) -> BridgeError {
    source_error(format!("the image is larger than this node's import limit ({size} bytes, at most {max})"))
}

/// Downloads with curl (http and https), streaming its output through `copy_hashing`.
/// Redirects are followed here, not by curl: each hop is checked by the policy, and curl is
/// pinned (`--resolve`) to the address that was checked, so neither a redirect nor a second
/// DNS answer can lead it inward.
pub(super) async fn download(
    policy: &ImportPolicy,
    start: &str,
    part: &Path,
    task: &TaskHandle,
) -> Result<(u64, String), BridgeError> {
    let curl = |url: &url::Url, addr: SocketAddr, extra: &[&str]| {
        let host = url.host_str().unwrap_or_default();
        let port = addr.port();
        let pin = match addr.ip() {
            IpAddr::V6(v6) => format!("{host}:{port}:[{v6}]"),
            v4 => format!("{host}:{port}:{v4}"),
        };
        let mut c = tokio::process::Command::new("curl");
        // `-q` first: no ~/.curlrc; no proxy from the environment (it would bypass the pin);
        // a server that stalls is given up on rather than holding the import forever.
        c.args([
            "-q",
            "--noproxy",
            "*",
            "--connect-timeout",
            "10",
            "--speed-limit",
            "1024",
            "--speed-time",
            "60",
        ])
        .args(["--fail", "--silent", "--show-error", "--proto", "=http,https", "--max-redirs", "0"])
        .args(["--resolve", &pin])
        .args(extra)
        .arg(url.as_str())
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
        c
    };
    let mut next = start.to_string();
    let mut hops = 0;
    let (url, addr, total) = loop {
        let (url, addr) = policy.admit_url(&next).await?;
        // Status, redirect and size first; a server that will not answer HEAD is fine.
        let head = curl(
            &url,
            addr,
            &[
                "--head",
                "--output",
                "/dev/null",
                "--write-out",
                "%{http_code}\n%{redirect_url}\n%header{content-length}",
            ],
        )
        .output()
        .await
        .map_err(|e| BridgeError::Host(format!("cannot run curl: {e}")))?;
        let text = String::from_utf8_lossy(&head.stdout).into_owned();
        let mut lines = text.lines();
        let (code, redirect, length) = (lines.next(), lines.next(), lines.next());
        let redirected = code.is_some_and(|c| c.starts_with('3')) && redirect.is_some_and(|r| !r.is_empty());
        if !redirected {
            break (url, addr, length.and_then(|l| l.trim().parse::<u64>().ok()));
        }
        hops += 1;
        if hops > MAX_REDIRECTS {
            return Err(source_error(format!("more than {MAX_REDIRECTS} redirects")));
        }
        next = redirect.unwrap_or_default().to_string();
        task.log(format!("redirected to {next}"));
    };
    // `--location` with no redirects allowed: a GET that redirects where HEAD did not fails.
    let mut child = curl(&url, addr, &["--location", "--max-filesize", &policy.max_bytes.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| BridgeError::Host(format!("cannot run curl: {e}")))?;
    let stdout = child.stdout.take().ok_or_else(|| BridgeError::Host("curl gave no output".into()))?;
    let copied = copy_hashing(stdout, total, policy.max_bytes, part, task).await;
    if copied.is_err() {
        let _ = child.start_kill();
    }
    let out = child.wait_with_output().await.map_err(|e| BridgeError::Host(format!("curl: {e}")))?;
    let (size, digest) = copied?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(source_error(format!("download failed: {why}")));
    }
    Ok((size, digest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inward_addresses_are_known_in_every_spelling() {
        let internal = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "198.18.0.1",
            "192.0.0.8",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "fec0::1",
            "::ffff:127.0.0.1",
            "::127.0.0.1",
            "64:ff9b::10.0.0.1",
            "64:ff9b:1::1",
            "2002:c0a8:0101::1",
            "2002:7f00:1::1",
        ];
        for a in internal {
            assert!(is_internal(a.parse().unwrap()), "{a} is inward");
        }
        for a in ["93.184.216.34", "2606:2800:220:1::1", "64:ff9b::5db8:d822", "2002:5db8:d822::1"] {
            assert!(!is_internal(a.parse().unwrap()), "{a} is public");
        }
    }
}
