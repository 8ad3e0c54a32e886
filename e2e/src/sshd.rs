//! A real OpenSSH `sshd` on a loopback port, with its own config, host key and
//! `authorized_keys`, in front of a bridge socket: what a remote node looks like.
//!
//! `stop` kills the listener and every session process it forked (each runs in its own
//! session, so a process group would miss them), as when a node's sshd goes away.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct SshdProc {
    pub dir: PathBuf,
    pub port: u16,
    /// The address it listens on: 127.0.0.1, or one inside `netns`.
    pub host: String,
    /// A network namespace the test made, to run in.
    netns: Option<String>,
    child: Option<Child>,
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("running a command");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The user sessions log in as: the one running the tests.
pub fn ssh_user() -> String {
    run(Command::new("id").arg("-un")).trim().to_string()
}

/// A free port on 127.0.0.1 (free a moment ago; the kernel rarely hands it out again at once).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl SshdProc {
    /// Makes a host key and a config in `dir` and starts sshd, trusting `authorized_key`.
    pub fn start(dir: &Path, authorized_key: &str) -> SshdProc {
        Self::start_in(dir, authorized_key, None, "127.0.0.1")
    }

    /// Like `start`, inside network namespace `netns`, listening on `host`.
    pub fn start_in(dir: &Path, authorized_key: &str, netns: Option<&str>, host: &str) -> SshdProc {
        std::fs::create_dir_all(dir).unwrap();
        let mut s = SshdProc {
            dir: dir.to_path_buf(),
            port: free_port(),
            host: host.to_string(),
            netns: netns.map(str::to_string),
            child: None,
        };
        s.new_host_key();
        std::fs::write(dir.join("authorized_keys"), format!("{authorized_key}\n")).unwrap();
        let config = format!(
            "Port {port}\nListenAddress {host}\nHostKey {dir}/host_ed25519\nPidFile {dir}/sshd.pid\n\
             AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nUsePAM no\n\
             PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
             PermitRootLogin prohibit-password\nPrintMotd no\nLogLevel VERBOSE\n\
             Match User {user}\n  AllowStreamLocalForwarding local\n  AllowTcpForwarding local\n\
             PermitTTY no\n  X11Forwarding no\n  ForceCommand /usr/sbin/nologin\n",
            user = ssh_user(),
            port = s.port,
            host = s.host,
            dir = dir.display()
        );
        std::fs::write(dir.join("sshd_config"), config).unwrap();
        // The `Match` block is the one docs/nodes.md asks node operators for. OpenSSH applies
        // AllowTcpForwarding to unix-socket forwarding too: `no` would deny the bridge socket.
        // sshd refuses to start without its privilege-separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        s.restart();
        s
    }

    /// A fresh host key, as if the node were reinstalled (takes effect at the next start).
    pub fn new_host_key(&self) {
        let key = self.dir.join("host_ed25519");
        let _ = std::fs::remove_file(&key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&key));
    }

    /// `SHA256:…` of the host key, as `ssh-keygen -lf` prints it.
    pub fn host_key_fingerprint(&self) -> String {
        let out = run(Command::new("ssh-keygen").arg("-lf").arg(self.dir.join("host_ed25519.pub")));
        out.split_whitespace().nth(1).expect("a fingerprint").to_string()
    }

    /// Starts sshd (again) and waits until it accepts connections.
    pub fn restart(&mut self) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).unwrap();
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns, "/usr/sbin/sshd"]);
                c
            }
            None => Command::new("/usr/sbin/sshd"),
        };
        let child = cmd
            .args(["-D", "-e", "-f"])
            .arg(self.dir.join("sshd_config"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starting /usr/sbin/sshd (openssh-server)");
        self.child = Some(child);
        let start = Instant::now();
        while std::net::TcpStream::connect((self.host.as_str(), self.port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(10), "sshd did not come up: {}", self.log());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("sshd.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// Kills sshd and every session it forked: all links to the node drop. sshd is frozen
    /// first, so that a client reconnecting while its sessions die finds no one to fork a new
    /// one (a connection it makes then waits in the backlog and fails when sshd dies).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let master = child.id().to_string();
        let _ = Command::new("kill").args(["-STOP", &master]).status();
        let mut doomed = vec![child.id()];
        let mut i = 0;
        while i < doomed.len() {
            doomed.extend(children_of(doomed[i]));
            i += 1;
        }
        let pids: Vec<String> = doomed.iter().map(u32::to_string).collect();
        let _ = Command::new("kill").arg("-9").args(&pids).status();
        let _ = child.wait();
    }
}

/// The pids whose parent is `pid`.
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|s| {
                s.rsplit_once(") ").and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

impl Drop for SshdProc {
    fn drop(&mut self) {
        self.stop();
    }
}
