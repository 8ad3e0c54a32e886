//! Charts of metrics history: the ranges offered, values in words a person reads, the lines a
//! chart draws (split at gaps, never bridged), its CSV, and the drawing itself with plotters,
//! generic over the backend: a canvas in the browser, SVG for a download (and for the tests
//! here, which read the SVG).
//!
//! Sharp on HiDPI screens: the caller sizes the backend in device pixels and passes the
//! ratio, which scales fonts, strokes and margins.

use corral_api::metrics::{MetricSeries, MetricUnit};
use plotters::coord::Shift;
use plotters::prelude::*;

/// A preset range, or one chosen by dragging across a chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Range {
    Hour,
    Day,
    Week,
    Month,
    Year,
    /// Unix seconds.
    Custom {
        from: i64,
        to: i64,
    },
}

impl Range {
    pub const PRESETS: [Range; 5] = [Range::Hour, Range::Day, Range::Week, Range::Month, Range::Year];

    pub fn label(self) -> &'static str {
        match self {
            Range::Hour => "Hour",
            Range::Day => "Day",
            Range::Week => "Week",
            Range::Month => "Month",
            Range::Year => "Year",
            Range::Custom { .. } => "Zoomed",
        }
    }

    /// `from` and `to` at `now` (Unix seconds).
    pub fn bounds(self, now: i64) -> (i64, i64) {
        let back = match self {
            Range::Hour => 3_600,
            Range::Day => 86_400,
            Range::Week => 7 * 86_400,
            Range::Month => 30 * 86_400,
            Range::Year => 365 * 86_400,
            Range::Custom { from, to } => return (from, to),
        };
        (now - back, now)
    }

    /// Whether new samples move it (it ends now).
    pub fn is_live(self) -> bool {
        !matches!(self, Range::Custom { .. })
    }

    /// The range between two points of a chart spanning `from..to` over `width` pixels (a
    /// drag); `None` for a drag too short to mean a range (under 4 pixels or 20 seconds).
    pub fn zoomed(from: i64, to: i64, width: f64, x0: f64, x1: f64) -> Option<Range> {
        let (a, b) = (x0.min(x1).clamp(0.0, width), x0.max(x1).clamp(0.0, width));
        if b - a < 4.0 || width <= 0.0 {
            return None;
        }
        let at = |x: f64| from + ((to - from) as f64 * x / width).round() as i64;
        let (f, t) = (at(a), at(b));
        (t - f >= 20).then_some(Range::Custom { from: f, to: t })
    }
}

/// Average or maximum of each step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    Avg,
    Max,
}

/// A value with its unit, short: "0.42 cores", "12.5 MiB", "3.1 MB/s", "85 ops/s".
pub fn format_value(unit: MetricUnit, v: f64) -> String {
    match unit {
        MetricUnit::Cores => format!("{} cores", short(v)),
        MetricUnit::Bytes => binary(v, "B"),
        MetricUnit::BytesPerSecond => format!("{}/s", decimal(v, "B")),
        MetricUnit::OpsPerSecond => format!("{} ops/s", short(v)),
        MetricUnit::PacketsPerSecond => format!("{} pkt/s", short(v)),
        MetricUnit::Count => short(v),
        MetricUnit::Percent => format!("{}%", short(v)),
        MetricUnit::Load => short(v),
    }
}

/// Two or three significant digits.
fn short(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.01 {
        format!("{v:.2}")
    } else {
        format!("{v:.1e}")
    }
}

/// `v` in the largest of `prefixes` (each `base` times the one before) that keeps it under
/// `base`, the last one whatever its size.
fn scaled(v: f64, unit: &str, base: f64, prefixes: [&str; 5]) -> String {
    let mut v = v;
    for (i, prefix) in prefixes.iter().enumerate() {
        if v.abs() < base || i == prefixes.len() - 1 {
            return format!("{} {prefix}{unit}", short(v));
        }
        v /= base;
    }
    unreachable!("the loop returns at the last prefix")
}

fn binary(v: f64, unit: &str) -> String {
    scaled(v, unit, 1024.0, ["", "Ki", "Mi", "Gi", "Ti"])
}

fn decimal(v: f64, unit: &str) -> String {
    scaled(v, unit, 1000.0, ["", "k", "M", "G", "T"])
}

/// One line of a chart: its label and its runs of points (time, value), split where a step
/// had no sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Line {
    pub label: String,
    pub runs: Vec<Vec<(i64, f64)>>,
}

impl Line {
    /// The value of the point nearest `t` (a point stands for its step, `at..at + step`),
    /// if one is within a step of it; for the crosshair. In a gap there is none.
    pub fn value_at(&self, t: i64, step: i64) -> Option<f64> {
        let step = step.max(1);
        self.runs
            .iter()
            .flatten()
            .map(|(at, v)| ((at + step / 2 - t).abs(), *v))
            .filter(|(distance, _)| *distance <= step)
            .min_by_key(|(distance, _)| *distance)
            .map(|(_, v)| v)
    }
}

/// The lines of one fetched metric: one per device, named `prefix` and the device.
pub fn lines_of(s: &MetricSeries, stat: Stat, prefix: &str) -> Vec<Line> {
    s.series
        .iter()
        .map(|d| {
            let values = match stat {
                Stat::Avg => &d.avg,
                Stat::Max => &d.max,
            };
            let mut runs: Vec<Vec<(i64, f64)>> = Vec::new();
            let mut last: Option<i64> = None;
            for (at, v) in d.at.iter().zip(values) {
                if last.is_none_or(|l| at - l > s.step_s * 3 / 2) {
                    runs.push(Vec::new());
                }
                runs.last_mut().expect("pushed above").push((*at, *v));
                last = Some(*at);
            }
            let label = match (&d.device, prefix.is_empty()) {
                (Some(dev), true) => dev.clone(),
                (Some(dev), false) => format!("{prefix} {dev}"),
                (None, false) => prefix.to_string(),
                (None, true) => "total".to_string(),
            };
            Line { label, runs }
        })
        .collect()
}

/// A chart's data as CSV: `time,series,average,maximum`, time in RFC 3339.
pub fn csv(series: &[(&str, &MetricSeries)]) -> String {
    let mut out = String::from("time,series,average,maximum\n");
    for (prefix, s) in series {
        for d in &s.series {
            let name = match &d.device {
                Some(dev) if prefix.is_empty() => dev.clone(),
                Some(dev) => format!("{prefix} {dev}"),
                None => prefix.to_string(),
            };
            for ((at, avg), max) in d.at.iter().zip(&d.avg).zip(&d.max) {
                let when = corral_api::time::rfc3339(*at);
                out.push_str(&format!("{when},{name},{avg},{max}\n"));
            }
        }
    }
    out
}

/// Colours of a theme.
#[derive(Clone, Copy, Debug)]
pub struct Theme {
    pub background: RGBColor,
    pub text: RGBColor,
    pub grid: RGBColor,
    pub lines: [RGBColor; 6],
}

impl Theme {
    pub fn of(dark: bool) -> Theme {
        match dark {
            false => Theme {
                background: RGBColor(255, 255, 255),
                text: RGBColor(60, 66, 77),
                grid: RGBColor(225, 229, 236),
                lines: [
                    RGBColor(29, 99, 200),
                    RGBColor(196, 82, 20),
                    RGBColor(23, 128, 75),
                    RGBColor(148, 60, 180),
                    RGBColor(170, 120, 0),
                    RGBColor(0, 130, 150),
                ],
            },
            true => Theme {
                background: RGBColor(24, 27, 33),
                text: RGBColor(200, 206, 216),
                grid: RGBColor(52, 58, 68),
                lines: [
                    RGBColor(110, 168, 254),
                    RGBColor(255, 150, 90),
                    RGBColor(90, 210, 140),
                    RGBColor(205, 140, 255),
                    RGBColor(240, 200, 80),
                    RGBColor(80, 210, 225),
                ],
            },
        }
    }
}

/// What a chart shows.
pub struct ChartSpec<'a> {
    pub unit: MetricUnit,
    pub from: i64,
    pub to: i64,
    pub lines: &'a [Line],
    /// Device pixels per CSS pixel.
    pub scale: f64,
    pub theme: Theme,
    /// A level drawn across the chart as a dashed line, with its name (a tenant's quota).
    pub limit: Option<(f64, &'a str)>,
}

/// Where the plotting area lies in the drawing, in device pixels: for mapping the pointer to
/// a time.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PlotArea {
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
}

/// A time label for an axis spanning `span` seconds (UTC).
fn time_label(t: i64, span: i64) -> String {
    let full = corral_api::time::rfc3339(t);
    // 2026-12-07T01:02:03Z
    let (date, clock) = (&full[5..10], &full[11..16]);
    if span <= 2 * 86_400 { clock.to_string() } else { date.to_string() }
}

/// Draws the chart on `area` (already sized in device pixels).
pub fn draw<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    spec: &ChartSpec<'_>,
) -> Result<PlotArea, DrawingAreaErrorKind<DB::ErrorType>> {
    let s = spec.scale.max(0.5);
    let px = |v: f64| (v * s).round() as u32;
    let theme = spec.theme;
    area.fill(&theme.background)?;
    let limit = spec.limit.filter(|(v, _)| v.is_finite() && *v > 0.0);
    let top = spec
        .lines
        .iter()
        .flat_map(|l| l.runs.iter().flatten())
        .map(|(_, v)| *v)
        .chain(limit.map(|(v, _)| v))
        .fold(0.0_f64, f64::max);
    let y_max = if top <= 0.0 { 1.0 } else { top * 1.1 };
    let font = ("sans-serif", 11.0 * s).into_font().color(&theme.text);
    let span = spec.to - spec.from;
    let mut chart = ChartBuilder::on(area)
        .margin(px(6.0))
        .x_label_area_size(px(20.0))
        .y_label_area_size(px(70.0))
        .build_cartesian_2d(spec.from..spec.to, 0.0..y_max)?;
    chart
        .configure_mesh()
        .light_line_style(theme.grid.mix(0.5))
        .bold_line_style(theme.grid)
        .axis_style(theme.grid)
        .x_labels(6)
        .y_labels(5)
        .x_label_style(font.clone())
        .y_label_style(font.clone())
        .x_label_formatter(&|t| time_label(*t, span))
        .y_label_formatter(&|v| format_value(spec.unit, *v))
        .draw()?;
    for (i, line) in spec.lines.iter().enumerate() {
        let color = theme.lines[i % theme.lines.len()];
        let style = ShapeStyle::from(color).stroke_width(px(1.5).max(1));
        for (j, run) in line.runs.iter().enumerate() {
            // A lone point (a sample between two gaps) would draw no line: a dot instead.
            if let [only] = run.as_slice() {
                chart.draw_series(std::iter::once(Circle::new(*only, px(2.0).max(1), style.filled())))?;
            }
            let series = chart.draw_series(LineSeries::new(run.iter().copied(), style))?;
            if j == 0 {
                series.label(line.label.clone()).legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 12, y)], ShapeStyle::from(color).stroke_width(2))
                });
            }
        }
    }
    if let Some((level, name)) = limit {
        let style = ShapeStyle::from(theme.text.mix(0.7)).stroke_width(px(1.0).max(1));
        let dashed = DashedLineSeries::new([(spec.from, level), (spec.to, level)], px(6.0), px(4.0), style);
        chart
            .draw_series(dashed)?
            .label(name.to_string())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], style));
    }
    if spec.lines.len() + usize::from(limit.is_some()) > 1 {
        chart
            .configure_series_labels()
            .label_font(font)
            .background_style(theme.background.mix(0.8))
            .border_style(theme.grid)
            .position(SeriesLabelPosition::UpperLeft)
            .draw()?;
    }
    let (xr, yr) = chart.plotting_area().get_pixel_range();
    Ok(PlotArea {
        left: f64::from(xr.start),
        right: f64::from(xr.end),
        top: f64::from(yr.start),
        bottom: f64::from(yr.end),
    })
}

/// The chart as an SVG document, `width`×`height` pixels.
pub fn svg(spec: &ChartSpec<'_>, width: u32, height: u32) -> String {
    let mut out = String::new();
    {
        let area = SVGBackend::with_string(&mut out, (width, height)).into_drawing_area();
        // An SVG string cannot fail to be written.
        let _ = draw(&area, spec);
        let _ = area.present();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use corral_api::metrics::{DeviceSeries, Metric};

    fn cpu(at: Vec<i64>, avg: Vec<f64>) -> MetricSeries {
        let max = avg.iter().map(|v| v * 2.0).collect();
        MetricSeries {
            metric: Metric::CpuSeconds,
            unit: MetricUnit::Cores,
            from: 0,
            to: 100,
            step_s: 10,
            tier_s: 10,
            series: vec![DeviceSeries { device: None, at, avg, max }],
        }
    }

    #[test]
    fn values_in_words() {
        assert_eq!(format_value(MetricUnit::Cores, 0.4219), "0.42 cores");
        assert_eq!(format_value(MetricUnit::Bytes, 12.5 * 1_048_576.0), "12.5 MiB");
        assert_eq!(format_value(MetricUnit::BytesPerSecond, 3_100_000.0), "3.10 MB/s");
        assert_eq!(format_value(MetricUnit::Percent, 0.0), "0%");
        assert_eq!(format_value(MetricUnit::OpsPerSecond, 250.0), "250 ops/s");
    }

    #[test]
    fn a_gap_splits_the_line_and_max_is_its_own() {
        let s = cpu(vec![0, 10, 20, 60, 70], vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        let lines = lines_of(&s, Stat::Avg, "CPU");
        assert_eq!(lines[0].label, "CPU");
        assert_eq!(lines[0].runs, vec![vec![(0, 1.0), (10, 2.0), (20, 3.0)], vec![(60, 4.0), (70, 5.0)]]);
        assert_eq!(lines_of(&s, Stat::Max, "")[0].runs[0][0], (0, 2.0));
        assert_eq!(lines[0].value_at(25, 10), Some(3.0));
        assert_eq!(lines[0].value_at(19, 10), Some(2.0), "the step holding it");
        assert_eq!(lines[0].value_at(58, 10), Some(4.0), "just before a point: that point");
        assert_eq!(lines[0].value_at(45, 10), None, "inside the gap");
    }

    #[test]
    fn presets_zoom_and_back() {
        assert_eq!(Range::Day.bounds(100_000), (13_600, 100_000));
        assert_eq!(Range::zoomed(0, 1000, 100.0, 20.0, 60.0), Some(Range::Custom { from: 200, to: 600 }));
        assert_eq!(
            Range::zoomed(0, 1000, 100.0, 60.0, 20.0),
            Some(Range::Custom { from: 200, to: 600 }),
            "leftward"
        );
        assert_eq!(Range::zoomed(0, 1000, 100.0, 20.0, 22.0), None, "a click is not a drag");
        assert!(!Range::Custom { from: 1, to: 2 }.is_live() && Range::Hour.is_live());
    }

    #[test]
    fn csv_has_a_row_per_point() {
        let s = cpu(vec![0, 10], vec![0.5, 0.25]);
        assert_eq!(
            csv(&[("cpu", &s)]),
            "time,series,average,maximum\n1970-01-01T00:00:00Z,cpu,0.5,1\n1970-01-01T00:00:10Z,cpu,0.25,0.5\n"
        );
    }

    /// A light chart of cores from 0 to 100 s, at scale 1, with no limit.
    fn spec_of(lines: &[Line]) -> ChartSpec<'_> {
        ChartSpec {
            unit: MetricUnit::Cores,
            from: 0,
            to: 100,
            lines,
            scale: 1.0,
            theme: Theme::of(false),
            limit: None,
        }
    }

    fn svg_of(lines: &[Line]) -> String {
        svg(&spec_of(lines), 400, 200)
    }

    #[test]
    fn the_svg_has_its_lines_labels_and_theme() {
        let s = cpu(vec![0, 10, 20, 60, 70], vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        let lines = lines_of(&s, Stat::Avg, "CPU");
        let spec = ChartSpec { scale: 2.0, theme: Theme::of(true), ..spec_of(&lines) };
        let svg = svg(&spec, 800, 400);
        assert!(svg.starts_with("<svg") && svg.contains("width=\"800\""), "{}", &svg[..100]);
        let line = svg
            .lines()
            .filter(|l| l.starts_with("<polyline") && l.to_uppercase().contains("#6EA8FE"))
            .count();
        assert_eq!(line, 2, "one per run: the gap is not bridged\n{svg}");
        assert!(svg.contains("cores"), "the axis says its unit");
        let lone = lines_of(&cpu(vec![0, 60], vec![1.0, 2.0]), Stat::Avg, "");
        let dots = svg_of(&lone);
        assert_eq!(dots.matches("<circle").count(), 2, "each lone point is a dot");
        assert!(svg.contains("#181B21") || svg.contains("#181b21"), "the dark background");
        let area = draw(&SVGBackend::with_string(&mut String::new(), (800, 400)).into_drawing_area(), &spec)
            .unwrap();
        assert!(area.left > 100.0 && area.right <= 800.0 && area.left < area.right, "{area:?}");
    }

    #[test]
    fn a_limit_is_a_dashed_line_the_axis_reaches() {
        let s = cpu(vec![0, 10], vec![0.5, 0.25]);
        let lines = lines_of(&s, Stat::Avg, "in use");
        let svg = svg(&ChartSpec { limit: Some((8.0, "vCPU quota")), ..spec_of(&lines) }, 400, 200);
        assert!(svg.contains("vCPU quota"), "named in the legend");
        assert!(svg.contains("8.00 cores") || svg.contains("8 cores"), "the axis reaches it\n{svg}");
        assert!(svg.contains("<line") || svg.matches("<polyline").count() >= 2, "{svg}");
    }
}
