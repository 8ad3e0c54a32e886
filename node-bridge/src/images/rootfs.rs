//! Zone images: a tarball holding `metadata.yaml` and `rootfs/`, the layout of Incus' and
//! LXD's unified images, plain or compressed with gzip or xz.
//!
//! Whoever names an image is not trusted with the node, so a tarball is read whole at import
//! and refused if any entry could land outside the zone's root filesystem or reach the host:
//! an absolute path, a `..`, a device node, a hard link to a file outside `rootfs/`, a
//! symbolic link whose target climbs out of it. An absolute symlink target is fine: it is
//! resolved inside the zone. Unpacking checks again (a file may change between import and
//! use) and goes through `tar`'s `unpack_in`, which also refuses to write through a symlink
//! made by an earlier entry.
//!
//! `tar`, `flate2` and `liblzma` read the archive (maintained, and what Rust's own tooling
//! uses); `serde_norway` reads the YAML metadata.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Component, Path, PathBuf};

pub use corral_api::spec::ZoneInit;
use serde::Deserialize;

use super::source_error;
use crate::error::BridgeError;

/// The largest `metadata.yaml` read.
const METADATA_MAX_BYTES: u64 = 64 << 10;
/// Entries in one image; a tarball of millions of empty files is refused.
const MAX_ENTRIES: u64 = 1 << 20;

/// What a zone image says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ZoneImageInfo {
    /// `busybox`, `debian`, … (`properties.os`).
    pub os: String,
    /// `bookworm`, `1.35`, … (`properties.release`).
    pub release: String,
    /// How the zone's init wants to be told to halt and reboot.
    pub init: ZoneInit,
    /// Bytes of the files in `rootfs/`, unpacked.
    pub unpacked_bytes: u64,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    properties: BTreeMap<String, String>,
}

/// Whether the file starts like a tarball this store reads (gzip, xz, or a plain ustar).
pub fn looks_like_tarball(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; 512];
    let n = read_up_to(&mut std::fs::File::open(path)?, &mut head)?;
    Ok(compression(&head[..n]).is_some())
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Xz,
}

fn compression(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Some(Compression::Gzip)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Compression::Xz)
    } else if head.len() >= 262 && &head[257..262] == b"ustar" {
        Some(Compression::None)
    } else {
        None
    }
}

/// The tarball's entries, decompressed as its first bytes say.
fn archive(path: &Path) -> Result<tar::Archive<Box<dyn Read>>, BridgeError> {
    let mut file = BufReader::new(std::fs::File::open(path)?);
    let head = file.fill_buf()?;
    let reader: Box<dyn Read> = match compression(head) {
        Some(Compression::Gzip) => Box::new(flate2::read::MultiGzDecoder::new(file)),
        Some(Compression::Xz) => Box::new(liblzma::read::XzDecoder::new_multi_decoder(file)),
        Some(Compression::None) => Box::new(file),
        None => return Err(source_error("not a tarball (tar, tar.gz or tar.xz)")),
    };
    Ok(tar::Archive::new(reader))
}

/// Where an entry goes: `Rootfs(path inside the zone)`, the metadata, or something else of
/// the image's (templates) that a zone does not use.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    Rootfs(PathBuf),
    Metadata,
    Other,
}

/// Checks an entry's path: relative, no `..`, no `.`-only tricks; and says where it goes.
fn place(raw: &Path) -> Result<Place, String> {
    let mut parts = Vec::new();
    for c in raw.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => return Err(format!("{} climbs out with ..", raw.display())),
            Component::RootDir | Component::Prefix(_) => {
                return Err(format!("{} is an absolute path", raw.display()));
            }
        }
    }
    Ok(match parts.split_first() {
        Some((first, rest)) if *first == "rootfs" => Place::Rootfs(rest.iter().collect()),
        Some((first, [])) if *first == "metadata.yaml" => Place::Metadata,
        _ => Place::Other,
    })
}

/// Whether a symlink at `inside` (a path in the zone) pointing at `target` stays in the
/// zone's tree when followed from the host: absolute targets are the zone's own; relative
/// ones may not climb above its root.
fn link_stays_inside(inside: &Path, target: &Path) -> bool {
    if target.is_absolute() {
        return true;
    }
    let mut depth: i64 = inside.parent().map_or(0, |p| p.components().count() as i64);
    for c in target.components() {
        match c {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return true,
        }
        if depth < 0 {
            return false;
        }
    }
    true
}

/// Checks one entry; `Err` says why the image is refused.
fn check_entry<R: Read>(entry: &tar::Entry<R>, place: &Place) -> Result<(), String> {
    let header = entry.header();
    let kind = header.entry_type();
    let path = entry.path().map_err(|e| e.to_string())?;
    if kind.is_block_special() || kind.is_character_special() {
        return Err(format!("{} is a device node", path.display()));
    }
    let Place::Rootfs(inside) = place else { return Ok(()) };
    if kind.is_hard_link() || kind.is_symlink() {
        let target = entry
            .link_name()
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("{} is a link to nothing", path.display()))?;
        if kind.is_hard_link() {
            // A hard link names another entry of the archive, which must be in the rootfs.
            match self::place(&target)? {
                Place::Rootfs(_) => {}
                _ => return Err(format!("{} is a hard link out of the rootfs", path.display())),
            }
        } else if !link_stays_inside(inside, &target) {
            return Err(format!("{} links to {}, out of the rootfs", path.display(), target.display()));
        }
    }
    Ok(())
}

/// Reads the whole tarball: every entry checked, the metadata read, the unpacked size
/// summed against `max_unpacked`. Blocking: call it from `spawn_blocking`.
pub fn inspect(path: &Path, max_unpacked: u64) -> Result<ZoneImageInfo, BridgeError> {
    let mut archive = archive(path)?;
    let mut metadata: Option<Metadata> = None;
    let (mut unpacked, mut count, mut has_rootfs) = (0u64, 0u64, false);
    let bad = |why: String| source_error(format!("not a zone image this node accepts: {why}"));
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(bad(format!("more than {MAX_ENTRIES} entries")));
        }
        let raw = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let place = place(&raw).map_err(bad)?;
        check_entry(&entry, &place).map_err(bad)?;
        match &place {
            Place::Rootfs(_) => {
                has_rootfs = true;
                unpacked = unpacked.saturating_add(entry.header().size().unwrap_or(0));
                if unpacked > max_unpacked {
                    return Err(bad(format!("it unpacks to more than {max_unpacked} bytes")));
                }
            }
            Place::Metadata => {
                if entry.header().size().unwrap_or(u64::MAX) > METADATA_MAX_BYTES {
                    return Err(bad(format!("metadata.yaml is larger than {METADATA_MAX_BYTES} bytes")));
                }
                let mut text = String::new();
                entry.read_to_string(&mut text).map_err(|e| bad(format!("metadata.yaml: {e}")))?;
                metadata =
                    Some(serde_norway::from_str(&text).map_err(|e| bad(format!("metadata.yaml: {e}")))?);
            }
            Place::Other => {}
        }
    }
    let metadata = metadata.ok_or_else(|| bad("it has no metadata.yaml".into()))?;
    if !has_rootfs {
        return Err(bad("it has no rootfs/".into()));
    }
    if let Some(arch) = metadata.architecture.as_deref()
        && !["x86_64", "amd64"].contains(&arch)
    {
        return Err(bad(format!("it is built for {arch}; this node runs x86_64")));
    }
    let prop = |k: &str| metadata.properties.get(k).cloned().unwrap_or_default();
    let init = match metadata.properties.get("init") {
        None => ZoneInit::default(),
        Some(s) => serde_norway::from_str(s)
            .map_err(|_| bad(format!("properties.init is {s:?}: busybox, systemd or sysvinit")))?,
    };
    let (os, release) = (prop("os"), prop("release"));
    for (field, value) in [("properties.os", &os), ("properties.release", &release)] {
        corral_api::validate::zone_label(field, value).map_err(|e| bad(format!("{field}: {}", e.message)))?;
    }
    Ok(ZoneImageInfo { os, release, init, unpacked_bytes: unpacked })
}

/// Unpacks the image's `rootfs/` into `<zone_dir>/rootfs`, keeping owners, modes and
/// extended attributes (file capabilities). Every entry is checked again. Blocking; on an
/// error the caller removes what was unpacked.
pub fn unpack(path: &Path, zone_dir: &Path) -> Result<(), BridgeError> {
    let mut archive = archive(path)?;
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(false);
    let bad = |why: String| BridgeError::Host(format!("unpacking the zone image: {why}"));
    std::fs::create_dir_all(zone_dir.join("rootfs"))?;
    for entry in archive.entries().map_err(|e| bad(e.to_string()))? {
        let mut entry = entry.map_err(|e| bad(e.to_string()))?;
        let raw = entry.path().map_err(|e| bad(e.to_string()))?.into_owned();
        let place = place(&raw).map_err(bad)?;
        check_entry(&entry, &place).map_err(bad)?;
        if let Place::Rootfs(inside) = place {
            if inside.as_os_str().is_empty() {
                continue;
            }
            // `unpack_in` refuses paths that leave `zone_dir` and writes through no symlink.
            if !entry.unpack_in(zone_dir).map_err(|e| bad(format!("{}: {e}", raw.display())))? {
                return Err(bad(format!("{} would land outside the zone", raw.display())));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// An entry of a test tarball: path, kind, and its contents or link target.
    pub(crate) type Entry<'a> = (&'a str, tar::EntryType, &'a str);

    /// A tarball of `entries` under `dir`.
    pub(crate) fn tarball(dir: &Path, entries: &[Entry]) -> PathBuf {
        let path = dir.join("image.tar.gz");
        let gz = flate2::write::GzEncoder::new(std::fs::File::create(&path).unwrap(), Default::default());
        let mut b = tar::Builder::new(gz);
        for (name, kind, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(0o755);
            h.set_uid(0);
            h.set_gid(0);
            // Names written raw: the builder's own setters refuse the hostile ones under test.
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            let body: &[u8] = if kind.is_symlink() || kind.is_hard_link() {
                h.as_old_mut().linkname[..data.len()].copy_from_slice(data.as_bytes());
                b""
            } else {
                data.as_bytes()
            };
            h.set_size(body.len() as u64);
            h.set_cksum();
            b.append(&h, body).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap();
        path
    }

    pub(crate) const META: &str =
        "architecture: x86_64\nproperties:\n  os: busybox\n  release: \"1.35\"\n  init: busybox\n";

    /// A small zone image of BusyBox's layout (its files are not real programs).
    pub(crate) fn good(dir: &Path) -> PathBuf {
        use tar::EntryType::*;
        tarball(
            dir,
            &[
                ("metadata.yaml", Regular, META),
                ("rootfs/", Directory, ""),
                ("rootfs/bin/", Directory, ""),
                ("rootfs/bin/busybox", Regular, "#!/bin/true\n"),
                ("rootfs/bin/sh", Symlink, "busybox"),
                ("rootfs/sbin/init", Symlink, "/bin/busybox"),
                ("rootfs/bin/ash", Link, "rootfs/bin/busybox"),
            ],
        )
    }

    #[test]
    fn a_good_image_is_read_and_unpacked_with_its_links() {
        let tmp = tempfile::tempdir().unwrap();
        let image = good(tmp.path());
        assert!(looks_like_tarball(&image).unwrap());
        let info = inspect(&image, 1 << 20).unwrap();
        assert_eq!(
            (info.os.as_str(), info.release.as_str(), info.init),
            ("busybox", "1.35", ZoneInit::Busybox)
        );
        assert_eq!(info.unpacked_bytes, 12);
        let zone = tmp.path().join("zone");
        unpack(&image, &zone).unwrap();
        let root = zone.join("rootfs");
        assert_eq!(std::fs::read_to_string(root.join("bin/ash")).unwrap(), "#!/bin/true\n");
        assert_eq!(std::fs::read_link(root.join("sbin/init")).unwrap(), Path::new("/bin/busybox"));
        assert!(!zone.join("metadata.yaml").exists(), "only the rootfs is unpacked");
        assert!(matches!(inspect(&image, 11), Err(BridgeError::Validation { .. })), "the size cap holds");
    }

    #[test]
    fn hostile_entries_are_refused_by_inspection_and_unpacking() {
        use tar::EntryType::*;
        let cases: &[(&str, &[Entry])] = &[
            ("absolute path", &[("/etc/cron.d/x", Regular, "boom")]),
            ("climbs out", &[("rootfs/../../etc/x", Regular, "boom")]),
            ("device node", &[("rootfs/dev/sda", Block, "")]),
            ("device node", &[("rootfs/dev/mem", Char, "")]),
            ("hard link out", &[("rootfs/shadow", Link, "../../etc/shadow")]),
            ("hard link out", &[("rootfs/shadow", Link, "/etc/shadow")]),
            ("hard link out", &[("rootfs/meta", Link, "metadata.yaml")]),
            ("symlink out", &[("rootfs/etc/up", Symlink, "../../..")]),
            ("symlink out", &[("rootfs/a", Symlink, "b/../../x")]),
        ];
        for (why, entries) in cases {
            let tmp = tempfile::tempdir().unwrap();
            let mut all: Vec<Entry> = vec![("metadata.yaml", Regular, META), ("rootfs/", Directory, "")];
            all.extend_from_slice(entries);
            let image = tarball(tmp.path(), &all);
            let e = inspect(&image, 1 << 20).unwrap_err();
            assert!(matches!(e, BridgeError::Validation { field: "source", .. }), "{why}: {e:?}");
            let zone = tmp.path().join("zone");
            assert!(unpack(&image, &zone).is_err(), "{why}: unpacked");
            let escaped: Vec<_> = walk(tmp.path()).into_iter().filter(|p| !p.starts_with(&zone)).collect();
            assert_eq!(escaped, std::slice::from_ref(&image), "{why}: wrote outside the zone");
        }
    }

    #[test]
    fn a_tarball_without_metadata_or_rootfs_or_for_another_arch_is_refused() {
        use tar::EntryType::*;
        let tmp = tempfile::tempdir().unwrap();
        let no_meta = tarball(tmp.path(), &[("rootfs/bin/x", Regular, "x")]);
        assert!(format!("{:?}", inspect(&no_meta, 1 << 20)).contains("no metadata.yaml"));
        let no_root = tarball(tmp.path(), &[("metadata.yaml", Regular, META)]);
        assert!(format!("{:?}", inspect(&no_root, 1 << 20)).contains("no rootfs/"));
        let arm = tarball(
            tmp.path(),
            &[("metadata.yaml", Regular, "architecture: aarch64\n"), ("rootfs/x", Regular, "x")],
        );
        assert!(format!("{:?}", inspect(&arm, 1 << 20)).contains("aarch64"));
        let odd = META.replace("init: busybox", "init: upstart");
        let odd = tarball(tmp.path(), &[("metadata.yaml", Regular, &odd), ("rootfs/x", Regular, "x")]);
        assert!(format!("{:?}", inspect(&odd, 1 << 20)).contains("upstart"));
        let text = tmp.path().join("notes.txt");
        std::fs::write(&text, "hello").unwrap();
        assert!(!looks_like_tarball(&text).unwrap());
        assert!(inspect(&text, 1 << 20).is_err());
    }

    #[test]
    fn symlinks_are_judged_from_where_they_sit() {
        assert!(link_stays_inside(Path::new("bin/sh"), Path::new("busybox")));
        assert!(link_stays_inside(Path::new("usr/bin/sh"), Path::new("../../bin/busybox")));
        assert!(!link_stays_inside(Path::new("usr/bin/sh"), Path::new("../../../bin/busybox")));
        assert!(link_stays_inside(Path::new("etc/mtab"), Path::new("/proc/self/mounts")));
        assert!(!link_stays_inside(Path::new("x"), Path::new("..")));
    }

    fn walk(dir: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
        out
    }
}
