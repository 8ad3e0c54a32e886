//! A btrfs filesystem on a loop file, mounted where a test wants its zones: what `up.sh` gives
//! a node so its zones' disk sizes hold. Unmounted when dropped (the loop device goes with
//! it: `mount -o loop` sets autoclear).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct BtrfsLoop {
    mount: PathBuf,
}

impl BtrfsLoop {
    /// A new filesystem of `size` (`3G`: a sparse file) in `image`, mounted at `mount`.
    pub fn mount_at(image: &Path, mount: &Path, size: &str) -> BtrfsLoop {
        let run = |program: &str, args: &[&std::ffi::OsStr]| {
            let ok = Command::new(program).args(args).status().is_ok_and(|s| s.success());
            assert!(ok, "{program} {args:?} failed (these tests run as root, with btrfs-progs)");
        };
        std::fs::create_dir_all(mount).unwrap();
        run("truncate", &["-s".as_ref(), size.as_ref(), image.as_os_str()]);
        run("mkfs.btrfs", &["-q".as_ref(), image.as_os_str()]);
        run("mount", &["-o".as_ref(), "loop".as_ref(), image.as_os_str(), mount.as_os_str()]);
        BtrfsLoop { mount: mount.to_path_buf() }
    }

    /// Whether `path` is a subvolume of this filesystem.
    pub fn is_subvolume(path: &Path) -> bool {
        Command::new("btrfs").args(["subvolume", "show"]).arg(path).output().is_ok_and(|o| o.status.success())
    }

    /// `btrfs subvolume list` of the whole filesystem: a line per subvolume.
    pub fn subvolumes(&self) -> String {
        let out = Command::new("btrfs").args(["subvolume", "list"]).arg(&self.mount).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The limit on referenced bytes of the subvolume at `path`, as `btrfs qgroup show` has
    /// it (`1.00GiB`), if it has one.
    pub fn limit_of(path: &Path) -> Option<String> {
        let out = Command::new("btrfs").args(["qgroup", "show", "-rf", "--iec"]).arg(path).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // Qgroupid  Referenced  Exclusive  Max referenced  Path
        let row = text.lines().find(|l| l.starts_with("0/"))?;
        row.split_whitespace().nth(3).filter(|v| *v != "none").map(str::to_string)
    }
}

impl Drop for BtrfsLoop {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mount).status();
    }
}
