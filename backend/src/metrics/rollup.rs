//! Rollups: from a target's samples to the rows of each tier, computed as samples arrive
//! (accumulators, as proxmox-rrd keeps them; no scans), and the tier and step a query reads.
//!
//! Tiers are rings: 10 s for a day, 1 min for a week, 10 min for a month, 1 h for a year. A
//! bucket's row lives in slot `(at / resolution) % length` and the next lap overwrites it, so
//! expiry costs nothing and a target's storage is fixed: 31,800 rows at most.
//!
//! Counters become rates here. A counter whose start changed, or that fell, began a new
//! count: that sample gives no rate (never a negative one). Neither does one more than
//! [`GAP_MS`] after the previous: a rate averaged over a long silence would draw a plateau
//! where nothing is known.

use std::collections::{BTreeMap, HashMap};

/// One tier: its resolution in seconds and how many buckets its ring holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tier {
    pub res: i64,
    pub len: i64,
}

impl Tier {
    /// How far back the tier reaches, in seconds.
    pub fn span(self) -> i64 {
        self.res * self.len
    }

    /// The start of the bucket holding `at` (Unix seconds).
    pub fn bucket(self, at: i64) -> i64 {
        at.div_euclid(self.res) * self.res
    }

    pub fn slot(self, at: i64) -> i64 {
        at.div_euclid(self.res).rem_euclid(self.len)
    }
}

pub const TIERS: [Tier; 4] = [
    Tier { res: 10, len: 8_640 },
    Tier { res: 60, len: 10_080 },
    Tier { res: 600, len: 4_320 },
    Tier { res: 3_600, len: 8_760 },
];

/// Rows a target keeps at most, over every tier.
pub const ROWS_PER_TARGET: i64 = 8_640 + 10_080 + 4_320 + 8_760;

/// A counter silent longer than this gives no rate on its next sample.
pub const GAP_MS: i64 = 120_000;

/// One series in a row: its index in the target's list, how many samples the bucket holds,
/// their average and maximum.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Entry {
    pub series: u16,
    pub n: u16,
    pub avg: f32,
    pub max: f32,
}

/// A bucket of one tier, as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub tier: usize,
    /// The bucket's start, Unix seconds.
    pub at: i64,
    pub entries: Vec<Entry>,
}

/// One value of a sample, mapped to its series.
#[derive(Clone, Copy, Debug)]
pub struct Value {
    pub series: u16,
    /// Counters: when the count began (Unix ms); gauges: `None`.
    pub start_ms: Option<i64>,
    pub value: f64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Acc {
    sum: f64,
    n: u32,
    max: f64,
}

impl Acc {
    fn add(&mut self, value: f64, n: u32) {
        self.max = if self.n == 0 { value } else { self.max.max(value) };
        self.sum += value * f64::from(n);
        self.n += n;
    }
}

#[derive(Clone, Debug)]
struct Bucket {
    at: i64,
    acc: BTreeMap<u16, Acc>,
}

impl Bucket {
    fn row(&self, tier: usize) -> Row {
        let entries = self
            .acc
            .iter()
            .filter(|(_, a)| a.n > 0)
            .map(|(series, a)| Entry {
                series: *series,
                n: a.n.min(u32::from(u16::MAX)) as u16,
                avg: (a.sum / f64::from(a.n)) as f32,
                max: a.max as f32,
            })
            .collect();
        Row { tier, at: self.at, entries }
    }
}

/// A target's rollup state: the last counter readings and each tier's open bucket.
#[derive(Debug, Default)]
pub struct Rollup {
    last_ms: Option<i64>,
    counters: HashMap<u16, (i64, f64, i64)>,
    open: [Option<Bucket>; 4],
}

impl Rollup {
    /// Takes one sample taken at `at_ms`; answers the rows to write: the open 10 s bucket as
    /// it now stands, and every coarser bucket this sample closed. A sample no newer than the
    /// last taken is ignored (a repeat).
    pub fn take(&mut self, at_ms: i64, values: &[Value]) -> Vec<Row> {
        match self.rates(at_ms, values) {
            Some(now) => self.roll(at_ms, &now),
            None => Vec::new(),
        }
    }

    /// The sample's values as they are stored (counters as rates per second, gauges as they
    /// are), by series; `None` for a sample no newer than the last (a repeat). A counter's
    /// first reading, its first after a reset and its first after a silence give no rate.
    pub fn rates(&mut self, at_ms: i64, values: &[Value]) -> Option<Vec<(u16, f64)>> {
        if self.last_ms.is_some_and(|last| at_ms <= last) {
            return None;
        }
        self.last_ms = Some(at_ms);
        let mut now = Vec::with_capacity(values.len());
        for v in values {
            match v.start_ms {
                None => now.push((v.series, v.value)),
                Some(start) => {
                    let before = self.counters.insert(v.series, (start, v.value, at_ms));
                    if let Some((was_start, was, was_ms)) = before
                        && was_start == start
                        && v.value >= was
                        && at_ms - was_ms <= GAP_MS
                    {
                        now.push((v.series, (v.value - was) / ((at_ms - was_ms) as f64 / 1000.0)));
                    }
                }
            }
        }
        Some(now)
    }

    /// Adds the stored values of a sample taken at `at_ms` (from [`Rollup::rates`]) to each
    /// tier's open bucket; answers the open 10 s bucket's row as it now stands and every
    /// coarser row this closed.
    pub fn roll(&mut self, at_ms: i64, now: &[(u16, f64)]) -> Vec<Row> {
        let at = at_ms.div_euclid(1000);
        let mut rows = Vec::new();
        for (tier, t) in TIERS.iter().enumerate() {
            let bucket = t.bucket(at);
            let open = &mut self.open[tier];
            if let Some(b) = open.as_ref()
                && b.at != bucket
            {
                if tier > 0 {
                    rows.push(b.row(tier));
                }
                *open = None;
            }
            let b = open.get_or_insert_with(|| Bucket { at: bucket, acc: BTreeMap::new() });
            for (series, value) in now {
                b.acc.entry(*series).or_default().add(*value, 1);
            }
            if tier == 0 && !b.acc.is_empty() {
                rows.push(b.row(0));
            }
        }
        rows
    }

    /// Picks up after a restart: the open buckets are refilled from the stored 10 s rows
    /// (`rows`, oldest first, of the current hour), and samples older than the last stored
    /// 10 s bucket are taken as already counted. Samples inside that bucket are taken: the
    /// node's cursor, written with the rows, keeps the counted ones from coming again.
    /// Counters start afresh: the first sample after a restart gives no rate.
    pub fn seed(&mut self, rows: &[Row]) {
        for row in rows.iter().filter(|r| r.tier == 0) {
            for (tier, t) in TIERS.iter().enumerate() {
                let bucket = t.bucket(row.at);
                let open = &mut self.open[tier];
                if open.as_ref().is_none_or(|b| b.at != bucket) {
                    *open = Some(Bucket { at: bucket, acc: BTreeMap::new() });
                }
                let b = open.as_mut().expect("set above");
                for e in &row.entries {
                    let acc = b.acc.entry(e.series).or_default();
                    // The stored average over n samples counts as n samples of it; its
                    // maximum is kept as the maximum.
                    acc.add(f64::from(e.avg), u32::from(e.n));
                    acc.max = acc.max.max(f64::from(e.max));
                }
            }
            self.last_ms = Some(row.at * 1000 - 1);
        }
    }
}

/// The stored form of a row's entries: 12 bytes each (series u16, n u16, avg f32, max f32,
/// little-endian).
pub fn encode(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 12);
    for e in entries {
        out.extend_from_slice(&e.series.to_le_bytes());
        out.extend_from_slice(&e.n.to_le_bytes());
        out.extend_from_slice(&e.avg.to_le_bytes());
        out.extend_from_slice(&e.max.to_le_bytes());
    }
    out
}

pub fn decode(body: &[u8]) -> Vec<Entry> {
    body.chunks_exact(12)
        .map(|c| Entry {
            series: u16::from_le_bytes([c[0], c[1]]),
            n: u16::from_le_bytes([c[2], c[3]]),
            avg: f32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            max: f32::from_le_bytes([c[8], c[9], c[10], c[11]]),
        })
        .collect()
}

/// The tier a query of `from..to` reads and the step of its points, for about `points`
/// points: the coarsest tier that still reaches back to `from` and is no coarser than the
/// step wanted, or the finest that reaches `from` if even it is coarser; if none reaches that
/// far back, the coarsest. The step is a whole number of the tier's buckets.
pub fn pick(from: i64, to: i64, now: i64, points: u32) -> (usize, i64) {
    let want = ((to - from).max(1) / i64::from(points.max(1))).max(1);
    let reaching: Vec<usize> = (0..TIERS.len()).filter(|&i| now - TIERS[i].span() <= from).collect();
    let tier = match reaching.first() {
        None => TIERS.len() - 1,
        Some(&finest) => reaching.iter().copied().rfind(|&i| TIERS[i].res <= want).unwrap_or(finest),
    };
    let res = TIERS[tier].res;
    (tier, (want / res).max(1) * res)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gauge(series: u16, value: f64) -> Value {
        Value { series, start_ms: None, value }
    }

    fn counter(series: u16, start_ms: i64, value: f64) -> Value {
        Value { series, start_ms: Some(start_ms), value }
    }

    fn entry(rows: &[Row], tier: usize, series: u16) -> Option<Entry> {
        rows.iter().find(|r| r.tier == tier)?.entries.iter().find(|e| e.series == series).copied()
    }

    #[test]
    fn counters_become_rates_and_a_reset_is_no_negative_rate() {
        let mut r = Rollup::default();
        assert!(entry(&r.take(0, &[counter(0, 0, 100.0)]), 0, 0).is_none(), "a first reading has no rate");
        let rows = r.take(10_000, &[counter(0, 0, 200.0)]);
        assert_eq!(entry(&rows, 0, 0).unwrap().avg, 10.0, "100 in 10 s");
        // QEMU restarted: a new start, a smaller total.
        assert!(entry(&r.take(20_000, &[counter(0, 15_000, 5.0)]), 0, 0).is_none());
        assert_eq!(entry(&r.take(30_000, &[counter(0, 15_000, 25.0)]), 0, 0).unwrap().avg, 2.0);
        // A total that falls under the same start (a zone's process left): a new count too.
        assert!(entry(&r.take(40_000, &[counter(0, 15_000, 20.0)]), 0, 0).is_none());
        // A repeat of an old sample is ignored.
        assert!(r.take(40_000, &[counter(0, 15_000, 9e9)]).is_empty());
    }

    #[test]
    fn average_and_maximum_across_a_tier_boundary() {
        let mut r = Rollup::default();
        // Six samples in minute 0 (gauge 1..=6), then one in minute 1 closes minute 0.
        let mut closed = Vec::new();
        for (i, v) in (1..=6).enumerate() {
            closed.extend(r.take(i as i64 * 10_000, &[gauge(3, f64::from(v))]));
        }
        assert!(closed.iter().all(|row| row.tier == 0), "nothing coarser closes inside the minute");
        let rows = r.take(60_000, &[gauge(3, 100.0)]);
        let minute = entry(&rows, 1, 3).unwrap();
        assert_eq!((minute.n, minute.avg, minute.max), (6, 3.5, 6.0));
        assert_eq!(rows.iter().find(|r| r.tier == 1).unwrap().at, 0);
        assert_eq!(entry(&rows, 0, 3).unwrap().avg, 100.0);
        assert!(entry(&rows, 2, 3).is_none(), "ten minutes are not over");
    }

    #[test]
    fn several_samples_in_one_ten_second_bucket_are_one_row() {
        let mut r = Rollup::default();
        r.take(1_000, &[gauge(0, 2.0)]);
        let rows = r.take(2_000, &[gauge(0, 4.0)]);
        let e = entry(&rows, 0, 0).unwrap();
        assert_eq!((e.n, e.avg, e.max), (2, 3.0, 4.0));
    }

    #[test]
    fn a_node_back_after_an_hour_leaves_a_gap_not_a_plateau() {
        let mut r = Rollup::default();
        r.take(0, &[counter(0, 0, 0.0), gauge(1, 5.0)]);
        r.take(10_000, &[counter(0, 0, 10.0), gauge(1, 5.0)]);
        let rows = r.take(3_610_000, &[counter(0, 0, 3610.0), gauge(1, 7.0)]);
        assert!(entry(&rows, 0, 0).is_none(), "no rate across the silence");
        assert_eq!(entry(&rows, 0, 1).unwrap().avg, 7.0, "gauges go on");
        // The open buckets of before closed, each at its own time; nothing filled the hour.
        let closed: Vec<(usize, i64)> = rows.iter().filter(|r| r.tier > 0).map(|r| (r.tier, r.at)).collect();
        assert_eq!(closed, vec![(1, 0), (2, 0), (3, 0)]);
    }

    #[test]
    fn a_restart_picks_up_the_open_buckets_from_stored_rows() {
        let mut before = Rollup::default();
        let mut stored = Vec::new();
        for i in 0..3 {
            stored.extend(before.take(i * 10_000, &[gauge(0, (i + 1) as f64)]));
        }
        let mut after = Rollup::default();
        after.seed(&stored);
        assert!(after.take(15_000, &[gauge(0, 99.0)]).is_empty(), "before the last stored bucket: counted");
        let rows = after.take(25_000, &[gauge(0, 5.0)]);
        let open = entry(&rows, 0, 0).unwrap();
        assert_eq!((open.n, open.avg, open.max), (2, 4.0, 5.0), "the rest of the open bucket is taken");
        let rows = after.take(60_000, &[gauge(0, 4.0)]);
        let minute = entry(&rows, 1, 0).unwrap();
        assert_eq!((minute.n, minute.avg, minute.max), (4, 2.75, 5.0), "as if no restart happened");
    }

    #[test]
    fn bodies_round_trip() {
        let e = vec![
            Entry { series: 7, n: 3, avg: 1.5, max: 2.25 },
            Entry { series: 300, n: 1, avg: -0.0, max: 1e9 },
        ];
        assert_eq!(decode(&encode(&e)), e);
    }

    #[test]
    fn the_tier_and_step_for_each_range() {
        let now = 1_000_000_000;
        let hour = 3_600;
        // (range back from now, points) → (tier resolution, step)
        for (back, points, res, step) in [
            (hour, 600, 10, 10),
            (hour, 100, 10, 30),
            (24 * hour, 600, 60, 120),
            (7 * 24 * hour, 600, 600, 600),
            (30 * 24 * hour, 600, 3_600, 3_600),
            (365 * 24 * hour, 600, 3_600, 50_400),
            // Older than a year: the coarsest tier, whatever it still holds.
            (3 * 365 * 24 * hour, 600, 3_600, 3_600 * 43),
        ] {
            let (tier, got) = pick(now - back, now, now, points);
            assert_eq!((TIERS[tier].res, got), (res, step), "{back} s at {points} points");
        }
        // Yesterday's ten minutes: the 10 s tier reaches back a day, just.
        let (tier, _) = pick(now - 24 * hour + 60, now - 24 * hour + 660, now, 600);
        assert_eq!(TIERS[tier].res, 10);
        // Two days ago: only the minute tier and coarser reach, so the minute tier.
        let (tier, step) = pick(now - 48 * hour, now - 48 * hour + 600, now, 600);
        assert_eq!((TIERS[tier].res, step), (60, 60));
    }

    #[test]
    fn slots_wrap_and_storage_is_bounded() {
        let t = TIERS[0];
        assert_eq!(t.slot(0), 0);
        assert_eq!(t.slot(t.span()), 0, "a lap later, the same slot");
        assert_eq!(t.slot(t.span() - 10), t.len - 1);
        assert_eq!(TIERS.iter().map(|t| t.len).sum::<i64>(), ROWS_PER_TARGET);
    }
}
