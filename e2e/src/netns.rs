//! A network namespace a test makes for itself, with a bridge in it: the host bridge that
//! machines' NICs join in the host-bridge tests. Removed with everything in it when dropped.

use std::sync::atomic::{AtomicU32, Ordering};

pub struct Netns {
    pub name: String,
}

impl Netns {
    /// A new namespace holding bridge `bridge`, up, at `address` (`10.0.2.2/24`).
    pub fn with_bridge(bridge: &str, address: &str) -> Netns {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("corral-e2e-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let ns = Netns { name };
        let run = |args: &[&str]| {
            let ok = std::process::Command::new("ip").args(args).status().is_ok_and(|s| s.success());
            assert!(ok, "ip {} failed (these tests run as root)", args.join(" "));
        };
        run(&["netns", "add", &ns.name]);
        run(&["-n", &ns.name, "link", "set", "lo", "up"]);
        run(&["-n", &ns.name, "link", "add", bridge, "type", "bridge"]);
        run(&["-n", &ns.name, "addr", "add", address, "dev", bridge]);
        run(&["-n", &ns.name, "link", "set", bridge, "up"]);
        ns
    }

    /// What `ip -n <ns> args…` prints.
    pub fn ip(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("ip").arg("-n").arg(&self.name).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `program args…` inside the namespace; its exit status and standard output.
    pub fn exec(&self, program: &str, args: &[&str]) -> (bool, String) {
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &self.name, program])
            .args(args)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = std::process::Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}
