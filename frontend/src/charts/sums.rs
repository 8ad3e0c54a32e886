//! Charts of a sum over machines: a tenant's (CPU and memory beside its quota) or the fleet's.
//! Sums are made 30 s after each 10 s bucket ends, so their right edge trails a machine's.

use corral_api::metrics::Metric;
use corral_api::people::QuotaLimits;
use leptos::prelude::*;

use super::{ChartControls, ChartSettings, MetricChart};
use crate::api::ChartTarget;

const MIB: f64 = 1_048_576.0;

/// CPU, memory, disk and network of a tenant's machines or of the fleet, with the tenant's
/// quota (if it has one) drawn across CPU and memory.
#[component]
pub fn SumCharts(
    target: ChartTarget,
    /// The tenant's quota, once known.
    #[prop(optional, into)]
    quota: Signal<Option<QuotaLimits>>,
) -> impl IntoView {
    let settings = ChartSettings::any_node();
    let cpu_limit =
        Signal::derive(move || quota.get().and_then(|q| q.vcpus).map(|v| (v as f64, "vCPU quota")));
    let memory_limit = Signal::derive(move || {
        quota.get().and_then(|q| q.memory_mib).map(|m| (m as f64 * MIB, "memory quota"))
    });
    let (heading, note) = match target {
        ChartTarget::Fleet => ("Usage of every machine", "The sum over every machine on every node."),
        _ => ("Usage of its machines", "The sum over the tenant's machines, beside its quota."),
    };
    view! {
        <section class="card charts" data-test="sum-usage">
            <h2>{heading}</h2>
            <p class="muted small">{note}" Each 10 s is summed once its samples are in, half a minute later."</p>
            <ChartControls settings=settings/>
            <div class="chart-grid">
                <MetricChart title="CPU (cores in use)" name="cpu" target=target settings=settings
                    metrics=vec![(Metric::CpuSeconds, "in use")] limit=cpu_limit/>
                <MetricChart title="Memory" name="memory" target=target settings=settings
                    metrics=vec![(Metric::MemoryBytes, "used")] limit=memory_limit/>
                <MetricChart title="Disk" name="disk" target=target settings=settings
                    metrics=vec![(Metric::DiskReadBytes, "read"), (Metric::DiskWriteBytes, "write")]/>
                <MetricChart title="Network" name="network" target=target settings=settings
                    metrics=vec![(Metric::NetRxBytes, "in"), (Metric::NetTxBytes, "out")]/>
            </div>
        </section>
    }
}
