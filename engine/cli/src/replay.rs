//! `vmknet replay`: run captures through the pipeline and report what a VMkernel host would do with each
//! frame, optionally splitting the frames per service, or looping at full speed to measure frames per second.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use serde::Serialize;

use super::{ConfigArg, Format, emit};
use vmknet::io::{CaptureArena, CaptureError, CaptureReader, PcapWriter};
use vmknet::pipeline::{Outcome, Pipeline, Verdict};
use vmknet::stats::Report;

#[derive(Debug, Args)]
pub(crate) struct ReplayArgs {
    /// Capture files (pcap or pcapng).
    #[arg(required = true, value_name = "CAPTURE")]
    captures: Vec<PathBuf>,
    #[command(flatten)]
    config: ConfigArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t)]
    format: Format,
    /// Write each service's frames to DIR/<service>.pcap (drops to DIR/dropped-<reason>.pcap, Linux's
    /// frames to DIR/passed.pcap).
    #[arg(long, value_name = "DIR", conflicts_with = "loop_seconds")]
    split_dir: Option<PathBuf>,
    /// Load the captures into memory and replay them in a loop at full speed for this many seconds, then
    /// report frames per second.
    #[arg(long, value_name = "SECONDS")]
    loop_seconds: Option<f64>,
}

pub(crate) fn run(args: &ReplayArgs) -> ExitCode {
    let model = match args.config.load() {
        Ok(model) => Arc::new(model),
        Err(code) => return code,
    };
    let mut pipeline = Pipeline::new(Arc::clone(&model));
    let result = match args.loop_seconds {
        Some(seconds) => {
            replay_loop(&mut pipeline, &args.captures, Duration::from_secs_f64(seconds.max(0.0))).map(Some)
        }
        None => replay_once(&mut pipeline, &args.captures, args.split_dir.as_deref()).map(|()| None),
    };
    let speed = match result {
        Ok(speed) => speed,
        Err(err) => {
            eprintln!("vmknet: {err}");
            return ExitCode::from(2);
        }
    };
    let report = Report::new(&model, pipeline.counters(), pipeline.fragment_stats());
    match args.format {
        Format::Text => {
            if let Some(speed) = &speed {
                emit(format_args!("{speed}\n"));
            }
            emit(report.to_text());
        }
        Format::Json => {
            let json = serde_json::json!({ "report": report, "speed": speed });
            emit(format_args!("{json:#}\n"));
        }
    }
    if report.conservation_holds {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
enum ReplayError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error("cannot create {}: {source}", path.display())]
    SplitDir { path: PathBuf, source: std::io::Error },
}

fn replay_once(pipeline: &mut Pipeline, captures: &[PathBuf], split_dir: Option<&Path>) -> Result<(), ReplayError> {
    let mut split = match split_dir {
        Some(dir) => Some(Splitter::new(dir)?),
        None => None,
    };
    let show_progress = std::io::stderr().is_terminal();
    for path in captures {
        let mut reader = CaptureReader::open(path)?;
        let mut progress = Progress::new(show_progress, reader.total_bytes());
        let mut truncated = 0u64;
        while let Some(frame) = reader.next_frame()? {
            truncated += u64::from(frame.is_truncated());
            let outcome = pipeline.process(frame.data, frame.timestamp_ns);
            if let Some(split) = &mut split {
                split.write(outcome, frame.timestamp_ns, frame.data)?;
            }
            progress.tick(path, reader.bytes_read());
        }
        progress.finish();
        if truncated > 0 {
            eprintln!(
                "vmknet: {}: {truncated} frame(s) were cut short by the capture's snapshot length and were judged \
                 as captured",
                path.display()
            );
        }
    }
    if let Some(split) = split {
        split.finish()?;
    }
    Ok(())
}

/// The result of a full-speed loop.
#[derive(Debug, Serialize)]
struct Speed {
    frames: u64,
    seconds: f64,
    frames_per_second: f64,
    ns_per_frame: f64,
}

impl std::fmt::Display for Speed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "replayed {} frames in {:.2} s on one core: {:.2} Mpps, {:.1} ns per frame",
            self.frames,
            self.seconds,
            self.frames_per_second / 1e6,
            self.ns_per_frame
        )
    }
}

/// Frames per batch in loop mode; the clock is read once per batch, as a worker does.
const LOOP_BATCH: usize = 64;

fn replay_loop(pipeline: &mut Pipeline, captures: &[PathBuf], duration: Duration) -> Result<Speed, ReplayError> {
    let arenas = captures.iter().map(CaptureArena::load).collect::<Result<Vec<_>, _>>()?;
    let frames: Vec<&[u8]> = arenas.iter().flat_map(CaptureArena::iter).collect();
    let mut outcomes = [Outcome {
        vmk: None,
        verdict: Verdict::Passed,
    }; LOOP_BATCH];
    let start = Instant::now();
    let mut processed = 0u64;
    if !frames.is_empty() {
        'outer: loop {
            for batch in frames.chunks(LOOP_BATCH) {
                let now = start.elapsed();
                if now >= duration {
                    break 'outer;
                }
                pipeline.process_batch(batch, now.as_nanos() as u64, &mut outcomes);
                processed += batch.len() as u64;
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    Ok(Speed {
        frames: processed,
        seconds,
        frames_per_second: processed as f64 / seconds.max(f64::MIN_POSITIVE),
        ns_per_frame: seconds * 1e9 / (processed.max(1) as f64),
    })
}

/// Writes each frame to the capture of its service (or its drop reason).
struct Splitter {
    dir: PathBuf,
    writers: HashMap<String, PcapWriter>,
}

impl Splitter {
    fn new(dir: &Path) -> Result<Self, ReplayError> {
        std::fs::create_dir_all(dir).map_err(|source| ReplayError::SplitDir {
            path: dir.to_owned(),
            source,
        })?;
        Ok(Self {
            dir: dir.to_owned(),
            writers: HashMap::new(),
        })
    }

    fn write(&mut self, outcome: Outcome, timestamp_ns: u64, frame: &[u8]) -> Result<(), CaptureError> {
        let name = match outcome.verdict {
            Verdict::Passed => "passed".to_owned(),
            Verdict::Dropped { reason, .. } => format!("dropped-{}", reason.name()),
            Verdict::Delivered(s) | Verdict::Replied(s) | Verdict::Forwarded(s) => s.name().to_owned(),
        };
        let writer = match self.writers.get_mut(&name) {
            Some(writer) => writer,
            None => {
                let writer = PcapWriter::create(self.dir.join(format!("{name}.pcap")))?;
                self.writers.entry(name).or_insert(writer)
            }
        };
        writer.write_frame(timestamp_ns, frame)
    }

    fn finish(self) -> Result<(), CaptureError> {
        for writer in self.writers.into_values() {
            writer.finish()?;
        }
        Ok(())
    }
}

/// A percentage on standard error for long captures, when it is a terminal.
struct Progress {
    enabled: bool,
    total: u64,
    last: Instant,
    frames: u32,
    shown: bool,
}

impl Progress {
    fn new(terminal: bool, total: Option<u64>) -> Self {
        Self {
            enabled: terminal && total.is_some(),
            total: total.unwrap_or(0).max(1),
            last: Instant::now(),
            frames: 0,
            shown: false,
        }
    }

    fn tick(&mut self, path: &Path, bytes_read: u64) {
        // The clock is read once per 4096 frames.
        self.frames = self.frames.wrapping_add(1);
        if !self.enabled || !self.frames.is_multiple_of(4096) || self.last.elapsed() < Duration::from_millis(500) {
            return;
        }
        self.last = Instant::now();
        self.shown = true;
        eprint!(
            "\r{}: {:3}%",
            path.display(),
            bytes_read.saturating_mul(100) / self.total
        );
    }

    fn finish(&self) {
        if self.shown {
            eprintln!();
        }
    }
}
