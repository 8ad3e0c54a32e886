//! "used of total" as a bar, turning amber past 75 % and red past 90 %.

use leptos::prelude::*;

#[component]
pub fn UsageBar(#[prop(into)] label: String, used: u64, total: u64, unit: &'static str) -> impl IntoView {
    let pct = used.saturating_mul(100).checked_div(total).unwrap_or(0).min(100);
    let level = match pct {
        0..=75 => "ok",
        76..=90 => "high",
        _ => "full",
    };
    view! {
        <div class="usage">
            <div class="usage-label"><span>{label.clone()}</span><span class="muted">{format!("{used} / {total} {unit}")}</span></div>
            <div class="bar" role="meter" aria-valuemin="0" aria-valuemax=total aria-valuenow=used aria-label=label>
                <div class=format!("fill {level}") style=format!("width: {pct}%")></div>
            </div>
        </div>
    }
}
