//! Sums over machines: each tenant's (drawn beside its quota) and the fleet's, one value per
//! metric per 10 s bucket, which then roll up into the tiers like any target's samples.
//!
//! A machine counts in a bucket with its average over the bucket of each metric: the
//! metric's device-less series where it has one (a VM's CPU in all, beside its vCPUs), else
//! the sum of its devices (disks, NICs). A bucket is summed once, [`LATE_MS`] after it ends.
//! A sample that arrives later (a node catching up after its link was cut, or anything taken
//! before the backend started) fills its machine's own history but not the sums: for that
//! time the sums lack that node's machines. Summing partial buckets again later would mean
//! rewriting rows the coarser tiers have already taken in.

use std::collections::{BTreeMap, HashMap};

use corral_api::metrics::Metric;
use corral_api::{MachineId, TenantId};

use super::rollup::TIERS;
use crate::store::metrics::SeriesKey;

/// How long after its end a bucket waits for its samples before it is summed, unless told
/// otherwise (`--metrics-sum-wait-secs`).
pub const LATE_MS: i64 = 30_000;

/// What a sum is of.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SumOf {
    Tenant(TenantId),
    Fleet,
}

/// A bucket summed: its start (Unix seconds), what it is the sum of, and each metric's value.
#[derive(Clone, Debug, PartialEq)]
pub struct Summed {
    pub bucket: i64,
    pub of: SumOf,
    pub values: Vec<(Metric, f64)>,
}

/// One machine in one bucket: its tenant and each metric's total and count of samples.
#[derive(Debug, Default)]
struct MachineBucket {
    tenant: Option<TenantId>,
    metrics: BTreeMap<Metric, (f64, u32)>,
}

/// The buckets not yet summed.
#[derive(Debug)]
pub struct Sums {
    /// How long after its end a bucket waits for its samples.
    late_ms: i64,
    /// Buckets starting at or before this (Unix seconds) are summed; `None` until the first
    /// sample, when everything already due counts as summed.
    closed_through: Option<i64>,
    open: BTreeMap<i64, HashMap<MachineId, MachineBucket>>,
    /// Sums made by a page whose write failed: the next [`Sums::close`] answers them again.
    unwritten: Vec<Summed>,
}

/// The most sums kept for a write that failed; past it the oldest go (a gap in the sums, as
/// for a sample that comes too late), so a long database outage cannot grow them unbounded.
pub const UNWRITTEN_MAX: usize = 10_000;

/// What one page did to the sums, so that a page whose write failed can be taken back out
/// ([`Sums::take_back`]) and counted once when it comes again.
#[derive(Debug, Default)]
pub struct PageSums {
    added: Vec<Added>,
    closed: Vec<Summed>,
}

/// One sample counted: its bucket, its machine and the values it added.
type Added = (i64, MachineId, Vec<(Metric, f64)>);

fn bucket_of(at_ms: i64) -> i64 {
    TIERS[0].bucket(at_ms.div_euclid(1000))
}

impl Default for Sums {
    fn default() -> Self {
        Self::new(LATE_MS)
    }
}

impl Sums {
    /// Sums whose buckets wait `late_ms` after their end for their samples.
    pub fn new(late_ms: i64) -> Self {
        Self { late_ms: late_ms.max(0), closed_through: None, open: BTreeMap::new(), unwritten: Vec::new() }
    }

    /// The last bucket that is due to be summed at `now_ms`.
    fn due_through(&self, now_ms: i64) -> i64 {
        bucket_of(now_ms - self.late_ms) - TIERS[0].res
    }

    /// Counts a machine's sample taken at `at_ms` (its stored values by metric, from
    /// [`totals`]), noting it in `page`. Answers false for a sample that came too late to be
    /// counted.
    pub fn add(
        &mut self,
        page: &mut PageSums,
        machine: MachineId,
        tenant: Option<TenantId>,
        at_ms: i64,
        now_ms: i64,
        totals: &[(Metric, f64)],
    ) -> bool {
        let due = self.due_through(now_ms);
        let closed = *self.closed_through.get_or_insert(due);
        let bucket = bucket_of(at_ms);
        if bucket <= closed {
            return false;
        }
        let m = self.open.entry(bucket).or_default().entry(machine).or_default();
        m.tenant = tenant;
        for (metric, value) in totals {
            let (sum, n) = m.metrics.entry(*metric).or_default();
            *sum += value;
            *n += 1;
        }
        page.added.push((bucket, machine, totals.to_vec()));
        true
    }

    /// Takes a page whose write failed back out: its samples leave the buckets still open
    /// (a bucket summed meanwhile by another node's page keeps them, and the page's retry
    /// finds it closed, so they count once either way), and the sums it made are answered
    /// by the next [`Sums::close`].
    pub fn take_back(&mut self, page: PageSums) {
        for (bucket, machine, totals) in page.added {
            let Some(machines) = self.open.get_mut(&bucket) else { continue };
            let Some(m) = machines.get_mut(&machine) else { continue };
            for (metric, value) in totals {
                if let Some((sum, n)) = m.metrics.get_mut(&metric) {
                    *sum -= value;
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        m.metrics.remove(&metric);
                    }
                }
            }
            if m.metrics.is_empty() {
                machines.remove(&machine);
            }
            if machines.is_empty() {
                self.open.remove(&bucket);
            }
        }
        let mut closed = page.closed;
        closed.append(&mut self.unwritten);
        closed.sort_by_key(|s| s.bucket);
        let over = closed.len().saturating_sub(UNWRITTEN_MAX);
        self.unwritten = closed.split_off(over);
    }

    /// Sums every bucket that is due at `now_ms` (the fleet's and that of each tenant that
    /// had machines in it), with any a failed page took back, noting them in `page`.
    pub fn close(&mut self, page: &mut PageSums, now_ms: i64) -> Vec<Summed> {
        let due = self.due_through(now_ms);
        let closed = self.closed_through.get_or_insert(due);
        *closed = (*closed).max(due);
        let later = self.open.split_off(&(due + 1));
        let done = std::mem::replace(&mut self.open, later);
        let mut out = std::mem::take(&mut self.unwritten);
        for (bucket, machines) in done {
            let mut sums: BTreeMap<SumOf, BTreeMap<Metric, f64>> = BTreeMap::new();
            for m in machines.values() {
                for (metric, (sum, n)) in &m.metrics {
                    let average = sum / f64::from((*n).max(1));
                    *sums.entry(SumOf::Fleet).or_default().entry(*metric).or_default() += average;
                    if let Some(t) = m.tenant {
                        *sums.entry(SumOf::Tenant(t)).or_default().entry(*metric).or_default() += average;
                    }
                }
            }
            out.extend(sums.into_iter().map(|(of, values)| Summed {
                bucket,
                of,
                values: values.into_iter().collect(),
            }));
        }
        page.closed.clone_from(&out);
        out
    }
}

/// A machine's stored values (by series index, from `Rollup::rates`) as one value per metric:
/// the device-less series where there is one, else the sum over devices.
pub fn totals(series: &[SeriesKey], values: &[(u16, f64)]) -> Vec<(Metric, f64)> {
    let mut whole: BTreeMap<Metric, f64> = BTreeMap::new();
    let mut parts: BTreeMap<Metric, f64> = BTreeMap::new();
    for (index, value) in values {
        let Some((metric, device)) = series.get(usize::from(*index)) else { continue };
        if device.is_empty() {
            whole.insert(*metric, *value);
        } else {
            *parts.entry(*metric).or_default() += value;
        }
    }
    parts.extend(whole);
    parts.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_000_000_000_000;

    fn ids() -> (MachineId, MachineId, MachineId, TenantId, TenantId) {
        (
            MachineId::new_random(),
            MachineId::new_random(),
            MachineId::new_random(),
            TenantId::new_random(),
            TenantId::new_random(),
        )
    }

    fn value(closed: &[Summed], of: SumOf, metric: Metric) -> Option<f64> {
        let summed = closed.iter().find(|s| s.of == of)?;
        summed.values.iter().find(|(m, _)| *m == metric).map(|(_, v)| *v)
    }

    #[test]
    fn machines_add_up_per_tenant_and_for_the_fleet() {
        let (a, b, c, t1, t2) = ids();
        let mut sums = Sums::default();
        let mut p = PageSums::default();
        let at = NOW - 5_000;
        assert!(sums.add(
            &mut p,
            a,
            Some(t1),
            at,
            NOW,
            &[(Metric::CpuSeconds, 1.0), (Metric::MemoryBytes, 100.0)]
        ));
        assert!(sums.add(&mut p, b, Some(t1), at + 1_000, NOW, &[(Metric::CpuSeconds, 0.5)]));
        assert!(sums.add(&mut p, c, Some(t2), at, NOW, &[(Metric::CpuSeconds, 2.0)]));
        assert!(sums.close(&mut p, NOW).is_empty(), "the bucket waits for late samples");
        let closed = sums.close(&mut p, NOW + 10_000 + LATE_MS);
        assert!(closed.iter().all(|s| s.bucket == bucket_of(at)));
        assert_eq!(value(&closed, SumOf::Tenant(t1), Metric::CpuSeconds), Some(1.5));
        assert_eq!(value(&closed, SumOf::Tenant(t1), Metric::MemoryBytes), Some(100.0));
        assert_eq!(value(&closed, SumOf::Tenant(t2), Metric::CpuSeconds), Some(2.0));
        assert_eq!(value(&closed, SumOf::Fleet, Metric::CpuSeconds), Some(3.5));
        assert!(sums.close(&mut p, NOW + 60_000).is_empty(), "a bucket is summed once");
    }

    #[test]
    fn two_samples_of_a_machine_in_a_bucket_count_as_their_average() {
        let (a, _, _, t1, _) = ids();
        let mut sums = Sums::default();
        let mut p = PageSums::default();
        let bucket = bucket_of(NOW) * 1000;
        sums.add(&mut p, a, Some(t1), bucket + 1_000, NOW, &[(Metric::CpuSeconds, 1.0)]);
        sums.add(&mut p, a, Some(t1), bucket + 6_000, NOW, &[(Metric::CpuSeconds, 3.0)]);
        let closed = sums.close(&mut p, NOW + 60_000);
        assert_eq!(value(&closed, SumOf::Tenant(t1), Metric::CpuSeconds), Some(2.0));
    }

    #[test]
    fn a_late_sample_is_left_out_and_an_unmanaged_machine_counts_for_the_fleet_only() {
        let (a, b, _, t1, _) = ids();
        let mut sums = Sums::default();
        let mut p = PageSums::default();
        sums.add(&mut p, a, Some(t1), NOW, NOW, &[(Metric::CpuSeconds, 1.0)]);
        let closed = sums.close(&mut p, NOW + 60_000);
        assert_eq!(closed.len(), 2);
        assert!(
            !sums.add(&mut p, b, None, NOW, NOW + 60_000, &[(Metric::CpuSeconds, 1.0)]),
            "its bucket is summed"
        );
        // Before the backend started: already due, so never summed (a partial sum would lie).
        let mut fresh = Sums::default();
        assert!(!fresh.add(&mut p, a, Some(t1), NOW - 120_000, NOW, &[(Metric::CpuSeconds, 1.0)]));
        assert!(fresh.add(&mut p, b, None, NOW, NOW, &[(Metric::CpuSeconds, 4.0)]));
        let closed = fresh.close(&mut p, NOW + 60_000);
        assert_eq!(value(&closed, SumOf::Fleet, Metric::CpuSeconds), Some(4.0));
        assert!(closed.iter().all(|s| s.of == SumOf::Fleet));
    }

    #[test]
    fn a_page_taken_back_counts_once_when_it_comes_again() {
        let (a, b, _, t1, _) = ids();
        let mut sums = Sums::default();
        let bucket = bucket_of(NOW) * 1000;
        let mut kept = PageSums::default();
        sums.add(&mut kept, a, Some(t1), bucket + 1_000, NOW, &[(Metric::CpuSeconds, 1.0)]);
        // A page of two samples whose write fails, one of them of a machine new to the bucket.
        let mut failed = PageSums::default();
        sums.add(&mut failed, a, Some(t1), bucket + 6_000, NOW, &[(Metric::CpuSeconds, 5.0)]);
        sums.add(&mut failed, b, Some(t1), bucket + 6_000, NOW, &[(Metric::CpuSeconds, 2.0)]);
        sums.take_back(failed);
        // Its retry: counted once, not weighting `a`'s average toward 5.
        let mut retry = PageSums::default();
        sums.add(&mut retry, a, Some(t1), bucket + 6_000, NOW, &[(Metric::CpuSeconds, 5.0)]);
        sums.add(&mut retry, b, Some(t1), bucket + 6_000, NOW, &[(Metric::CpuSeconds, 2.0)]);
        let mut p = PageSums::default();
        let closed = sums.close(&mut p, NOW + 60_000);
        assert_eq!(value(&closed, SumOf::Tenant(t1), Metric::CpuSeconds), Some(3.0 + 2.0));

        // A page whose sums were due and not written: the next close answers them again.
        sums.take_back(p);
        let mut next = PageSums::default();
        let again = sums.close(&mut next, NOW + 70_000);
        assert_eq!(again, closed);
        assert!(sums.close(&mut PageSums::default(), NOW + 80_000).is_empty(), "then they are done");
        // And never more than the cap of them.
        let many = (0..UNWRITTEN_MAX as i64 + 5)
            .map(|bucket| Summed { bucket, of: SumOf::Fleet, values: Vec::new() })
            .collect();
        sums.take_back(PageSums { added: Vec::new(), closed: many });
        let kept = sums.close(&mut PageSums::default(), NOW + 90_000);
        assert_eq!(kept.len(), UNWRITTEN_MAX);
        assert_eq!(kept.first().map(|s| s.bucket), Some(5), "the oldest went");
    }

    #[test]
    fn a_whole_replaces_its_parts_and_devices_add_up() {
        let series: Vec<SeriesKey> = vec![
            (Metric::CpuSeconds, String::new()),
            (Metric::CpuSeconds, "vcpu0".into()),
            (Metric::CpuSeconds, "vcpu1".into()),
            (Metric::DiskReadBytes, "vda".into()),
            (Metric::DiskReadBytes, "vdb".into()),
        ];
        let got = totals(&series, &[(1, 0.4), (2, 0.5), (0, 1.0), (3, 10.0), (4, 5.0), (99, 7.0)]);
        assert_eq!(got, vec![(Metric::CpuSeconds, 1.0), (Metric::DiskReadBytes, 15.0)]);
        let only_parts = totals(&series, &[(1, 0.4), (2, 0.5)]);
        assert_eq!(only_parts, vec![(Metric::CpuSeconds, 0.9)]);
    }
}
