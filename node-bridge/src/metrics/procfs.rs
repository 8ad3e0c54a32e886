//! Reading the kernel's counters: parsers of `/proc` and `/sys` text, each a pure function
//! over the file's contents, so they are tested on fixed text; and the node's own sample.
//!
//! A file that is missing or unreadable (no PSI on this kernel, a process that just exited)
//! gives no points rather than zeros: a chart shows a gap, never a false calm.

use std::path::Path;

use corral_api::metrics::{Metric, MetricPoint};

/// Clock ticks per second of `/proc` CPU times (`getconf CLK_TCK`).
pub fn ticks_per_second() -> f64 {
    rustix::param::clock_ticks_per_second() as f64
}

/// `/proc/stat`: CPU seconds per mode (all CPUs together) and the boot time (Unix seconds).
#[derive(Debug, PartialEq)]
pub struct ProcStat {
    pub cpu_modes: Vec<(&'static str, f64)>,
    pub boot_time: i64,
}

const CPU_MODES: [&str; 8] = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];

pub fn parse_stat(text: &str, ticks: f64) -> Option<ProcStat> {
    let mut cpu_modes = Vec::new();
    let mut boot_time = None;
    for line in text.lines() {
        let mut words = line.split_ascii_whitespace();
        match words.next() {
            Some("cpu") => {
                cpu_modes = CPU_MODES
                    .iter()
                    .zip(words)
                    .filter_map(|(m, v)| Some((*m, v.parse::<f64>().ok()? / ticks)))
                    .collect();
            }
            Some("btime") => boot_time = words.next().and_then(|v| v.parse().ok()),
            _ => {}
        }
    }
    Some(ProcStat { cpu_modes, boot_time: boot_time? })
}

/// `/proc/meminfo`: (MemTotal, MemAvailable) in bytes.
pub fn parse_meminfo(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
            .split_ascii_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
            .map(|kib| kib * 1024)
    };
    Some((field("MemTotal")?, field("MemAvailable")?))
}

/// `/proc/loadavg`: the one-minute load.
pub fn parse_loadavg(text: &str) -> Option<f64> {
    text.split_ascii_whitespace().next()?.parse().ok()
}

/// `/proc/pressure/{cpu,io,memory}`: `some avg10`, in percent.
pub fn parse_pressure(text: &str) -> Option<f64> {
    let some = text.lines().find(|l| l.starts_with("some "))?;
    some.split_ascii_whitespace().find_map(|w| w.strip_prefix("avg10="))?.parse().ok()
}

/// One block device's totals from `/proc/diskstats`.
#[derive(Debug, PartialEq)]
pub struct DiskCounters {
    pub name: String,
    pub reads: u64,
    pub read_bytes: u64,
    pub writes: u64,
    pub write_bytes: u64,
}

/// `/proc/diskstats`; sectors are 512 bytes whatever the device's own sector size.
pub fn parse_diskstats(text: &str) -> Vec<DiskCounters> {
    text.lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_ascii_whitespace().collect();
            let n = |i: usize| w.get(i)?.parse::<u64>().ok();
            Some(DiskCounters {
                name: w.get(2)?.to_string(),
                reads: n(3)?,
                read_bytes: n(5)? * 512,
                writes: n(7)?,
                write_bytes: n(9)? * 512,
            })
        })
        .collect()
}

/// One interface's totals.
#[derive(Debug, PartialEq)]
pub struct NetCounters {
    pub name: String,
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
}

/// `/proc/net/dev`.
pub fn parse_net_dev(text: &str) -> Vec<NetCounters> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let w: Vec<u64> = rest.split_ascii_whitespace().filter_map(|v| v.parse().ok()).collect();
            Some(NetCounters {
                name: name.trim().to_string(),
                rx_bytes: *w.first()?,
                rx_packets: *w.get(1)?,
                tx_bytes: *w.get(8)?,
                tx_packets: *w.get(9)?,
            })
        })
        .collect()
}

/// An interface's totals from `/sys/class/net/<dev>/statistics`, as seen from the host.
pub fn read_net_sys(sys: &Path, dev: &str) -> Option<NetCounters> {
    let dir = sys.join("class/net").join(dev).join("statistics");
    let n = |f: &str| std::fs::read_to_string(dir.join(f)).ok()?.trim().parse::<u64>().ok();
    Some(NetCounters {
        name: dev.to_string(),
        rx_bytes: n("rx_bytes")?,
        rx_packets: n("rx_packets")?,
        tx_bytes: n("tx_bytes")?,
        tx_packets: n("tx_packets")?,
    })
}

/// CPU times and start of a process or thread, from `/proc/<pid>/stat`.
#[derive(Debug, PartialEq)]
pub struct PidStat {
    /// utime + stime, in ticks.
    pub cpu_ticks: u64,
    /// Ticks after boot at which it started.
    pub start_ticks: u64,
}

/// `/proc/<pid>/stat` or `/proc/<pid>/task/<tid>/stat`. The command name may hold spaces and
/// parentheses: fields are counted after its last `)`.
pub fn parse_pid_stat(text: &str) -> Option<PidStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // After the name: field 3 (state) is index 0, so field n is index n - 3.
    let w: Vec<&str> = rest.split_ascii_whitespace().collect();
    let n = |field: usize| w.get(field - 3)?.parse::<u64>().ok();
    Some(PidStat { cpu_ticks: n(14)? + n(15)?, start_ticks: n(22)? })
}

/// `VmRSS` of `/proc/<pid>/status`, in bytes.
pub fn parse_vm_rss(text: &str) -> Option<u64> {
    let kib = text.lines().find_map(|l| l.strip_prefix("VmRSS:"))?.split_ascii_whitespace().next()?;
    kib.parse::<u64>().ok().map(|k| k * 1024)
}

/// `read_bytes` and `write_bytes` of `/proc/<pid>/io`: what reached the storage layer.
pub fn parse_pid_io(text: &str) -> Option<(u64, u64)> {
    let field = |name: &str| text.lines().find_map(|l| l.strip_prefix(name))?.trim().parse::<u64>().ok();
    Some((field("read_bytes:")?, field("write_bytes:")?))
}

/// A counter point.
pub fn counter(metric: Metric, device: Option<&str>, value: f64, start_ms: i64) -> MetricPoint {
    MetricPoint { metric, device: device.map(str::to_string), value, start_ms: Some(start_ms) }
}

/// A gauge point.
pub fn gauge(metric: Metric, device: Option<&str>, value: f64) -> MetricPoint {
    MetricPoint { metric, device: device.map(str::to_string), value, start_ms: None }
}

/// Interfaces that are machines' NICs (the bridge's taps and veths): theirs, not the node's.
fn is_machine_nic(name: &str) -> bool {
    name == "lo" || name.starts_with("ctap") || name.starts_with("cveth") || name.starts_with("veth")
}

/// The node's sample: CPU by mode, memory, load, pressure, and its disks' and interfaces'
/// totals (counted from boot). `proc` and `sys` are `/proc` and `/sys` (others in tests).
pub fn node_points(proc: &Path, sys: &Path, ticks: f64) -> Vec<MetricPoint> {
    let read = |p: &str| std::fs::read_to_string(proc.join(p)).ok();
    let mut points = Vec::new();
    let Some(stat) = read("stat").and_then(|t| parse_stat(&t, ticks)) else { return points };
    let boot_ms = stat.boot_time * 1000;
    for (mode, seconds) in &stat.cpu_modes {
        points.push(counter(Metric::CpuSeconds, Some(mode), *seconds, boot_ms));
    }
    if let Some((total, available)) = read("meminfo").and_then(|t| parse_meminfo(&t)) {
        points.push(gauge(Metric::MemoryTotalBytes, None, total as f64));
        points.push(gauge(Metric::MemoryAvailableBytes, None, available as f64));
    }
    if let Some(load) = read("loadavg").and_then(|t| parse_loadavg(&t)) {
        points.push(gauge(Metric::Load1, None, load));
    }
    for (file, metric) in
        [("cpu", Metric::CpuPressure), ("io", Metric::IoPressure), ("memory", Metric::MemoryPressure)]
    {
        if let Some(v) = read(&format!("pressure/{file}")).and_then(|t| parse_pressure(&t)) {
            points.push(gauge(metric, None, v));
        }
    }
    // Whole disks only (those in /sys/block), without loop and RAM devices.
    for d in read("diskstats").map(|t| parse_diskstats(&t)).unwrap_or_default() {
        let whole = sys.join("block").join(&d.name).exists();
        if !whole || d.name.starts_with("loop") || d.name.starts_with("ram") {
            continue;
        }
        let dev = Some(d.name.as_str());
        points.push(counter(Metric::DiskReadBytes, dev, d.read_bytes as f64, boot_ms));
        points.push(counter(Metric::DiskWriteBytes, dev, d.write_bytes as f64, boot_ms));
        points.push(counter(Metric::DiskReadOps, dev, d.reads as f64, boot_ms));
        points.push(counter(Metric::DiskWriteOps, dev, d.writes as f64, boot_ms));
    }
    for n in read("net/dev").map(|t| parse_net_dev(&t)).unwrap_or_default() {
        if is_machine_nic(&n.name) || !corral_api::metrics::device_ok(&n.name) {
            continue;
        }
        net_points(&mut points, &n, false, boot_ms);
    }
    points
}

/// An interface's four counters. `inverted`: the host end of a machine's NIC, whose transmit
/// is what the machine receives.
pub fn net_points(points: &mut Vec<MetricPoint>, n: &NetCounters, inverted: bool, start_ms: i64) {
    let (rx, tx) = match inverted {
        false => ((n.rx_bytes, n.rx_packets), (n.tx_bytes, n.tx_packets)),
        true => ((n.tx_bytes, n.tx_packets), (n.rx_bytes, n.rx_packets)),
    };
    let dev = Some(n.name.as_str());
    points.push(counter(Metric::NetRxBytes, dev, rx.0 as f64, start_ms));
    points.push(counter(Metric::NetRxPackets, dev, rx.1 as f64, start_ms));
    points.push(counter(Metric::NetTxBytes, dev, tx.0 as f64, start_ms));
    points.push(counter(Metric::NetTxPackets, dev, tx.1 as f64, start_ms));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_gives_seconds_per_mode_and_the_boot_time() {
        let text =
            "cpu  100 5 50 1000 20 1 2 0 0 0\ncpu0 50 2 25 500 10 0 1 0 0 0\nintr 1\nbtime 1765000000\n";
        let s = parse_stat(text, 100.0).unwrap();
        assert_eq!(s.boot_time, 1_765_000_000);
        assert_eq!(s.cpu_modes[0], ("user", 1.0));
        assert_eq!(s.cpu_modes[3], ("idle", 10.0));
        assert_eq!(s.cpu_modes.len(), 8);
    }

    #[test]
    fn meminfo_load_and_pressure() {
        let mem = "MemTotal:       16000 kB\nMemFree:  10 kB\nMemAvailable:    8000 kB\n";
        assert_eq!(parse_meminfo(mem), Some((16000 * 1024, 8000 * 1024)));
        assert_eq!(parse_loadavg("0.52 0.40 0.30 1/200 999\n"), Some(0.52));
        let psi = "some avg10=1.25 avg60=0.50 avg300=0.10 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n";
        assert_eq!(parse_pressure(psi), Some(1.25));
        assert_eq!(parse_pressure(""), None);
    }

    #[test]
    fn diskstats_in_bytes_and_net_dev() {
        let disks = "   8       0 sda 100 0 2000 50 40 0 800 30 0 60 80 0 0 0 0\n";
        assert_eq!(
            parse_diskstats(disks),
            vec![DiskCounters {
                name: "sda".into(),
                reads: 100,
                read_bytes: 1_024_000,
                writes: 40,
                write_bytes: 409_600
            }]
        );
        let net = "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n";
        assert_eq!(
            parse_net_dev(net),
            vec![NetCounters {
                name: "eth0".into(),
                rx_bytes: 1000,
                rx_packets: 10,
                tx_bytes: 2000,
                tx_packets: 20
            }]
        );
    }

    #[test]
    fn a_process_name_with_parentheses_and_spaces() {
        let text = "4242 (qemu (x) y) S 1 4242 4242 0 -1 4194624 100 0 0 0 150 50 0 0 20 0 3 0 9000 100 200";
        assert_eq!(parse_pid_stat(text), Some(PidStat { cpu_ticks: 200, start_ticks: 9000 }));
        assert_eq!(parse_vm_rss("Name: qemu\nVmRSS:\t  2048 kB\n"), Some(2048 * 1024));
        let io = "rchar: 5\nwchar: 6\nsyscr: 1\nsyscw: 1\nread_bytes: 4096\nwrite_bytes: 8192\ncancelled_write_bytes: 0\n";
        assert_eq!(parse_pid_io(io), Some((4096, 8192)));
    }

    #[test]
    fn the_nodes_own_sample_from_this_machine() {
        let points = node_points(Path::new("/proc"), Path::new("/sys"), ticks_per_second());
        let has = |m: Metric| points.iter().any(|p| p.metric == m);
        assert!(has(Metric::CpuSeconds) && has(Metric::MemoryAvailableBytes) && has(Metric::Load1));
        let user = points.iter().find(|p| p.device.as_deref() == Some("user")).unwrap();
        assert!(user.value > 0.0 && user.start_ms.is_some());
        assert!(
            points.iter().all(|p| p.device.as_deref().is_none_or(|d| !d.starts_with("ctap") && d != "lo")),
            "machines' NICs and loopback are not the node's"
        );
    }
}
