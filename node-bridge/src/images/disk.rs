//! Disk images (qcow2, raw, ISO): what `qemu-img` is allowed to learn about an imported file,
//! and the checks that keep an image from naming other files on the node.

use std::path::Path;

use super::{ImageStore, source_error};
use crate::error::BridgeError;

/// Whether the file starts with qcow2's magic.
fn is_qcow2(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let n = std::fs::File::open(path)?.read(&mut magic)?;
    Ok(n == 4 && magic == *b"QFI\xfb")
}

/// What other file a qcow2 image names, read from its header before anything opens it: a
/// backing file, or (version 3) an external data file. Other formats name none.
pub(super) fn qcow2_names_another_file(path: &Path) -> std::io::Result<Option<&'static str>> {
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

impl ImageStore {
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
}
