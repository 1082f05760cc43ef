//! The send loop: one thread per CPU, each pinned, each sending its share of the count at its share of the
//! rate until the count is sent, the duration is over or the stop flag is raised.
//!
//! Each round hands the kernel a chunk of frames in one system call ([`Transmit::send`]): the live-frame
//! method runs `repeat` = chunk frames per `BPF_PROG_TEST_RUN`, the AF_PACKET method sends `sendmmsg`
//! batches.
//!
//! Unlimited, chunks are long: every live-frame call carries a fixed cost of 10 to 30 ms on a busy 2-CPU
//! machine (its page pool is set up and torn down; perf shows the thread mostly off the CPU meanwhile),
//! during which the thread sends nothing. With 65 536 frames per call the generator reached 0.5–0.6×
//! xdp-trafficgen's rate in the same run; with [`MAX_CHUNK`] (2^20, xdp-trafficgen's own repeat) it is on
//! par. The first call is [`FIRST_CHUNK`] frames; later ones are cut to what the thread's own rate so far fits
//! before the deadline, so `--duration` is kept to within a call's fixed cost.
//!
//! With a rate, each round sends what the schedule `start + sent / rate` owes plus a chunk (100 µs' worth),
//! then sleeps until the schedule reaches the frames sent: the rate holds on average even when a call's fixed
//! cost or a late wake-up delays a round (the next one catches up). Inside a system call frames leave at full
//! speed: live frames cannot be spaced within a `BPF_PROG_TEST_RUN`, so a rate shapes bursts, not inter-frame
//! gaps.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;

use super::PktgenError;

/// Largest chunk of frames per system call.
pub const MAX_CHUNK: u32 = 1 << 20;
/// The first chunk of an unlimited run, which measures the thread's rate for the later ones.
pub const FIRST_CHUNK: u32 = 1 << 16;
const NANOS_PER_SEC: u128 = 1_000_000_000;
/// Chunks per second with a rate limit: every 100 µs. Fine-grained so that a paced sender leaves its CPU
/// often: on veth the receive path may be deferred to `ksoftirqd` on the sender's CPU, which waits while
/// the sender is in a long system call (a millisecond chunk showed as millisecond latency tails).
const CHUNKS_PER_SEC: u64 = 10_000;

/// How frames leave.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// XDP live frames: `BPF_PROG_TEST_RUN` + `bpf_redirect` to the device's `ndo_xdp_xmit`.
    XdpLive,
    /// AF_PACKET `sendmmsg` (skbs), for devices without `ndo_xdp_xmit`.
    AfPacket,
}

/// How much to send, how fast, from where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pace {
    /// Frames in all (0: until the duration is over or the stop flag is raised).
    pub count: u64,
    /// Longest run.
    pub duration: Option<Duration>,
    /// Frames per second in all (0: as fast as possible).
    pub rate: u64,
    /// One sending thread per CPU, pinned to it.
    pub cpus: Vec<usize>,
}

/// One thread's way of handing frames to the kernel.
pub trait Transmit {
    /// Sends up to `n` frames and returns how many the kernel took. `EINTR` ends the thread's run.
    ///
    /// # Errors
    /// The system call's error.
    fn send(&mut self, n: u32) -> io::Result<u64>;

    /// The bytes the kernel took so far (no FCS), when this method knows them; the live-frame method does
    /// not (its program counts them).
    fn bytes(&self) -> Option<u64>;
}

/// What a run sent.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// The method used.
    pub method: Method,
    /// Sending threads.
    pub threads: usize,
    /// Frames the kernel took: live frames run by completed calls, or frames AF_PACKET accepted. A live-frame
    /// call a signal interrupts sent some frames it does not report: `redirected` has them.
    pub offered: u64,
    /// Frames the generator's XDP program redirected (live frames only).
    pub redirected: Option<u64>,
    /// Bytes of the frames sent, FCS not included.
    pub bytes: Option<u64>,
    /// Wall-clock time from the first thread's start to the last thread's end.
    pub seconds: f64,
}

impl Report {
    /// Offered frames per second.
    pub fn pps(&self) -> f64 {
        rate(self.offered, self.seconds)
    }
}

/// `count` per `seconds`, 0 for an empty interval.
pub fn rate(count: u64, seconds: f64) -> f64 {
    if seconds > 0.0 { count as f64 / seconds } else { 0.0 }
}

/// Runs `pace.cpus.len()` threads, each pinned to its CPU and sending through the transmitter `make` builds
/// for it (inside the thread), until its share of `pace.count` is sent, `pace.duration` is over or `stop` is
/// raised.
///
/// # Errors
/// [`PktgenError::Invalid`] without CPUs; the first thread's error (pinning, building its transmitter, a
/// failed send other than `EINTR`). A failing thread stops the others at their next round.
pub fn run<T, F>(method: Method, pace: &Pace, stop: &AtomicBool, make: F) -> Result<Report, PktgenError>
where
    T: Transmit,
    F: Fn(usize) -> Result<T, PktgenError> + Sync,
{
    let threads = pace.cpus.len();
    if threads == 0 {
        return Err(PktgenError::Invalid("no CPU to send from".into()));
    }
    let start = Instant::now();
    let deadline = pace.duration.map(|d| start + d);
    let failed = AtomicBool::new(false);
    let results: Vec<Result<(u64, Option<u64>), PktgenError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = pace
            .cpus
            .iter()
            .enumerate()
            .map(|(thread, &cpu)| {
                let (make, failed) = (&make, &failed);
                let share = Share {
                    count: (pace.count != 0).then(|| split(pace.count, threads, thread)),
                    rate: split(pace.rate, threads, thread),
                };
                scope.spawn(move || {
                    let result = (|| {
                        vmknet::runtime::pin_thread(0, cpu)
                            .map_err(|err| PktgenError::io(format!("pinning a sender to CPU {cpu}"), err))?;
                        let mut tx = make(thread)?;
                        let sent = send_share(&mut tx, share, deadline, [stop, failed])
                            .map_err(|err| PktgenError::io(format!("sending from CPU {cpu}"), err))?;
                        Ok((sent, tx.bytes()))
                    })();
                    if result.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    result
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle
                    .join()
                    .unwrap_or_else(|_| Err(PktgenError::Invalid("a sender panicked".into())))
            })
            .collect()
    });
    let seconds = start.elapsed().as_secs_f64();
    let mut offered = 0;
    let mut bytes = Some(0);
    for result in results {
        let (frames, thread_bytes) = result?;
        offered += frames;
        bytes = bytes.zip(thread_bytes).map(|(a, b)| a + b);
    }
    Ok(Report {
        method,
        threads,
        offered,
        redirected: None,
        bytes,
        seconds,
    })
}

/// One thread's part of the count (`None`: unbounded) and of the rate (0: unlimited).
#[derive(Clone, Copy, Debug)]
struct Share {
    count: Option<u64>,
    rate: u64,
}

/// `total` split over `parts`, the remainder going to the first ones.
fn split(total: u64, parts: usize, index: usize) -> u64 {
    let parts = parts as u64;
    total / parts + u64::from((index as u64) < total % parts)
}

/// Sends `share` through `tx`; returns the frames sent. Stops early on `EINTR` (a signal), at `deadline` or
/// when one of the `stops` is raised.
fn send_share<T: Transmit>(
    tx: &mut T,
    share: Share,
    deadline: Option<Instant>,
    stops: [&AtomicBool; 2],
) -> io::Result<u64> {
    let start = Instant::now();
    let mut sent = 0u64;
    loop {
        let left = share.count.map_or(u64::MAX, |count| count - sent);
        let now = Instant::now();
        let stopped = stops.iter().any(|stop| stop.load(Ordering::Relaxed));
        if left == 0 || stopped || deadline.is_some_and(|d| now >= d) {
            return Ok(sent);
        }
        let round = match share.rate {
            0 => unlimited_round(sent, now - start, deadline.map(|d| d - now)),
            rate => paced_round(sent, now - start, rate),
        };
        match tx.send(round.min(left) as u32) {
            Ok(n) => sent += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(sent),
            Err(err) => return Err(err),
        }
        if share.rate != 0 {
            let due = start + Duration::from_nanos((u128::from(sent) * NANOS_PER_SEC / u128::from(share.rate)) as u64);
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
    }
}

/// Frames for the next unlimited round: [`FIRST_CHUNK`], then [`MAX_CHUNK`] cut to what the rate so far
/// (`sent` in `elapsed`) fits in the time `left`.
fn unlimited_round(sent: u64, elapsed: Duration, left: Option<Duration>) -> u64 {
    if sent == 0 {
        return u64::from(FIRST_CHUNK);
    }
    let max = u64::from(MAX_CHUNK);
    let Some(left) = left else {
        return max;
    };
    let fits = u128::from(sent) * left.as_nanos() / elapsed.as_nanos().max(1);
    (fits.min(u128::from(max)) as u64).max(1)
}

/// Frames for the next round at `rate`: what the schedule owes after `elapsed`, plus a chunk (100 µs' worth).
fn paced_round(sent: u64, elapsed: Duration, rate: u64) -> u64 {
    let chunk = (rate / CHUNKS_PER_SEC).max(1);
    let due = (elapsed.as_nanos() * u128::from(rate) / NANOS_PER_SEC) as u64;
    (due + chunk).saturating_sub(sent).clamp(1, u64::from(MAX_CHUNK))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes what it is offered, up to `accept` frames per call, and records the calls.
    struct Recorder {
        accept: u64,
        calls: Vec<u32>,
    }

    impl Transmit for Recorder {
        fn send(&mut self, n: u32) -> io::Result<u64> {
            self.calls.push(n);
            Ok(u64::from(n).min(self.accept))
        }

        fn bytes(&self) -> Option<u64> {
            None
        }
    }

    #[test]
    fn split_hands_out_the_exact_total() {
        for (total, parts) in [(10_000u64, 3usize), (7, 2), (1, 4), (0, 3)] {
            let shares: Vec<u64> = (0..parts).map(|i| split(total, parts, i)).collect();
            assert_eq!(shares.iter().sum::<u64>(), total, "{shares:?}");
            assert!(shares.iter().max().unwrap() - shares.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn unlimited_rounds_are_long_but_end_by_the_deadline() {
        let ms = Duration::from_millis;
        assert_eq!(unlimited_round(0, ms(0), Some(ms(10))), u64::from(FIRST_CHUNK));
        assert_eq!(unlimited_round(1000, ms(1), None), u64::from(MAX_CHUNK));
        // 1000 frames per ms so far, 200 ms left: 200 000 frames fit.
        assert_eq!(unlimited_round(1000, ms(1), Some(ms(200))), 200_000);
        assert_eq!(unlimited_round(1000, ms(1), Some(ms(5000))), u64::from(MAX_CHUNK));
        assert_eq!(unlimited_round(1000, ms(1), Some(Duration::ZERO)), 1);
    }

    #[test]
    fn paced_rounds_pay_what_the_schedule_owes() {
        let ms = Duration::from_millis;
        assert_eq!(paced_round(0, ms(0), 100_000), 10, "100 µs' worth to start");
        assert_eq!(paced_round(100, ms(1), 100_000), 10);
        assert_eq!(paced_round(100, ms(30), 100_000), 2910, "a late round catches up");
        assert_eq!(
            paced_round(5000, ms(30), 100_000),
            1,
            "ahead of schedule: one frame at least"
        );
        assert_eq!(paced_round(0, ms(0), 10), 1);
    }

    #[test]
    fn a_share_is_sent_exactly_even_when_the_kernel_takes_less() {
        let stop = AtomicBool::new(false);
        let mut tx = Recorder {
            accept: 1000,
            calls: Vec::new(),
        };
        let share = Share {
            count: Some(150_000),
            rate: 0,
        };
        assert_eq!(
            send_share(&mut tx, share, None, [&stop, &AtomicBool::new(false)]).unwrap(),
            150_000
        );
        assert_eq!(tx.calls[0], FIRST_CHUNK);
        assert!(tx.calls.iter().all(|&n| n <= MAX_CHUNK));
        assert_eq!(tx.calls.last(), Some(&1000), "the last call asks for what is left");
    }

    #[test]
    fn rate_limited_runs_start_with_a_chunk_and_send_the_count() {
        let stop = AtomicBool::new(false);
        let mut tx = Recorder {
            accept: u64::MAX,
            calls: Vec::new(),
        };
        let share = Share {
            count: Some(500),
            rate: 100_000,
        };
        assert_eq!(
            send_share(&mut tx, share, None, [&stop, &AtomicBool::new(false)]).unwrap(),
            500
        );
        assert_eq!(tx.calls.first(), Some(&10), "{:?}", tx.calls);
        assert_eq!(tx.calls.iter().map(|&n| u64::from(n)).sum::<u64>(), 500);
    }

    /// Fails its first send after raising `failing`.
    struct Failing<'a> {
        failing: &'a AtomicBool,
    }

    impl Transmit for Failing<'_> {
        fn send(&mut self, _: u32) -> io::Result<u64> {
            self.failing.store(true, Ordering::Relaxed);
            Err(io::Error::other("broken device"))
        }

        fn bytes(&self) -> Option<u64> {
            None
        }
    }

    /// Sends forever, but gives up (with its own error) if it is still asked to after `failing` has been up
    /// for a thousand one-millisecond rounds.
    struct Patient<'a> {
        failing: &'a AtomicBool,
        rounds_since: u32,
    }

    impl Transmit for Patient<'_> {
        fn send(&mut self, n: u32) -> io::Result<u64> {
            if self.failing.load(Ordering::Relaxed) {
                self.rounds_since += 1;
                if self.rounds_since > 1000 {
                    return Err(io::Error::other("never stopped"));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            Ok(u64::from(n))
        }

        fn bytes(&self) -> Option<u64> {
            None
        }
    }

    enum Either<'a> {
        Patient(Patient<'a>),
        Failing(Failing<'a>),
    }

    impl Transmit for Either<'_> {
        fn send(&mut self, n: u32) -> io::Result<u64> {
            match self {
                Self::Patient(tx) => tx.send(n),
                Self::Failing(tx) => tx.send(n),
            }
        }

        fn bytes(&self) -> Option<u64> {
            None
        }
    }

    #[test]
    fn a_failing_sender_stops_the_others() {
        // Safety: plain sched_getcpu(2): a CPU this thread may run on, so pinning to it succeeds.
        let cpu = usize::try_from(unsafe { libc::sched_getcpu() }).unwrap_or(0);
        let pace = Pace {
            count: 0,
            duration: None,
            rate: 0,
            cpus: vec![cpu, cpu],
        };
        let failing = AtomicBool::new(false);
        let result = run(Method::XdpLive, &pace, &AtomicBool::new(false), |thread| {
            Ok(match thread {
                0 => Either::Patient(Patient {
                    failing: &failing,
                    rounds_since: 0,
                }),
                _ => Either::Failing(Failing { failing: &failing }),
            })
        });
        let error = result.expect_err("the failure is reported").to_string();
        assert!(error.contains("broken device"), "{error}");
    }

    #[test]
    fn a_raised_stop_flag_sends_nothing_more() {
        let stop = AtomicBool::new(true);
        let mut tx = Recorder {
            accept: u64::MAX,
            calls: Vec::new(),
        };
        let share = Share { count: None, rate: 0 };
        assert_eq!(
            send_share(&mut tx, share, None, [&stop, &AtomicBool::new(false)]).unwrap(),
            0
        );
        assert!(tx.calls.is_empty());
    }
}
