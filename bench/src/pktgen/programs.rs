//! Loader of the packet generator's XDP programs (`ebpf/pktgen`, built by `build.rs`).
//!
//! - [`Generator`]: `pktgen_flows` (one UDP template, flows rewritten per frame) or `pktgen_replay` (a
//!   template array played in order), loaded but never attached: they run only under `BPF_PROG_TEST_RUN`.
//! - [`Sink`]: `pktgen_sink`, attached to a receiving interface, counting frames and bytes per CPU.
//! - [`live_frame_limit`]: the longest frame this kernel's live-frame mode accepts.
//!
//! Each [`Generator`] and [`Sink`] is its own instance of the object with its own maps; dropping one frees
//! them and detaches what was attached.

use std::io;

use aya::maps::{Array, MapData, PerCpuArray};
use aya::programs::{ProgramError, TestRun, TestRunAttrs, TestRunOptions, Xdp, XdpMode};
use aya::{Ebpf, EbpfLoader};
use vmknet_common::pktgen::{GenConfig, GenCounters, MAX_TEMPLATE_LEN, SinkConfig, Template};

use super::run::Transmit;
use super::stamp::stamp_site;
use super::{PktgenError, UdpFlows};

/// The programs, built for bpfel by `build.rs`.
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/vmknet-pktgen-ebpf"));

const FLOWS: &str = "pktgen_flows";
const REPLAY: &str = "pktgen_replay";
const SINK: &str = "pktgen_sink";
const CONFIG_MAP: &str = "CONFIG";
const COUNTERS_MAP: &str = "COUNTERS";
const TEMPLATES_MAP: &str = "TEMPLATES";
const SINK_MAP: &str = "SINK";

/// The frame `pktgen_replay` starts from before it copies a template in: a minimum Ethernet frame.
const REPLAY_SEED: [u8; 60] = [0; 60];
/// The kernel's largest live-frame batch (`TEST_XDP_MAX_BATCH`).
pub const MAX_BATCH: u32 = 256;

/// A generator program loaded with its traffic, ready to run with live frames.
#[derive(Debug)]
pub struct Generator {
    ebpf: Ebpf,
    program: &'static str,
    /// What the kernel copies into each page: the template, or the replay seed.
    seed: Vec<u8>,
}

impl Generator {
    /// Loads `pktgen_flows` for `flows`, redirecting to `ifindex`.
    ///
    /// # Errors
    /// [`PktgenError::Invalid`] for flows that make no frame; load errors.
    pub fn flows(flows: &UdpFlows, ifindex: u32) -> Result<Self, PktgenError> {
        let seed = flows.template()?;
        let ebpf = load(FLOWS, EbpfLoader::new())?;
        let mut generator = Self {
            ebpf,
            program: FLOWS,
            seed,
        };
        generator.configure(flows.config(ifindex))?;
        Ok(generator)
    }

    /// Loads `pktgen_replay` with `frames`, played in order, redirecting to `ifindex`; with `timestamp`, every
    /// frame that can carry a send-time stamp ([`stamp_site`]) gets one.
    ///
    /// # Errors
    /// [`PktgenError::Invalid`] when there are no frames or one is shorter than an Ethernet header or longer
    /// than [`MAX_TEMPLATE_LEN`]; load errors.
    pub fn replay<F: AsRef<[u8]>>(frames: &[F], ifindex: u32, timestamp: bool) -> Result<Self, PktgenError> {
        let n_templates = u32::try_from(frames.len())
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| PktgenError::Invalid(format!("{} frames to replay: give 1 to 2^32-1", frames.len())))?;
        let mut loader = EbpfLoader::new();
        loader.map_max_entries(TEMPLATES_MAP, n_templates);
        let ebpf = load(REPLAY, loader)?;
        let mut generator = Self {
            ebpf,
            program: REPLAY,
            seed: REPLAY_SEED.to_vec(),
        };
        let mut templates: Array<_, Template> = typed_map(&mut generator.ebpf, TEMPLATES_MAP)?;
        for (index, frame) in frames.iter().enumerate() {
            let frame = frame.as_ref();
            let site = timestamp.then(|| stamp_site(frame)).flatten().unwrap_or_default();
            let template = Template::new(frame, site)
                .filter(|_| frame.len() >= REPLAY_MIN_LEN)
                .ok_or_else(|| {
                    PktgenError::Invalid(format!(
                        "frame {index} has {} bytes: replay takes {REPLAY_MIN_LEN} to {MAX_TEMPLATE_LEN}",
                        frame.len()
                    ))
                })?;
            templates
                .set(index as u32, template, 0)
                .map_err(|source| map_error(TEMPLATES_MAP, "writing a template", source))?;
        }
        generator.configure(GenConfig {
            ifindex,
            n_templates,
            ..GenConfig::default()
        })?;
        Ok(generator)
    }

    /// Runs the program on `repeat` live frames in batches of `batch` (1 to [`MAX_BATCH`]).
    ///
    /// # Errors
    /// The kernel's refusal: `EINTR` when a signal interrupted the run (some frames were sent), `EINVAL`
    /// for a frame beyond the live-frame limit or a kernel without live frames.
    pub fn run_live(&self, repeat: u32, batch: u32) -> io::Result<()> {
        run_live(
            program(&self.ebpf, self.program).map_err(io::Error::other)?,
            &self.seed,
            repeat,
            batch,
        )
    }

    /// The frames the program redirected and their bytes, summed over CPUs.
    ///
    /// # Errors
    /// [`PktgenError::Map`] when the kernel refuses the read.
    pub fn counters(&self) -> Result<GenCounters, PktgenError> {
        read_counters(&self.ebpf)
    }

    fn configure(&mut self, config: GenConfig) -> Result<(), PktgenError> {
        let mut map: Array<_, GenConfig> = typed_map(&mut self.ebpf, CONFIG_MAP)?;
        map.set(0, config, 0)
            .map_err(|source| map_error(CONFIG_MAP, "writing the configuration", source))
    }
}

/// One thread's live-frame transmitter: each [`send`](Transmit::send) is one `BPF_PROG_TEST_RUN` of the
/// generator with `repeat` = the frames asked for.
#[derive(Debug)]
pub struct LiveTx<'a> {
    generator: &'a Generator,
    batch: u32,
}

impl<'a> LiveTx<'a> {
    /// A transmitter running `generator` in kernel batches of `batch` frames (1 to [`MAX_BATCH`]).
    ///
    /// # Errors
    /// [`PktgenError::Invalid`] for a batch out of range.
    pub fn new(generator: &'a Generator, batch: u32) -> Result<Self, PktgenError> {
        if !(1..=MAX_BATCH).contains(&batch) {
            return Err(PktgenError::Invalid(format!("burst {batch}: use 1 to {MAX_BATCH}")));
        }
        Ok(Self { generator, batch })
    }
}

impl Transmit for LiveTx<'_> {
    fn send(&mut self, n: u32) -> io::Result<u64> {
        self.generator.run_live(n, self.batch)?;
        Ok(u64::from(n))
    }

    fn bytes(&self) -> Option<u64> {
        None
    }
}

/// Shortest frame the replay program plays: an Ethernet header.
pub const REPLAY_MIN_LEN: usize = 14;

/// What the sink does with a frame once counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkAction {
    /// `XDP_DROP`: measures what reaches the interface, the XDP ceiling.
    Drop,
    /// `XDP_PASS`: the frame goes on to Linux (captures, sockets).
    Pass,
}

impl SinkAction {
    const fn xdp_action(self) -> u32 {
        match self {
            Self::Drop => 1,
            Self::Pass => 2,
        }
    }
}

/// The counting program, loaded and (once [`attach`](Self::attach)ed) counting a receiving interface's frames.
#[derive(Debug)]
pub struct Sink {
    ebpf: Ebpf,
}

impl Sink {
    /// Loads the sink, `action` for every frame.
    ///
    /// # Errors
    /// Load errors.
    pub fn load(action: SinkAction) -> Result<Self, PktgenError> {
        let mut ebpf = load(SINK, EbpfLoader::new())?;
        let mut map: Array<_, SinkConfig> = typed_map(&mut ebpf, SINK_MAP)?;
        let config = SinkConfig {
            action: action.xdp_action(),
        };
        map.set(0, config, 0)
            .map_err(|source| map_error(SINK_MAP, "writing the configuration", source))?;
        Ok(Self { ebpf })
    }

    /// Attaches the sink to `interface` in native mode, or generic mode (`skb`) if `generic`.
    ///
    /// # Errors
    /// [`PktgenError::InterfaceNotFound`]; [`PktgenError::Program`] when the kernel refuses.
    pub fn attach(&mut self, interface: &str, generic: bool) -> Result<(), PktgenError> {
        let mode = if generic { XdpMode::Skb } else { XdpMode::Driver };
        let program = program_mut(&mut self.ebpf, SINK)?;
        match program.attach(interface, mode) {
            Ok(_) => Ok(()),
            Err(ProgramError::UnknownInterface { name }) => Err(PktgenError::InterfaceNotFound(name)),
            Err(source) => Err(PktgenError::Program {
                action: format!("attaching the sink to `{interface}`"),
                hint: "; another XDP program may be attached (`ip link set dev IF xdp off`), or the driver lacks \
                       native XDP (try generic mode)",
                source,
            }),
        }
    }

    /// The frames counted and their bytes, summed over CPUs.
    ///
    /// # Errors
    /// [`PktgenError::Map`] when the kernel refuses the read.
    pub fn counters(&self) -> Result<GenCounters, PktgenError> {
        read_counters(&self.ebpf)
    }
}

/// The longest frame (without FCS) this kernel runs in live-frame mode: live frames live in one page with
/// the XDP headroom and the shared-info tailroom, and the kernel refuses longer ones (no multi-buffer).
/// Found by bisection with the unattached sink dropping every frame: nothing is transmitted.
///
/// # Errors
/// Load errors; [`PktgenError::Invalid`] when not even a minimum frame runs (no live-frame support:
/// kernel 5.18 or later is needed).
pub fn live_frame_limit() -> Result<usize, PktgenError> {
    let sink = Sink::load(SinkAction::Drop)?;
    let program = program(&sink.ebpf, SINK)?;
    let runs = |len: usize| run_live(program, &vec![0; len], 1, 1).is_ok();
    let (mut ok, mut too_long) = (REPLAY_SEED.len(), MAX_TEMPLATE_LEN + 1);
    if !runs(ok) {
        return Err(PktgenError::Invalid(
            "this kernel refuses BPF_PROG_TEST_RUN with live frames (BPF_F_TEST_XDP_LIVE_FRAMES, Linux 5.18 or \
             later); use the af-packet method"
                .into(),
        ));
    }
    while too_long - ok > 1 {
        let mid = ok + (too_long - ok) / 2;
        if runs(mid) {
            ok = mid;
        } else {
            too_long = mid;
        }
    }
    Ok(ok)
}

fn run_live(program: &Xdp, frame: &[u8], repeat: u32, batch: u32) -> io::Result<()> {
    let options = TestRunOptions {
        data_in: Some(frame),
        repeat,
        attrs: TestRunAttrs::new().xdp_live_frames(batch),
        ..TestRunOptions::new()
    };
    program.test_run(options).map(drop).map_err(|err| match err {
        ProgramError::SyscallError(syscall) => syscall.io_error,
        other => io::Error::other(other),
    })
}

fn load(program_name: &'static str, mut loader: EbpfLoader<'_>) -> Result<Ebpf, PktgenError> {
    let mut ebpf = loader.load(OBJECT).map_err(PktgenError::Load)?;
    program_mut(&mut ebpf, program_name)?
        .load()
        .map_err(|source| PktgenError::Program {
            action: format!("loading the XDP program `{program_name}`"),
            hint: "",
            source,
        })?;
    Ok(ebpf)
}

fn program<'a>(ebpf: &'a Ebpf, name: &'static str) -> Result<&'a Xdp, PktgenError> {
    ebpf.program(name)
        .and_then(|p| p.try_into().ok())
        .ok_or(PktgenError::Missing(name))
}

fn program_mut<'a>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<&'a mut Xdp, PktgenError> {
    ebpf.program_mut(name)
        .and_then(|p| p.try_into().ok())
        .ok_or(PktgenError::Missing(name))
}

fn typed_map<'a, M>(ebpf: &'a mut Ebpf, name: &'static str) -> Result<M, PktgenError>
where
    M: TryFrom<&'a mut aya::maps::Map, Error = aya::maps::MapError>,
{
    let map = ebpf.map_mut(name).ok_or(PktgenError::Missing(name))?;
    M::try_from(map).map_err(|source| map_error(name, "opening", source))
}

fn read_counters(ebpf: &Ebpf) -> Result<GenCounters, PktgenError> {
    let map = ebpf.map(COUNTERS_MAP).ok_or(PktgenError::Missing(COUNTERS_MAP))?;
    let per_cpu: PerCpuArray<&MapData, GenCounters> =
        PerCpuArray::try_from(map).map_err(|source| map_error(COUNTERS_MAP, "opening", source))?;
    let values = per_cpu
        .get(&0, 0)
        .map_err(|source| map_error(COUNTERS_MAP, "reading", source))?;
    Ok(values.iter().fold(GenCounters::default(), |sum, cpu| GenCounters {
        frames: sum.frames + cpu.frames,
        bytes: sum.bytes + cpu.bytes,
    }))
}

fn map_error(name: &'static str, action: &'static str, source: aya::maps::MapError) -> PktgenError {
    PktgenError::Map { name, action, source }
}
