//! What a page's charts share: the range (a preset, or a zoom from a drag), average or
//! maximum, and the moment a range that ends now is measured from, moved on as new samples
//! of the page's node (any node, for sums) are stored (at most every few seconds).

use corral_api::NodeId;
use corral_ui::charts::{Range, Stat};
use leptos::prelude::*;

use crate::live::use_live;

/// A live chart fetches again at most this often, in seconds.
const LIVE_EVERY_S: i64 = 5;

fn now_s() -> i64 {
    (js_sys::Date::now() / 1000.0) as i64
}

#[derive(Clone, Copy)]
pub struct ChartSettings {
    pub range: RwSignal<Range>,
    pub stat: RwSignal<Stat>,
    /// The end of a live range.
    pub now: RwSignal<i64>,
}

impl ChartSettings {
    /// Settings for a page whose charts are of `node` (or of its machines).
    pub fn new(node: Signal<Option<NodeId>>) -> Self {
        Self::live_on(Some(node))
    }

    /// Settings for charts of sums over machines on any node.
    pub fn any_node() -> Self {
        Self::live_on(None)
    }

    fn live_on(node: Option<Signal<Option<NodeId>>>) -> Self {
        let settings = Self {
            range: RwSignal::new(Range::Hour),
            stat: RwSignal::new(Stat::Avg),
            now: RwSignal::new(now_s()),
        };
        let live = use_live();
        Effect::new(move || {
            let sampled = live.sampled.get();
            let ours = match node {
                Some(node) => sampled == node.get(),
                None => true,
            };
            if sampled.is_none() || !ours || !settings.range.get_untracked().is_live() {
                return;
            }
            let now = now_s();
            if now - settings.now.get_untracked() >= LIVE_EVERY_S {
                settings.now.set(now);
            }
        });
        settings
    }
}

#[component]
pub fn ChartControls(settings: ChartSettings) -> impl IntoView {
    let pick = move |r: Range| {
        settings.now.set(now_s());
        settings.range.set(r);
    };
    view! {
        <div class="chart-controls" role="group" aria-label="Chart range">
            {Range::PRESETS.into_iter().map(|r| view! {
                <button type="button" class="btn small" data-test=format!("range-{}", r.label().to_lowercase())
                    aria-pressed=move || (settings.range.get() == r).to_string()
                    on:click=move |_| pick(r)>{r.label()}</button>
            }).collect_view()}
            <Show when=move || !settings.range.get().is_live()>
                <button type="button" class="btn small" data-test="range-out"
                    title="Back to the last hour" on:click=move |_| pick(Range::Hour)>"Zoom out"</button>
            </Show>
            <span class="grow"></span>
            <label class="check small">
                <input type="checkbox" data-test="chart-max" prop:checked=move || settings.stat.get() == Stat::Max
                    on:change=move |ev| settings.stat.set(if event_target_checked(&ev) { Stat::Max } else { Stat::Avg })/>
                "Maximum (not average)"
            </label>
        </div>
    }
}
