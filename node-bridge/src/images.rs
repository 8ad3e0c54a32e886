//! The node's image store: `<data>/images/<name>` with a `<name>.json` beside it holding what
//! was learned at import (format, sizes, sha256), so listing never re-reads gigabytes.
//!
//! An import copies to a hidden `.<name>.part`, hashing as it goes, asks `qemu-img info` what
//! it is (a corrupt image fails here), and only then renames it into place: a failed or
//! interrupted import leaves no image behind.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use corral_api::bridge::BridgeImage;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::error::BridgeError;
use crate::host::HostExec;

#[derive(Clone, Debug)]
pub struct ImageStore {
    dir: PathBuf,
    exec: Arc<dyn HostExec>,
    qemu_img: String,
}

impl ImageStore {
    pub fn open(data_dir: &Path, exec: Arc<dyn HostExec>, qemu_img: &str) -> std::io::Result<Self> {
        let dir = data_dir.join("images");
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir, exec, qemu_img: qemu_img.to_string() })
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

    pub async fn import(&self, name: &str, source: &Path) -> Result<BridgeImage, BridgeError> {
        let dest = self.path(name)?;
        if dest.exists() {
            return Err(BridgeError::Conflict(format!("an image named {name} exists already")));
        }
        if !source.is_absolute() {
            return Err(BridgeError::Validation {
                field: "source_path",
                message: "must be an absolute path".into(),
            });
        }
        let mut input = tokio::fs::File::open(source).await.map_err(|e| BridgeError::Validation {
            field: "source_path",
            message: format!("cannot read {}: {e}", source.display()),
        })?;
        let part = self.dir.join(format!(".{name}.part"));
        let result = async {
            let mut output = tokio::fs::File::create(&part).await?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0u8; 1 << 20];
            let mut size = 0u64;
            loop {
                let n = input.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
                output.write_all(&buf[..n]).await?;
                size += n as u64;
            }
            output.sync_all().await?;
            Ok::<_, std::io::Error>((size, hasher.finalize()))
        }
        .await;
        let (size, digest) = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(BridgeError::Host(format!("copying {}: {e}", source.display())));
            }
        };
        let (format, virtual_size) = match self.probe(&part).await {
            Ok(p) => p,
            Err(e) => {
                let _ = tokio::fs::remove_file(&part).await;
                return Err(e);
            }
        };
        let format = if format == "raw" && name.ends_with(".iso") { "iso".to_string() } else { format };
        let image = BridgeImage {
            name: name.to_string(),
            format,
            size_bytes: size,
            virtual_size_bytes: virtual_size,
            sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
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
                field: "source_path",
                message: format!("not a disk image qemu can read: {}", out.stderr_tail()),
            });
        }
        let info: serde_json::Value = serde_json::from_str(&out.stdout)
            .map_err(|e| BridgeError::Host(format!("qemu-img info answered no JSON: {e}")))?;
        let format = info["format"].as_str().unwrap_or("raw").to_string();
        let virtual_size = info["virtual-size"].as_u64().unwrap_or(0);
        if !["qcow2", "raw"].contains(&format.as_str()) {
            return Err(BridgeError::Validation {
                field: "source_path",
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
