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

mod disk;
mod fetch;
pub mod rootfs;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use corral_api::bridge::{BridgeImage, ZoneImage};
use corral_api::spec::MachineKind;

use crate::error::BridgeError;
use crate::host::HostExec;
use crate::tasks::TaskHandle;
pub use fetch::Source;

/// What a check learned of an imported file: kind, format, virtual size, zone facts.
type Checked = (MachineKind, String, u64, Option<ZoneImage>);
use fetch::{copy_hashing, download};

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

pub(crate) fn source_error(message: impl Into<String>) -> BridgeError {
    BridgeError::Validation { field: "source", message: message.into() }
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
        if let Some(want) = sha256
            && !want.eq_ignore_ascii_case(&digest)
        {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(BridgeError::Validation {
                field: "sha256",
                message: format!("the image's sha256 is {digest}, not the {want} expected"),
            });
        }
        let checked = match corral_api::validate::image_kind(name) {
            MachineKind::Zone => self.check_zone_image(&part).await,
            MachineKind::Vm => self.check_disk_image(&part, name).await,
        };
        let (kind, format, virtual_size, zone) = match checked {
            Ok(c) => c,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(e);
            }
        };
        task.step("install");
        let image = BridgeImage {
            name: name.to_string(),
            kind,
            format,
            size_bytes: size,
            virtual_size_bytes: virtual_size,
            sha256: digest,
            zone,
        };
        let meta = serde_json::to_vec_pretty(&image).map_err(|e| BridgeError::Internal(e.into()))?;
        tokio::fs::write(self.meta_path(name), meta).await?;
        tokio::fs::rename(&part, &dest).await?;
        Ok(image)
    }

    /// A VM's disk image: names no other file, and `qemu-img` can read it.
    async fn check_disk_image(&self, part: &Path, name: &str) -> Result<Checked, BridgeError> {
        if rootfs::looks_like_tarball(part)? {
            return Err(source_error(format!(
                "{name} is a tarball: zone images are named .tar, .tar.gz or .tar.xz"
            )));
        }
        if let Some(what) = disk::qcow2_names_another_file(part)? {
            return Err(source_error(format!(
                "the image names {what}: flatten it first (qemu-img convert -O qcow2)"
            )));
        }
        let (format, virtual_size) = self.probe(part).await?;
        let format = if format == "raw" && name.ends_with(".iso") { "iso".to_string() } else { format };
        Ok((MachineKind::Vm, format, virtual_size, None))
    }

    /// A zone's image: a tarball whose every entry stays in its rootfs (`rootfs::inspect`).
    async fn check_zone_image(&self, part: &Path) -> Result<Checked, BridgeError> {
        let (path, max) = (part.to_path_buf(), self.policy.max_bytes.saturating_mul(4));
        let info = tokio::task::spawn_blocking(move || rootfs::inspect(&path, max))
            .await
            .map_err(|e| BridgeError::Host(format!("reading the tarball stopped: {e}")))??;
        let zone = ZoneImage { os: info.os, release: info.release, init: info.init };
        Ok((MachineKind::Zone, "tar".into(), info.unpacked_bytes, Some(zone)))
    }

    /// Removes an image; the caller has checked that no machine uses it.
    pub async fn delete(&self, name: &str) -> Result<(), BridgeError> {
        self.get(name)?;
        tokio::fs::remove_file(self.path(name)?).await?;
        let _ = tokio::fs::remove_file(self.meta_path(name)).await;
        Ok(())
    }
}
