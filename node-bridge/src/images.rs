//! The node's image store: `<data>/images/<name>` with a `<name>.json` beside it holding what
//! was learned at import (format, sizes, sha256), so listing never re-reads gigabytes.
//!
//! An import runs as a task: it copies or downloads to a hidden `.<name>.part`, hashing as it
//! goes, asks `qemu-img info` what it is (a corrupt image fails here), checks the expected
//! sha256, and only then renames it into place: a failed import leaves no image behind.
//!
//! What an import may reach is bounded by the node's [`ImportPolicy`], since whoever names
//! the source is not trusted with the node: paths only inside the configured import
//! directories; URLs only to public addresses (loopback, link-local and private ones only for
//! hosts the operator allowed), each redirect checked the same way and the connection pinned
//! to the address checked; a size cap; and no image whose chain names another file (a
//! backing file or an external data file would let machines made from it read that file).

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use corral_api::bridge::BridgeImage;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::BridgeError;
use crate::host::HostExec;
use crate::tasks::TaskHandle;

#[derive(Clone, Debug)]
pub struct ImageStore {
    dir: PathBuf,
    exec: Arc<dyn HostExec>,
    qemu_img: String,
    /// Names with an import running, so two imports of one name cannot race.
    importing: Arc<Mutex<HashSet<String>>>,
    policy: Arc<ImportPolicy>,
}

/// What imports may reach on this node (`--import-dir`, `--import-allow-host`,
/// `--import-max-gib`).
#[derive(Clone, Debug)]
pub struct ImportPolicy {
    /// Directories images may be copied from by path; none means path imports are refused.
    pub dirs: Vec<PathBuf>,
    /// Hosts a URL may name although they are loopback, link-local or private.
    pub allow_hosts: Vec<String>,
    /// The largest image brought in.
    pub max_bytes: u64,
}

impl Default for ImportPolicy {
    fn default() -> Self {
        Self { dirs: Vec::new(), allow_hosts: Vec::new(), max_bytes: 64 << 30 }
    }
}

/// Whether the file starts with qcow2's magic.
fn is_qcow2(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(path)?.read(&mut magic)?;
    Ok(n == 4 && magic == *b"QFI\xfb")
}

/// What other file a qcow2 image names, read from its header before anything opens it: a
/// backing file, or (version 3) an external data file. Other formats name none.
fn qcow2_names_another_file(path: &Path) -> std::io::Result<Option<&'static str>> {
    use std::io::Read;
    let mut head = [0u8; 80];
    let mut file = std::fs::File::open(path)?;
    let mut got = 0;
    while got < head.len() {
        match file.read(&mut head[got..])? {
            0 => break,
            n => got += n,
        }
    }
    if got < 20 || head[..4] != *b"QFI\xfb" {
        return Ok(None);
    }
    let be64 = |at: usize| u64::from_be_bytes(head[at..at + 8].try_into().unwrap_or_default());
    let version = u32::from_be_bytes(head[4..8].try_into().unwrap_or_default());
    if be64(8) != 0 {
        return Ok(Some("a backing file"));
    }
    const EXTERNAL_DATA_FILE: u64 = 1 << 2;
    if version >= 3 && got >= 80 && be64(72) & EXTERNAL_DATA_FILE != 0 {
        return Ok(Some("an external data file"));
    }
    Ok(None)
}

/// Redirects followed (each one checked) before an import gives up.
const MAX_REDIRECTS: usize = 5;

fn source_error(message: impl Into<String>) -> BridgeError {
    BridgeError::Validation { field: "source", message: message.into() }
}

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
    fn admit_path(&self, p: &Path) -> Result<PathBuf, BridgeError> {
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
    async fn admit_url(&self, raw: &str) -> Result<(url::Url, SocketAddr), BridgeError> {
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

/// A name reserved for one import; released when dropped.
pub struct ImportClaim {
    store: ImageStore,
    name: String,
    source: Source,
}

impl Drop for ImportClaim {
    fn drop(&mut self) {
        self.store.importing.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.name);
    }
}

impl ImportClaim {
    /// Runs the import as `task`, ending it with success or failure.
    pub async fn run(self, sha256: Option<String>, task: TaskHandle) {
        match self.store.import(&self, sha256.as_deref(), &task).await {
            Ok(image) => task.succeed(format!(
                "image {} ({}, {} MiB)",
                image.name,
                image.format,
                image.size_bytes >> 20
            )),
            Err(e) => task.fail(&e),
        }
    }
}

/// Copies `input` to `part`, hashing on the way and reporting progress against `total`;
/// fails once more than `max` bytes came.
async fn copy_hashing(
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
async fn download(
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

impl ImageStore {
    pub fn open(data_dir: &Path, exec: Arc<dyn HostExec>, qemu_img: &str) -> std::io::Result<Self> {
        let dir = data_dir.join("images");
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            exec,
            qemu_img: qemu_img.to_string(),
            importing: Arc::default(),
            policy: Arc::new(ImportPolicy::default()),
        })
    }

    /// The same store under `policy`.
    pub fn with_policy(self, policy: ImportPolicy) -> Self {
        Self { policy: Arc::new(policy), ..self }
    }

    /// The path of an image, once its name is known to be a plain file name.
    pub fn path(&self, name: &str) -> Result<PathBuf, BridgeError> {
        corral_api::validate::image_name(name)?;
        Ok(self.dir.join(name))
    }

    fn meta_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}.json"))
    }

    pub fn get(&self, name: &str) -> Result<BridgeImage, BridgeError> {
        let path = self.path(name)?;
        let meta = std::fs::read(self.meta_path(name)).ok().and_then(|b| serde_json::from_slice(&b).ok());
        match meta {
            Some(m) if path.exists() => Ok(m),
            _ => Err(BridgeError::ImageNotFound(name.to_string())),
        }
    }

    pub fn list(&self) -> std::io::Result<Vec<BridgeImage>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let name = entry?.file_name().to_string_lossy().into_owned();
            if let Some(image) = name.strip_suffix(".json")
                && let Ok(m) = self.get(image)
            {
                out.push(m);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Checks an import request before its task starts: the name is free, no other import of
    /// it runs, the source is an absolute path or an http(s) URL. Claims the name.
    pub fn claim(&self, name: &str, source: &str) -> Result<ImportClaim, BridgeError> {
        let dest = self.path(name).map_err(|e| match e {
            BridgeError::Validation { message, .. } => BridgeError::Validation { field: "name", message },
            other => other,
        })?;
        if dest.exists() {
            return Err(BridgeError::Conflict(format!("an image named {name} exists already")));
        }
        let source = match Source::parse(source)? {
            Source::Path(p) => Source::Path(self.policy.admit_path(&p)?),
            url => url,
        };
        let mut busy = self.importing.lock().unwrap_or_else(|p| p.into_inner());
        if !busy.insert(name.to_string()) {
            return Err(BridgeError::Conflict(format!("an import of {name} is already running")));
        }
        Ok(ImportClaim { store: self.clone(), name: name.to_string(), source })
    }

    /// Brings the image in, as the task's steps: fetch (copy or download, hashing as it
    /// goes), verify (qemu-img probe, sha256), install (rename into place).
    async fn import(
        &self,
        claim: &ImportClaim,
        sha256: Option<&str>,
        task: &TaskHandle,
    ) -> Result<BridgeImage, BridgeError> {
        let name = claim.name.as_str();
        let dest = self.path(name)?;
        let part = self.dir.join(format!(".{name}.part"));
        task.step("fetch");
        let fetched = match &claim.source {
            Source::Path(p) => {
                task.log(format!("copying {}", p.display()));
                match tokio::fs::File::open(p).await {
                    Ok(file) => {
                        let total = file.metadata().await.map(|m| m.len()).ok();
                        copy_hashing(file, total, self.policy.max_bytes, &part, task).await
                    }
                    Err(e) => Err(source_error(format!("cannot read {}: {e}", p.display()))),
                }
            }
            Source::Url(url) => {
                task.log(format!("downloading {url}"));
                download(&self.policy, url, &part, task).await
            }
        };
        let (size, digest) = match fetched {
            Ok(r) => r,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(e);
            }
        };
        task.log(format!("{size} bytes, sha256 {digest}"));
        task.step("verify");
        match qcow2_names_another_file(&part) {
            Ok(None) => {}
            Ok(Some(what)) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(source_error(format!(
                    "the image names {what}: flatten it first (qemu-img convert -O qcow2)"
                )));
            }
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(e.into());
            }
        }
        if let Some(want) = sha256
            && !want.eq_ignore_ascii_case(&digest)
        {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(BridgeError::Validation {
                field: "sha256",
                message: format!("the image's sha256 is {digest}, not the {want} expected"),
            });
        }
        let (format, virtual_size) = match self.probe(&part).await {
            Ok(p) => p,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(e);
            }
        };
        task.step("install");
        let format = if format == "raw" && name.ends_with(".iso") { "iso".to_string() } else { format };
        let image = BridgeImage {
            name: name.to_string(),
            format,
            size_bytes: size,
            virtual_size_bytes: virtual_size,
            sha256: digest,
        };
        let meta = serde_json::to_vec_pretty(&image).map_err(|e| BridgeError::Internal(e.into()))?;
        tokio::fs::write(self.meta_path(name), meta).await?;
        tokio::fs::rename(&part, &dest).await?;
        Ok(image)
    }

    /// Asks `qemu-img info` for the format and virtual size; a file it cannot read is refused.
    /// The format is decided here, from the file's first bytes (qcow2 by its magic, raw
    /// otherwise), and given to qemu-img with `-f`: left to guess, qemu-img would open
    /// whatever a VMDK descriptor or another format's header names before anything could
    /// refuse it.
    pub async fn probe(&self, path: &Path) -> Result<(String, u64), BridgeError> {
        let format = if is_qcow2(path)? { "qcow2" } else { "raw" };
        let args = vec![
            "info".into(),
            "-f".into(),
            format.into(),
            "--output=json".into(),
            path.display().to_string(),
        ];
        let out = self.exec.run(&self.qemu_img, &args).await?;
        if !out.success {
            return Err(BridgeError::Validation {
                field: "source",
                message: format!("not a disk image qemu can read: {}", out.stderr_tail()),
            });
        }
        let info: serde_json::Value = serde_json::from_str(&out.stdout)
            .map_err(|e| BridgeError::Host(format!("qemu-img info answered no JSON: {e}")))?;
        let format = info["format"].as_str().unwrap_or("raw").to_string();
        let virtual_size = info["virtual-size"].as_u64().unwrap_or(0);
        // A machine made from an image reads every file its chain names: refused, whatever
        // the file (another tenant's disk, /etc/shadow, a json: URL).
        if let Some(backing) = info.get("backing-filename").and_then(|b| b.as_str()) {
            return Err(source_error(format!(
                "the image names a backing file ({backing}): flatten it first (qemu-img convert -O qcow2)"
            )));
        }
        if let Some(data) = info.pointer("/format-specific/data/data-file").and_then(|d| d.as_str()) {
            return Err(source_error(format!(
                "the image keeps its data in another file ({data}): flatten it first (qemu-img convert -O qcow2)"
            )));
        }
        if !["qcow2", "raw"].contains(&format.as_str()) {
            return Err(BridgeError::Validation {
                field: "source",
                message: format!("{format} images are not supported (qcow2, raw or iso)"),
            });
        }
        Ok((format, virtual_size))
    }

    /// Removes an image; the caller has checked that no machine uses it.
    pub async fn delete(&self, name: &str) -> Result<(), BridgeError> {
        self.get(name)?;
        tokio::fs::remove_file(self.path(name)?).await?;
        let _ = tokio::fs::remove_file(self.meta_path(name)).await;
        Ok(())
    }
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
