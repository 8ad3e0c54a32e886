//! The bridge's recent samples: a ring bounded by count, served from a sequence number on, so
//! a backend that lost its link catches up with no gap as far back as the ring reaches.

use std::collections::VecDeque;

use corral_api::metrics::{METRIC_PAGE_MAX, MetricPage, MetricPoint, MetricSample, MetricTarget};

#[derive(Debug)]
pub struct SampleRing {
    samples: VecDeque<MetricSample>,
    capacity: usize,
    next_seq: u64,
}

impl SampleRing {
    /// A ring of `capacity` samples whose numbers start at `first_seq` (the bridge's start
    /// time in microseconds, so numbers grow across restarts).
    pub fn new(capacity: usize, first_seq: u64) -> Self {
        Self { samples: VecDeque::new(), capacity: capacity.max(1), next_seq: first_seq }
    }

    /// Keeps a sample, dropping the oldest past the bound; returns its number.
    pub fn push(&mut self, at_ms: i64, target: MetricTarget, points: Vec<MetricPoint>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(MetricSample { seq, at_ms, target, points });
        seq
    }

    /// The number of the newest sample, if any.
    pub fn newest(&self) -> Option<u64> {
        self.samples.back().map(|s| s.seq)
    }

    /// Up to `limit` samples after `after`, oldest first. An `after` beyond the newest is
    /// from an earlier run: everything kept follows it.
    pub fn after(&self, after: u64, limit: usize) -> MetricPage {
        let limit = limit.clamp(1, METRIC_PAGE_MAX);
        let from_start = self.newest().is_some_and(|n| after > n);
        let skip = match (from_start, self.samples.front()) {
            (true, _) | (_, None) => 0,
            // Numbers are consecutive within the ring.
            (false, Some(first)) => usize::try_from(after.saturating_add(1).saturating_sub(first.seq))
                .unwrap_or(usize::MAX)
                .min(self.samples.len()),
        };
        let samples: Vec<MetricSample> = self.samples.iter().skip(skip).take(limit).cloned().collect();
        let more = skip + samples.len() < self.samples.len();
        MetricPage { samples, more }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(p: &MetricPage) -> Vec<u64> {
        p.samples.iter().map(|s| s.seq).collect()
    }

    #[test]
    fn pages_follow_a_number_and_the_ring_forgets_the_oldest() {
        let mut ring = SampleRing::new(4, 100);
        for i in 0..6 {
            ring.push(i, MetricTarget::Node, Vec::new());
        }
        // 100 and 101 fell out; the ring holds 102..=105.
        assert_eq!(seqs(&ring.after(0, 10)), vec![102, 103, 104, 105], "from before the ring: all it has");
        assert_eq!(seqs(&ring.after(103, 10)), vec![104, 105]);
        assert!(ring.after(105, 10).samples.is_empty(), "caught up");
        let page = ring.after(101, 2);
        assert_eq!((seqs(&page), page.more), (vec![102, 103], true));
        // A backend that saw a later run's numbers (the clock went back since): all again.
        assert_eq!(seqs(&ring.after(9_999, 10)), vec![102, 103, 104, 105]);
    }
}
