//! Charts of a machine's, node's, tenant's or the fleet's metrics: drawn with plotters on a
//! canvas (by
//! `corral_ui::charts`, at the screen's pixel ratio, redrawn on resize and theme change),
//! over a range chosen from presets or by dragging across a chart, average or maximum, with
//! a crosshair giving the values under the pointer; downloadable as SVG and CSV. A chart of a
//! range that ends now fetches again whenever its node's samples are stored.

mod controls;
mod sums;

pub use controls::{ChartControls, ChartSettings};
pub use sums::SumCharts;

use corral_api::metrics::{Metric, MetricSeries};
use corral_ui::charts::{self, ChartSpec, Line, PlotArea, Range, Theme};
use leptos::html;
use leptos::prelude::*;
use plotters::prelude::IntoDrawingArea;
use plotters_canvas::CanvasBackend;

use crate::api::{self, ChartTarget};

/// Height of a chart, in CSS pixels.
const HEIGHT: f64 = 180.0;

/// A pointer over the chart: where it is and where a drag began (CSS pixels in the box).
#[derive(Clone, Copy, Debug, Default)]
struct Pointer {
    x: Option<f64>,
    drag_from: Option<f64>,
}

fn pixel_ratio() -> f64 {
    web_sys::window().map(|w| w.device_pixel_ratio()).unwrap_or(1.0).clamp(1.0, 4.0)
}

/// One chart: `metrics` of `target`, each with the words its lines are named by.
#[component]
pub fn MetricChart(
    title: &'static str,
    /// A word for the downloads' file names (`cpu`, `disk`).
    name: &'static str,
    target: ChartTarget,
    metrics: Vec<(Metric, &'static str)>,
    settings: ChartSettings,
    /// Said when there is nothing to draw (why a machine has no such counters).
    #[prop(optional, into)]
    empty: MaybeProp<String>,
    /// A level drawn across as a dashed line, and its name (a tenant's quota).
    #[prop(optional, into)]
    limit: MaybeProp<(f64, &'static str)>,
) -> impl IntoView {
    let boxed = NodeRef::<html::Div>::new();
    let canvas = NodeRef::<html::Canvas>::new();
    let width = RwSignal::new(0.0_f64);
    let measure = move || {
        if let Some(b) = boxed.get_untracked() {
            let w = b.get_bounding_client_rect().width();
            if (w - width.get_untracked()).abs() >= 1.0 {
                width.set(w);
            }
        }
    };
    Effect::new(move || {
        if boxed.get().is_some() {
            measure();
        }
    });
    let resize = window_event_listener(leptos::ev::resize, move |_| measure());
    on_cleanup(move || resize.remove());

    let labels = StoredValue::new(metrics.iter().map(|(_, l)| *l).collect::<Vec<&'static str>>());
    let wanted = metrics.clone();
    let data = LocalResource::new(move || {
        let (from, to) = settings.range.get().bounds(settings.now.get());
        // About one point per pixel; the server picks the tier and the step.
        let points = (width.get() as u32).clamp(60, 2000);
        // The series are asked for together: a chart waits for its slowest, not their sum.
        let asked = wanted.iter().map(move |(metric, _)| api::metrics(target, *metric, from, to, points));
        futures::future::try_join_all(asked)
    });
    // The lines drawn, per the average/maximum switch, with the label of each metric.
    let lines = Memo::new(move |_| {
        let stat = settings.stat.get();
        data.get()
            .and_then(|r| r.ok())
            .map(|all: Vec<MetricSeries>| {
                let labels = labels.get_value();
                all.iter()
                    .zip(labels)
                    .flat_map(|(s, label)| charts::lines_of(s, stat, label))
                    .filter(|l| !l.runs.is_empty())
                    .collect::<Vec<Line>>()
            })
            .unwrap_or_default()
    });
    let fetched = move || data.get().and_then(|r| r.ok());
    let unit = move || fetched().and_then(|all| all.first().map(|s| s.unit));
    let span = move || fetched().and_then(|all| all.first().map(|s| (s.from, s.to, s.step_s)));
    let area = RwSignal::new(PlotArea::default());

    // Draw whenever the lines, the size or the theme change.
    Effect::new(move || {
        let dark = crate::theme::is_dark();
        let (w, lines, limit) = (width.get(), lines.get(), limit.get());
        let (Some(c), Some(unit), Some((from, to, _))) = (canvas.get(), unit(), span()) else { return };
        if w < 10.0 {
            return;
        }
        let ratio = pixel_ratio();
        c.set_width((w * ratio) as u32);
        c.set_height((HEIGHT * ratio) as u32);
        let css = web_sys::HtmlElement::style(&c);
        let _ = css.set_property("width", &format!("{w}px"));
        let _ = css.set_property("height", &format!("{HEIGHT}px"));
        let Some(backend) = CanvasBackend::with_canvas_object(c) else { return };
        let spec = ChartSpec { unit, from, to, lines: &lines, scale: ratio, theme: Theme::of(dark), limit };
        match charts::draw(&backend.into_drawing_area(), &spec) {
            Ok(a) => area.set(PlotArea {
                left: a.left / ratio,
                right: a.right / ratio,
                top: a.top / ratio,
                bottom: a.bottom / ratio,
            }),
            Err(e) => leptos::logging::warn!("drawing the {name} chart failed: {e}"),
        }
    });

    // The pointer: a crosshair with the values under it, and a drag to zoom.
    let pointer = RwSignal::new(Pointer::default());
    let local_x = move |ev: &leptos::ev::PointerEvent| {
        boxed.get_untracked().map(|b| f64::from(ev.client_x()) - b.get_bounding_client_rect().left())
    };
    let time_at = move |x: f64| {
        let a = area.get_untracked();
        let (from, to, _) = span()?;
        (a.right > a.left && x >= a.left && x <= a.right)
            .then(|| from + ((to - from) as f64 * (x - a.left) / (a.right - a.left)) as i64)
    };
    let tip = move || {
        let x = pointer.get().x?;
        let t = time_at(x)?;
        let (_, _, step) = span()?;
        let unit = unit()?;
        let rows: Vec<String> = lines
            .get()
            .iter()
            .filter_map(|l| {
                Some(format!("{}: {}", l.label, charts::format_value(unit, l.value_at(t, step)?)))
            })
            .collect();
        Some((x, corral_api::time::rfc3339(t).replace('T', " ").replace('Z', " UTC"), rows))
    };
    let selection = move || {
        let p = pointer.get();
        let (a, b) = (p.drag_from?, p.x?);
        Some(format!("left: {}px; width: {}px", a.min(b), (a - b).abs()))
    };
    let down = move |ev: leptos::ev::PointerEvent| {
        if let Some(x) = local_x(&ev)
            && time_at(x).is_some()
        {
            pointer.update(|p| p.drag_from = Some(x));
        }
    };
    let up = move |ev: leptos::ev::PointerEvent| {
        let (Some(x), Some(x0)) = (local_x(&ev), pointer.get_untracked().drag_from) else { return };
        pointer.update(|p| p.drag_from = None);
        let a = area.get_untracked();
        let Some((from, to, _)) = span() else { return };
        if let Some(r) = Range::zoomed(from, to, a.right - a.left, x0 - a.left, x - a.left) {
            settings.range.set(r);
        }
    };

    // Downloads: the chart as SVG (plotters' SVG backend) and its data as CSV.
    let svg_href = move || {
        let (unit, (from, to, _)) = (unit()?, span()?);
        let (lines, limit) = (lines.get(), limit.get());
        let spec = ChartSpec { unit, from, to, lines: &lines, scale: 1.0, theme: Theme::of(false), limit };
        let svg = charts::svg(&spec, (width.get() as u32).max(400), HEIGHT as u32);
        Some(format!("data:image/svg+xml;charset=utf-8,{}", js_sys::encode_uri_component(&svg)))
    };
    let csv_href = move || {
        let all = fetched()?;
        let labels = labels.get_value();
        let named: Vec<(&str, &MetricSeries)> = labels.iter().copied().zip(all.iter()).collect();
        Some(format!("data:text/csv;charset=utf-8,{}", js_sys::encode_uri_component(&charts::csv(&named))))
    };
    let has_lines = move || !lines.get().is_empty();

    view! {
        <figure class="chart" data-test="chart" data-name=name
            data-from=move || span().map(|(f, _, _)| f.to_string()) data-to=move || span().map(|(_, t, _)| t.to_string())>
            <figcaption>
                <span class="chart-title">{title}</span>
                <Show when=has_lines>
                    <a class="small" data-test="chart-svg" download=format!("{name}.svg") href=move || svg_href().unwrap_or_default()>"SVG"</a>
                    <a class="small" data-test="chart-csv" download=format!("{name}.csv") href=move || csv_href().unwrap_or_default()>"CSV"</a>
                </Show>
            </figcaption>
            <div class="chart-box" node_ref=boxed style=format!("height: {HEIGHT}px")
                on:pointerdown=down on:pointerup=up
                on:pointermove=move |ev| {
                    let x = local_x(&ev);
                    pointer.update(|p| p.x = x);
                }
                on:pointerleave=move |_| pointer.set(Pointer::default())>
                <canvas node_ref=canvas role="img" aria-label=title data-test="chart-canvas"></canvas>
                {move || match data.get() {
                    None => Some(view! { <p class="chart-note muted">"Loading…"</p> }.into_any()),
                    Some(Err(e)) => Some(view! { <p class="chart-note error">{e.to_string()}</p> }.into_any()),
                    Some(Ok(_)) if !has_lines() => Some(view! {
                        <p class="chart-note muted" data-test="chart-empty">
                            {move || empty.get().unwrap_or_else(|| "No samples in this range yet.".into())}
                        </p>
                    }.into_any()),
                    Some(Ok(_)) => None,
                }}
                {move || selection().map(|s| view! { <div class="chart-selection" style=s></div> })}
                {move || tip().map(|(x, when, rows)| {
                    let a = area.get();
                    view! {
                        <div class="chart-crosshair" style=format!("left: {x}px; top: {}px; height: {}px", a.top, a.bottom - a.top)></div>
                        <div class="chart-tip" data-test="chart-tip" style=format!("left: {}px", x + 12.0)>
                            <div class="small muted">{when}</div>
                            {rows.into_iter().map(|r| view! { <div>{r}</div> }).collect_view()}
                        </div>
                    }
                })}
            </div>
        </figure>
    }
}
