//! The node's image store: `<data>/images/<name>` with a `<name>.json` beside it holding what
//! was learned at import (format, sizes, sha256), so listing never re-reads gigabytes.
//!
//! An import runs as a task: it copies or downloads to a hidden `.<name>.part`, hashing as it
//! goes, asks `qemu-img info` what it is (a corrupt image fails here), checks the expected
//! sha256, and only then renames it into place: a failed import leaves no image behind.

use std::collections::HashSet;
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

/// Copies `input` to `part`, hashing on the way and reporting progress against `total`.
async fn copy_hashing(
    mut input: impl tokio::io::AsyncRead + Unpin,
    total: Option<u64>,
    part: &Path,
    task: &TaskHandle,
) -> Result<(u64, String), BridgeError> {
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
        if let Some(total) = total.filter(|t| *t > 0) {
            task.progress((size.saturating_mul(100) / total).min(99) as u8);
        }
    }
    output.sync_all().await?;
    Ok((size, hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()))
}

/// Downloads with curl (it speaks http and https, follows a few redirects, and fails on
/// HTTP errors), streaming its output through `copy_hashing`.
async fn download(url: &str, part: &Path, task: &TaskHandle) -> Result<(u64, String), BridgeError> {
    let curl = |extra: &[&str]| {
        let mut c = tokio::process::Command::new("curl");
        c.args([
            "--fail",
            "--silent",
            "--show-error",
            "--location",
            "--max-redirs",
            "5",
            "--proto",
            "=http,https",
        ])
        .args(extra)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
        c
    };
    // The size first, for progress; a server that will not say is fine.
    let total = curl(&["--head"]).output().await.ok().and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| {
                l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<u64>().ok())
            })
            .next_back()
            .flatten()
    });
    let mut child = curl(&[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| BridgeError::Host(format!("cannot run curl: {e}")))?;
    let stdout = child.stdout.take().ok_or_else(|| BridgeError::Host("curl gave no output".into()))?;
    let copied = copy_hashing(stdout, total, part, task).await;
    let out = child.wait_with_output().await.map_err(|e| BridgeError::Host(format!("curl: {e}")))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(BridgeError::Validation { field: "source", message: format!("download failed: {why}") });
    }
    copied
}

impl ImageStore {
    pub fn open(data_dir: &Path, exec: Arc<dyn HostExec>, qemu_img: &str) -> std::io::Result<Self> {
        let dir = data_dir.join("images");
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, exec, qemu_img: qemu_img.to_string(), importing: Arc::default() })
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
        let source = Source::parse(source)?;
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
                copy_hashing(
                    tokio::fs::File::open(p).await.map_err(|e| BridgeError::Validation {
                        field: "source",
                        message: format!("cannot read {}: {e}", p.display()),
                    })?,
                    std::fs::metadata(p).map(|m| m.len()).ok(),
                    &part,
                    task,
                )
                .await
            }
            Source::Url(url) => {
                task.log(format!("downloading {url}"));
                download(url, &part, task).await
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
    pub async fn probe(&self, path: &Path) -> Result<(String, u64), BridgeError> {
        let args = vec!["info".into(), "--output=json".into(), path.display().to_string()];
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
