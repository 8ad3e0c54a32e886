//! Images for tests of the control plane: a zone image small enough to make on the spot
//! (a sim node only checks and keeps it; real zones use `scripts/build-zone-image.sh`).

use std::path::Path;

/// Writes a gzipped zone image to `path`: `metadata.yaml` (os `busybox`, init `busybox`)
/// and a `rootfs/` with one file.
pub fn write_zone_image(path: &Path) -> std::io::Result<()> {
    let gz = flate2::write::GzEncoder::new(std::fs::File::create(path)?, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    let meta = "architecture: x86_64\nproperties:\n  os: busybox\n  release: test\n  init: busybox\n";
    let mut add = |name: &str, kind: tar::EntryType, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, name, data)
    };
    add("metadata.yaml", tar::EntryType::Regular, meta.as_bytes())?;
    add("rootfs/", tar::EntryType::Directory, b"")?;
    add("rootfs/etc/", tar::EntryType::Directory, b"")?;
    add("rootfs/etc/hostname", tar::EntryType::Regular, b"zone\n")?;
    tar.into_inner()?.finish()?;
    Ok(())
}
