//! A report on disk: `report.json` (everything, for later comparison), `report.md` (what the README shows)
//! and the plots, `throughput-<placement>.svg` per placement measured and `latency-cdf.svg` when there
//! were latency runs, which `report.md` shows by these relative names.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::markdown::markdown;
use super::model::BenchReport;
use super::plot::{LATENCY_CDF_FILE, latency_cdf_svg, throughput_file, throughput_svg};
use super::summary::summarise;
use super::targets::check_targets;

/// Writes `report` into `dir` (created when missing) and returns the paths written, JSON first.
pub fn write_report(report: &BenchReport, dir: &Path) -> io::Result<Vec<PathBuf>> {
    fs::create_dir_all(dir)?;
    let mut files = vec![("report.json".to_owned(), serde_json::to_string_pretty(report)? + "\n")];
    files.push(("report.md".to_owned(), markdown(report)));
    let placements: BTreeSet<_> = report.summaries.iter().map(|s| s.placement).collect();
    for placement in placements {
        files.push((throughput_file(placement), throughput_svg(report, placement)));
    }
    if !report.latency.is_empty() {
        files.push((LATENCY_CDF_FILE.to_owned(), latency_cdf_svg(report)));
    }
    files
        .into_iter()
        .map(|(name, contents)| {
            let path = dir.join(name);
            fs::write(&path, contents)?;
            Ok(path)
        })
        .collect()
}

/// Reads the `report.json` in `dir`, derives its summaries and targets again from its measurements (with
/// this build's rules) and writes the report again: the Markdown and plots follow changes to the report's
/// code without measuring again.
///
/// # Errors
/// `report.json` is missing or not a report; writing failed.
pub fn render_again(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let json = fs::read(dir.join("report.json"))?;
    let mut report: BenchReport = serde_json::from_slice(&json)?;
    report.summaries = summarise(&report.measurements);
    report.targets = check_targets(
        &report.summaries,
        &report.latency,
        report
            .generator
            .as_ref()
            .ok_or_else(|| report.generator_missing.as_deref().unwrap_or("not run")),
    );
    write_report(&report, dir)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::e2e::fixtures::sample_report;

    #[test]
    fn writes_json_markdown_and_plots() {
        let dir = std::env::temp_dir().join(format!("vmknet-e2e-report-{}", std::process::id()));
        let report = sample_report();
        let paths = write_report(&report, &dir.join("nested")).unwrap();
        let names: Vec<_> = paths.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "report.json",
                "report.md",
                "throughput-softirq.svg",
                "throughput-shared-core.svg",
                "latency-cdf.svg"
            ]
        );
        let json: BenchReport = serde_json::from_str(&fs::read_to_string(&paths[0]).unwrap()).unwrap();
        // serde_json parses floats to within an ulp unless built with `float_roundtrip`: the figures stated
        // are the same.
        assert_eq!(markdown(&json), markdown(&report));
        assert_eq!(fs::read_to_string(&paths[1]).unwrap(), markdown(&report));
        assert!(fs::read_to_string(&paths[4]).unwrap().starts_with("<svg "));
        fs::remove_dir_all(&dir).unwrap();
    }
}
