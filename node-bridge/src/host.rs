//! The host seam: running host commands (`HostExec`, with a real and a fake implementation),
//! facts about the host, the accelerator choice, and processes we did not spawn ourselves.

use std::collections::VecDeque;
use std::io;
use std::path::Path;
use std::sync::Mutex;

use async_trait::async_trait;

/// What a finished command left behind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CmdOutput {
    pub success: bool,
    pub stdout: String,
    pub stderr: String,
}

impl CmdOutput {
    pub fn ok(stdout: &str) -> Self {
        Self { success: true, stdout: stdout.into(), stderr: String::new() }
    }

    pub fn failed(stderr: &str) -> Self {
        Self { success: false, stdout: String::new(), stderr: stderr.into() }
    }

    /// The last lines of stderr, for an error message a person can act on.
    pub fn stderr_tail(&self) -> String {
        let lines: Vec<&str> = self.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        lines[lines.len().saturating_sub(5)..].join("\n")
    }
}

/// Runs a host command to completion. Drivers go through this so tests can substitute
/// [`FakeExec`] and check exactly which commands a step runs.
#[async_trait]
pub trait HostExec: Send + Sync + std::fmt::Debug + 'static {
    async fn run(&self, program: &str, args: &[String]) -> io::Result<CmdOutput>;
}

#[derive(Debug, Default)]
pub struct RealExec;

#[async_trait]
impl HostExec for RealExec {
    async fn run(&self, program: &str, args: &[String]) -> io::Result<CmdOutput> {
        let out = tokio::process::Command::new(program)
            .args(args)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output()
            .await?;
        Ok(CmdOutput {
            success: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// Records every command and answers from a script: the first queued answer whose program
/// matches, else success with empty output. A program told to [`FakeExec::make_output`]
/// leaves an empty file where its output flag points when it succeeds, as the real tool
/// would leave its output.
#[derive(Debug, Default)]
pub struct FakeExec {
    pub log: Mutex<Vec<Vec<String>>>,
    answers: Mutex<VecDeque<(String, CmdOutput)>>,
    outputs: Mutex<Vec<(String, String)>>,
}

impl FakeExec {
    /// When `program` succeeds, an empty file appears at the argument after `flag`.
    pub fn make_output(&self, program: &str, flag: &str) {
        self.outputs.lock().unwrap_or_else(|p| p.into_inner()).push((program.into(), flag.into()));
    }

    pub fn answer(&self, program: &str, out: CmdOutput) {
        self.answers.lock().unwrap_or_else(|p| p.into_inner()).push_back((program.to_string(), out));
    }

    pub fn commands(&self) -> Vec<Vec<String>> {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl HostExec for FakeExec {
    async fn run(&self, program: &str, args: &[String]) -> io::Result<CmdOutput> {
        let mut cmd = vec![program.to_string()];
        cmd.extend(args.iter().cloned());
        self.log.lock().unwrap_or_else(|p| p.into_inner()).push(cmd);
        let out = {
            let mut answers = self.answers.lock().unwrap_or_else(|p| p.into_inner());
            match answers.iter().position(|(p, _)| p == program) {
                Some(i) => answers.remove(i).map(|(_, o)| o).unwrap_or_default(),
                None => CmdOutput::ok(""),
            }
        };
        if out.success {
            let outputs = self.outputs.lock().unwrap_or_else(|p| p.into_inner()).clone();
            for (_, flag) in outputs.iter().filter(|(p, _)| p == program) {
                if let Some(path) = args.iter().skip_while(|a| *a != flag).nth(1) {
                    std::fs::write(path, b"")?;
                }
            }
        }
        Ok(out)
    }
}

/// Which hardware acceleration QEMU uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AccelChoice {
    /// KVM when it is real and usable, TCG otherwise.
    Auto,
    Kvm,
    Tcg,
}

/// The accelerator in force and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accel {
    pub name: &'static str,
    pub reason: String,
}

/// Decides the accelerator. `auto` never picks KVM blindly: `/dev/kvm` must open read-write,
/// and a `kvm_pvm` module (a software nested hypervisor under which Linux guests do not boot
/// in useful time) rules it out.
pub fn choose_accel(choice: AccelChoice, sys: &Path, dev_kvm: &Path) -> Accel {
    match choice {
        AccelChoice::Kvm => Accel { name: "kvm", reason: "configured".into() },
        AccelChoice::Tcg => Accel { name: "tcg", reason: "configured".into() },
        AccelChoice::Auto => {
            if std::fs::OpenOptions::new().read(true).write(true).open(dev_kvm).is_err() {
                Accel { name: "tcg", reason: format!("{} is not usable", dev_kvm.display()) }
            } else if sys.join("module/kvm_pvm").exists() {
                Accel {
                    name: "tcg",
                    reason: "/dev/kvm is kvm_pvm, a nested software hypervisor too slow for guests".into(),
                }
            } else {
                Accel { name: "kvm", reason: "/dev/kvm is usable".into() }
            }
        }
    }
}

/// CPUs and memory of this host, from /proc.
pub fn cpus_and_memory_mib() -> (u32, u64) {
    let cpus = std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1);
    let mem_kib = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()))
        })
        .unwrap_or(0);
    (cpus, mem_kib / 1024)
}

/// Free and total bytes of the filesystem holding `path`.
pub fn disk_space(path: &Path) -> io::Result<(u64, u64)> {
    let st = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    Ok((st.f_bavail.saturating_mul(st.f_frsize), st.f_blocks.saturating_mul(st.f_frsize)))
}

/// Whether `pid` is alive and its command line mentions `marker` (so a recycled pid is not
/// mistaken for our QEMU).
pub fn process_matches(pid: u32, marker: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains(marker))
        .unwrap_or(false)
}

/// SIGKILL, for a QEMU that no longer answers QMP.
pub fn kill_hard(pid: u32) -> io::Result<()> {
    let pid = rustix::process::Pid::from_raw(pid as i32).ok_or_else(|| io::Error::other("pid 0"))?;
    rustix::process::kill_process(pid, rustix::process::Signal::KILL).map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_refuses_missing_and_nested_kvm() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("kvm");
        assert_eq!(choose_accel(AccelChoice::Auto, tmp.path(), &missing).name, "tcg");
        let fake_kvm = tmp.path().join("kvm-dev");
        std::fs::write(&fake_kvm, b"").unwrap();
        assert_eq!(choose_accel(AccelChoice::Auto, tmp.path(), &fake_kvm).name, "kvm");
        std::fs::create_dir_all(tmp.path().join("module/kvm_pvm")).unwrap();
        let a = choose_accel(AccelChoice::Auto, tmp.path(), &fake_kvm);
        assert_eq!(a.name, "tcg");
        assert!(a.reason.contains("kvm_pvm"));
        assert_eq!(choose_accel(AccelChoice::Kvm, tmp.path(), &missing).name, "kvm");
    }

    #[test]
    fn stderr_tail_keeps_the_last_lines() {
        let out = CmdOutput::failed("a\nb\n\nc\nd\ne\nf\ng\n");
        assert_eq!(out.stderr_tail(), "c\nd\ne\nf\ng");
    }

    #[tokio::test]
    async fn fake_exec_records_and_answers() {
        let fake = FakeExec::default();
        fake.answer("qemu-img", CmdOutput::failed("no space"));
        let out = fake.run("qemu-img", &["info".into()]).await.unwrap();
        assert!(!out.success);
        assert!(fake.run("qemu-img", &[]).await.unwrap().success);
        assert_eq!(
            fake.commands(),
            vec![vec!["qemu-img".to_string(), "info".into()], vec!["qemu-img".to_string()]]
        );
    }
}
