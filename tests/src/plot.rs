//! The cold-start distributions of a `coldstart` run as an SVG strip plot: one row per function
//! and runtime, a dot per spawn, a bar at the median, on a log scale (ours and the Python
//! baseline are an order of magnitude apart).

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use crate::coldstart::{Measured, Runtime};

/// Writes the plot of the cold invokes (spawn → answer) in `results` to `path`.
pub fn cold_start_svg(results: &[Measured], path: &Path) -> Result<()> {
    let rows: Vec<(String, Runtime, Vec<f64>)> = results
        .iter()
        .filter(|m| !m.cold.is_empty())
        .map(|m| {
            let values = m
                .cold
                .iter()
                .map(|c| c.invoke.as_secs_f64() * 1000.0)
                .collect();
            (
                format!("{} — {}", m.function, m.runtime.label()),
                m.runtime,
                values,
            )
        })
        .collect();
    let all = rows
        .iter()
        .flat_map(|(_, _, values)| values.iter().copied());
    let (low, high) = all.fold((f64::MAX, 0.0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if rows.is_empty() || low > high {
        anyhow::bail!("no cold starts to plot");
    }
    let (low, high) = ((low * 0.5).max(0.01), high * 1.5);
    let height = 90 + 46 * u32::try_from(rows.len()).unwrap_or(u32::MAX / 64);
    let root = SVGBackend::new(path, (960, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Cold invoke: spawn → answer, AWS calls included (ms, log scale)",
            ("sans-serif", 18),
        )
        .margin(14)
        .x_label_area_size(36)
        .y_label_area_size(10)
        .build_cartesian_2d((low..high).log_scale(), -0.6f64..(rows.len() as f64 - 0.4))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .disable_y_axis()
        .x_desc("milliseconds")
        .draw()?;
    for (row, (label, runtime, values)) in rows.iter().enumerate() {
        let y = row as f64;
        let color = match runtime {
            Runtime::Rust => RGBColor(31, 119, 180),
            Runtime::Python => RGBColor(214, 39, 40),
        };
        // A small fixed spread, so that equal values stay visible as several dots.
        chart.draw_series(values.iter().enumerate().map(|(k, v)| {
            let spread = ((k % 7) as f64 - 3.0) * 0.05;
            Circle::new((*v, y + spread), 3, color.mix(0.55).filled())
        }))?;
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let median = sorted[sorted.len() / 2];
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(median, y - 0.3), (median, y + 0.3)],
            BLACK.stroke_width(2),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{label}: median {median:.1} ms"),
            (low * 1.05, y + 0.42),
            ("sans-serif", 13),
        )))?;
    }
    root.present()
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
