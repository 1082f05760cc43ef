//! The AF_XDP fast path at run time: the classifier on the interface, the sockets of every (queue, netstack),
//! one pinned worker per rx queue (plus one per netstack given a CPU of its own), and what the control thread
//! reads while they run and after they stop.
//!
//! [`Engine::start`] checks the interface, loads the classifier and fills its maps from the host model,
//! binds the sockets and registers them in the XSKMAP, attaches the program last (so the first frame it
//! redirects finds a socket with a full fill ring) and starts the workers. Each queue's worker owns the
//! queue's fill ring; a netstack with a dedicated worker ([`NetstackCpu`]) is served by that worker on every
//! queue, which returns the frames it is done with to each queue's worker through a lock-free queue. [`Engine::live`] reads the
//! workers' live counters without stopping them; [`Engine::finish`] stops and joins the workers, merges their
//! counters into a [`Report`] and detaches the program. Dropping an [`Engine`] stops it the same way, so an
//! error or a panic leaves no program on the interface.
//!
//! [`Engine::local_port`] is the control thread's way to send as a vmk and to read the neighbour tables (see
//! `local.rs`): each netstack's egress is owned by one worker, which sends from egress frames the first
//! queue's UMEM sets aside.
//!
//! A learner thread (`learn.rs`) drains the classifier's reports of gratuitous ARP and unsolicited neighbour
//! advertisements into the owners' neighbour caches; it is stopped and joined with the workers.
//!
//! For the benchmark a run can leave the pipeline out ([`Processing::Off`]: the workers receive, count and
//! give back, the bare AF_XDP receive of the same sockets) and time the generator's stamped frames
//! ([`EngineConfig::latency`], see `latency.rs`).
//!
//! Capabilities are checked by the caller first ([`check_capabilities`]), before the host file is even read.

mod cpus;
mod gather;
mod latency;
mod learn;
mod local;
mod preflight;
mod worker;

use std::fmt;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Instant;

use hdrhistogram::Histogram;

pub use cpus::{CpuList, CpuListError, NetstackCpu, NetstackCpuError, pin_thread};
pub use latency::{LatencyProbe, monotonic_ns};
pub use local::{EgressCounts, Fate, LocalPort, MAX_PACKET, REPLY_LEN, SubmitError};
pub use preflight::{
    CAP_BPF, CAP_IPC_LOCK, CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN, Capability, VlanOffload, check_capabilities,
    has_capability, missing_capabilities, vlan_offload,
};
pub use worker::{BATCH, LiveCounts};

use crate::io::xsk::{DataPath, FillRing, ReturnQueue, SocketStats, UmemAccount, XskConfig, XskError};
use crate::model::{HostModel, NetstackId};
use crate::netstack::{NetstackError, RouteTable};
use crate::pipeline::{FragmentStats, HostTables, Pipeline};
use crate::stats::{Counters, Report};
use crate::xdp::{AttachMode, Classifier, LearnCounts, SteeringEntries, XdpCounters, XdpError};
use learn::Learner;
use local::{OwnedEgress, Shared};
use worker::{LiveCell, OwnedFill, Release, ServedRing, Worker, WorkerOutput};

/// UMEM frames of the first queue set aside for the host's own traffic (at most a quarter of the UMEM).
const EGRESS_FRAMES: u32 = 256;

/// An error starting or running the fast path.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The process lacks capabilities.
    #[error("missing {}; run as root or grant them (e.g. `setcap cap_bpf,cap_net_admin,cap_net_raw,cap_ipc_lock+ep`)",
        missing.join(", "))]
    Capabilities {
        /// What is missing.
        missing: Vec<String>,
    },
    /// No interface has this name.
    #[error("interface `{0}` not found (see `ip link`)")]
    InterfaceNotFound(String),
    /// More queues were asked for than the interface has.
    #[error("`{interface}` has {available} rx queue(s), {asked} asked for; see `ethtool -l {interface}`")]
    Queues {
        /// The interface.
        interface: String,
        /// Queues asked for.
        asked: u32,
        /// Queues it has.
        available: u32,
    },
    /// The ethtool ioctl failed.
    #[error("reading the features of `{interface}` (ethtool) failed: {source}")]
    Ethtool {
        /// The interface.
        interface: String,
        /// The errno.
        source: io::Error,
    },
    /// The NIC strips VLAN tags before XDP sees them.
    #[error(
        "`{interface}` ({driver}) strips VLAN tags on receive, so the classifier cannot steer by VLAN; turn the \
         offload off with `ethtool -K {interface} rxvlan off`"
    )]
    VlanOffload {
        /// The interface.
        interface: String,
        /// Its driver.
        driver: String,
    },
    /// The XDP classifier failed.
    #[error(transparent)]
    Xdp(Box<XdpError>),
    /// An AF_XDP socket failed.
    #[error(transparent)]
    Xsk(#[from] XskError),
    /// A CPU of `--cpus` this process may not run on.
    #[error("CPU {cpu} is not available to this process (allowed: {allowed}); see `nproc` and `taskset -p $$`")]
    Cpu {
        /// The CPU asked for.
        cpu: usize,
        /// The CPUs allowed.
        allowed: CpuList,
    },
    /// A netstack given a CPU of its own that the host does not have.
    #[error("--netstack-cpu names netstack `{name}`, which the host does not have (it has: {known})")]
    UnknownNetstack {
        /// The name given.
        name: String,
        /// The host's netstacks.
        known: String,
    },
    /// A netstack given two dedicated workers.
    #[error("netstack `{0}` is given a CPU of its own twice")]
    NetstackCpuTwice(String),
    /// The doorbell of a queue's return queue could not be made.
    #[error("creating the return queue of queue {queue} (an eventfd) failed: {source}")]
    ReturnQueue {
        /// The rx queue.
        queue: u32,
        /// The errno.
        source: io::Error,
    },
    /// A worker thread could not be started.
    #[error("starting worker {worker} failed: {source}")]
    Spawn {
        /// Its name.
        worker: String,
        /// The errno.
        source: io::Error,
    },
    /// A worker stopped on an error.
    #[error("worker {worker} failed: {source}")]
    Worker {
        /// Its name.
        worker: String,
        /// What failed.
        source: io::Error,
    },
    /// A worker thread panicked.
    #[error("worker {0} panicked")]
    WorkerPanicked(String),
    /// A netstack's routing table could not be built.
    #[error("building the routing table of netstack {netstack}: {source}")]
    Tables {
        /// The netstack.
        netstack: String,
        /// Why.
        source: NetstackError,
    },
    /// The queues of the host's own traffic could not be made.
    #[error("creating the local port's doorbells (eventfd) failed: {0}")]
    LocalPort(io::Error),
    /// A worker's latency histogram could not be made.
    #[error("creating a latency histogram failed: {0}")]
    LatencyHistogram(#[from] hdrhistogram::CreationError),
    /// The workers' latency histograms could not be merged.
    #[error("merging the workers' latency histograms failed: {0}")]
    LatencyMerge(#[from] hdrhistogram::AdditionError),
}

impl From<XdpError> for RuntimeError {
    fn from(err: XdpError) -> Self {
        Self::Xdp(Box::new(err))
    }
}

/// What the workers do with the frames they receive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Processing {
    /// Judge every frame with the pipeline: deliver, reply, forward, pass or drop, and count the verdict.
    #[default]
    Pipeline,
    /// Receive and gather exactly as with the pipeline, count each frame and its bytes in the live counters,
    /// and give every buffer straight back: the bare AF_XDP receive of the benchmark. Frames get no verdict
    /// (the report counts none), nothing is answered.
    Off,
}

impl fmt::Display for Processing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pipeline => "pipeline",
            Self::Off => "off",
        })
    }
}

/// How to run the fast path.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The interface to attach to.
    pub interface: String,
    /// Rx queues to serve, from 0; all of the interface's when `None`.
    pub queues: Option<u32>,
    /// CPUs for the workers, in queue order; the CPUs this process may use when `None`.
    pub cpus: Option<CpuList>,
    /// Native, generic or either.
    pub attach: AttachMode,
    /// Spin instead of sleeping in `poll()` when the rings are empty.
    pub busy_poll: bool,
    /// UMEM size and copy mode.
    pub xsk: XskConfig,
    /// Netstacks served by workers of their own, each on its CPU, instead of by the queue workers.
    pub netstack_cpus: Vec<NetstackCpu>,
    /// Whether the pipeline runs on the frames received.
    pub processing: Processing,
    /// Time the generator's stamped frames (the delivered ones; all of them with processing off) into
    /// [`RunSummary::latency`]. Off, it costs one branch per batch.
    pub latency: bool,
}

impl EngineConfig {
    /// Defaults for `interface`: every queue, every allowed CPU, native-or-generic XDP, `poll()` when idle.
    pub fn new(interface: impl Into<String>) -> Self {
        Self {
            interface: interface.into(),
            queues: None,
            cpus: None,
            attach: AttachMode::NativeOrGeneric,
            busy_poll: false,
            xsk: XskConfig::default(),
            netstack_cpus: Vec::new(),
            processing: Processing::Pipeline,
            latency: false,
        }
    }
}

/// A running worker, as the control thread sees it.
#[derive(Debug)]
struct WorkerHandle {
    name: String,
    cpu: usize,
    thread: JoinHandle<WorkerOutput>,
}

/// What the engine found and chose when it started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StartInfo {
    /// The XDP mode in use.
    pub attach: AttachMode,
    /// The interface's driver and rx VLAN offload.
    pub vlan_offload: VlanOffload,
    /// Rx queues the interface has (frames on queues not served go to Linux).
    pub rx_queues: u32,
    /// Per queue served: (queue, CPU of its worker, data path).
    pub queues: Vec<(u32, usize, DataPath)>,
    /// Netstacks with workers of their own: (netstack index, CPU).
    pub dedicated: Vec<(usize, usize)>,
}

/// One queue's part of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueSummary {
    /// The rx queue.
    pub queue: u32,
    /// The CPU its worker was pinned to.
    pub cpu: usize,
    /// Copy or zero-copy.
    pub data_path: DataPath,
    /// Live counts per netstack, in netstack order.
    pub netstacks: Vec<LiveCounts>,
    /// The kernel's statistics of each netstack's socket.
    pub sockets: Vec<SocketStats>,
    /// The books of the queue's UMEM at the end.
    pub umem: UmemAccount,
}

impl QueueSummary {
    /// Frames received on all of the queue's rings.
    pub fn rx(&self) -> u64 {
        self.netstacks.iter().map(|n| n.rx).sum()
    }
}

/// One worker's part of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSummary {
    /// Its thread's name: `vmknet-q<queue>` for a queue's worker, `vmknet-n<netstack>` for a netstack's own.
    pub name: String,
    /// The CPU it was pinned to.
    pub cpu: usize,
    /// The (queue, netstack) rings it served.
    pub rings: Vec<(u32, usize)>,
    /// Frames its pipeline judged (none with processing off).
    pub frames: u64,
}

/// The result of a run.
#[derive(Debug)]
pub struct RunSummary {
    /// What the workers did with the frames: with [`Processing::Off`] they judged none, so the report and
    /// counters count no frame and no verdict, and only the live counts ([`socket_rx`](Self::socket_rx)) and
    /// the UMEM books tell what was received.
    pub processing: Processing,
    /// The workers' counters, merged and named after the host model.
    pub report: Report,
    /// The merged counters themselves.
    pub counters: Counters,
    /// Per queue.
    pub queues: Vec<QueueSummary>,
    /// Per worker, queue workers first.
    pub workers: Vec<WorkerSummary>,
    /// The XDP program's verdict counters at the end.
    pub xdp: XdpCounters,
    /// What each netstack's vmks sent, in netstack order.
    pub egress: Vec<EgressCounts>,
    /// Neighbour learn events dropped on their way to a netstack's owner (its queue was full).
    pub learn_dropped: u64,
    /// Announcements (gratuitous ARP, unsolicited NA) the XDP program reported at the end, and lost.
    pub learn: LearnCounts,
    /// Egress frames of the first queue: (frames set aside, free at the end). Frames still in the kernel's tx
    /// or completion ring at the end are counted in the queue's books, not here.
    pub egress_frames: (usize, usize),
    /// With the latency probe on, the latencies in nanoseconds from the generator's stamp to a worker's
    /// receive, over every worker: of the delivered stamped frames, or with processing off of every stamped
    /// frame. `None` with the probe off.
    pub latency: Option<Histogram<u64>>,
}

impl RunSummary {
    /// Frames received by every socket.
    pub fn socket_rx(&self) -> u64 {
        self.queues.iter().map(QueueSummary::rx).sum()
    }

    /// Frames the kernel redirected to a socket but could not put in its ring, over every socket.
    pub fn socket_lost(&self) -> u64 {
        self.queues.iter().flat_map(|q| &q.sockets).map(SocketStats::lost).sum()
    }

    /// The books of every queue's UMEM.
    pub fn umem(&self) -> UmemAccount {
        let mut total = UmemAccount::default();
        self.queues.iter().for_each(|q| total.add(&q.umem));
        total
    }
}

/// The running fast path. Dropping it stops the workers and detaches the program.
#[derive(Debug)]
pub struct Engine {
    model: Arc<HostModel>,
    stop: Arc<AtomicBool>,
    workers: Vec<WorkerHandle>,
    /// Per queue served: live counts per netstack (each cell written by the worker serving that ring).
    live: Vec<Arc<[LiveCell]>>,
    /// Per queue served: frames returned to its fill-ring owner by dedicated workers, if there are any.
    returns: Vec<Option<Arc<ReturnQueue>>>,
    /// The host's own traffic.
    local: Arc<Shared>,
    port: Option<LocalPort>,
    /// The thread draining the classifier's announcements.
    learner: Option<JoinHandle<()>>,
    info: StartInfo,
    processing: Processing,
    /// Declared last, so that it is dropped (and the program detached) after `Drop` has joined the workers.
    classifier: Classifier,
}

impl Engine {
    /// Starts the fast path of `model` on `config.interface`.
    ///
    /// # Errors
    /// A [`RuntimeError`] saying what to change; nothing stays attached or bound on error.
    pub fn start(model: Arc<HostModel>, config: &EngineConfig) -> Result<Self, RuntimeError> {
        let interface = config.interface.as_str();
        let available = preflight::rx_queues(interface)?;
        let n_queues = config.queues.unwrap_or(available);
        if n_queues == 0 || n_queues > available {
            return Err(RuntimeError::Queues {
                interface: interface.to_owned(),
                asked: n_queues,
                available,
            });
        }
        let dedicated = dedicated_netstacks(&model, &config.netstack_cpus)?;
        let vlan_offload = preflight::check_vlan_offload(interface)?;
        let cpus = config.cpus.clone().unwrap_or_else(CpuList::allowed);
        let allowed = CpuList::allowed();
        if let Some(cpu) = (0..n_queues as usize)
            .map(|i| cpus.for_worker(i))
            .chain(dedicated.iter().map(|&(_, cpu)| cpu))
            .find(|&c| !allowed.contains(c))
        {
            return Err(RuntimeError::Cpu { cpu, allowed });
        }
        let n_netstacks = u32::try_from(model.netstacks.len()).unwrap_or(u32::MAX);
        let mut classifier = Classifier::load(n_netstacks, n_queues)?;
        classifier.fill_steering(&SteeringEntries::compile(&model))?;
        let mut queues = Vec::with_capacity(n_queues as usize);
        for queue in 0..n_queues {
            let egress_frames = if queue == 0 {
                EGRESS_FRAMES.min(config.xsk.frame_count / 4)
            } else {
                0
            };
            let (fill, sockets) =
                crate::io::xsk::open_queue(interface, queue, n_netstacks, &config.xsk, egress_frames)?;
            for socket in &sockets {
                classifier.register_socket(queue, socket.netstack() as u32, socket.fd())?;
            }
            queues.push((fill, sockets));
        }
        let routes = model
            .netstacks
            .iter()
            .map(|n| {
                RouteTable::compile(&model, n).map_err(|source| RuntimeError::Tables {
                    netstack: n.key.to_string(),
                    source,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let (local, packets) = Shared::new(model.netstacks.len()).map_err(RuntimeError::LocalPort)?;
        let pool = queues.first().and_then(|(fill, _)| fill.egress_pool().cloned());
        let attach = classifier.attach(interface, config.attach)?;
        let tables = Arc::new(HostTables::compile(Arc::clone(&model)));
        let mut engine = Self {
            local: Arc::clone(&local),
            port: Some(LocalPort::new(
                Arc::clone(&local),
                Arc::clone(&model),
                routes.clone(),
                packets,
            )),
            learner: None,
            model,
            stop: Arc::new(AtomicBool::new(false)),
            workers: Vec::new(),
            live: Vec::with_capacity(queues.len()),
            returns: Vec::with_capacity(queues.len()),
            info: StartInfo {
                attach,
                vlan_offload,
                rx_queues: available,
                queues: Vec::new(),
                dedicated: dedicated.clone(),
            },
            processing: config.processing,
            classifier,
        };
        let epoch = Instant::now();
        // Each netstack's egress is owned by the worker serving its socket on the first queue: its dedicated
        // worker, or the first queue's worker. That worker's caches of other netstacks keep a journal for
        // their owners.
        let new_worker = |name: String, cpu: usize, fills: Vec<OwnedFill>, rings: Vec<ServedRing>, engine: &Engine| {
            let mut pipeline = Pipeline::with_tables(Arc::clone(&tables));
            let egress: Vec<OwnedEgress> = match &pool {
                Some(pool) => rings
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| r.socket.queue() == 0)
                    .map(|(ring, r)| {
                        let netstack = NetstackId(r.socket.netstack() as u32);
                        let table = routes[netstack.index()].clone();
                        OwnedEgress::new(netstack, table, ring, Arc::clone(pool))
                    })
                    .collect(),
                None => Vec::new(),
            };
            for netstack in &engine.model.netstacks {
                if !egress.iter().any(|e| e.netstack() == netstack.id)
                    && let Some(cache) = pipeline.neighbors_mut(netstack.id)
                {
                    cache.keep_journal(local::JOURNAL);
                }
            }
            let latency = config.latency.then(LatencyProbe::new).transpose()?;
            Ok::<_, RuntimeError>(Worker {
                name,
                fills,
                rings,
                pipeline,
                processing: config.processing,
                latency,
                stop: Arc::clone(&engine.stop),
                busy_poll: config.busy_poll,
                cpu,
                epoch,
                model: Arc::clone(&engine.model),
                local: Arc::clone(&engine.local),
                egress,
            })
        };
        // The dedicated workers' rings, per netstack, filled queue by queue.
        let mut dedicated_rings: Vec<Vec<ServedRing>> = dedicated.iter().map(|_| Vec::new()).collect();
        let mut queue_workers = Vec::with_capacity(queues.len());
        for (index, (fill, sockets)) in queues.into_iter().enumerate() {
            let queue = fill.queue();
            let cpu = cpus.for_worker(index);
            let live: Arc<[LiveCell]> = (0..sockets.len()).map(|_| LiveCell::default()).collect();
            let returns = if dedicated.is_empty() {
                None
            } else {
                let queue = ReturnQueue::new(config.xsk.frame_count)
                    .map_err(|source| RuntimeError::ReturnQueue { queue, source })?;
                Some(Arc::new(queue))
            };
            let mut rings = Vec::with_capacity(sockets.len());
            for socket in sockets {
                let own = dedicated
                    .iter()
                    .position(|&(netstack, _)| netstack == socket.netstack());
                match (own, &returns) {
                    (Some(d), Some(returns)) => dedicated_rings[d].push(ServedRing::new(
                        socket,
                        Arc::clone(&live),
                        Release::Return(Arc::clone(returns)),
                    )),
                    _ => rings.push(ServedRing::new(socket, Arc::clone(&live), Release::Fill(0))),
                }
            }
            engine.info.queues.push((queue, cpu, fill.data_path()));
            let owned = OwnedFill {
                fill,
                returns: returns.clone(),
            };
            queue_workers.push(new_worker(
                format!("vmknet-q{queue}"),
                cpu,
                vec![owned],
                rings,
                &engine,
            )?);
            engine.live.push(live);
            engine.returns.push(returns);
        }
        let dedicated_workers = dedicated.iter().zip(dedicated_rings).map(|(&(netstack, cpu), rings)| {
            new_worker(format!("vmknet-n{netstack}"), cpu, Vec::new(), rings, &engine)
        });
        let workers: Vec<Worker> = queue_workers
            .into_iter()
            .map(Ok)
            .chain(dedicated_workers)
            .collect::<Result<_, _>>()?;
        if let Some(ring) = engine.classifier.take_learned()? {
            let learner = Learner::new(ring, &engine.model, Arc::clone(&engine.local), Arc::clone(&engine.stop));
            let thread = std::thread::Builder::new()
                .name("vmknet-learn".to_owned())
                .spawn(move || learner.run())
                .map_err(|source| RuntimeError::Spawn {
                    worker: "vmknet-learn".to_owned(),
                    source,
                })?;
            engine.learner = Some(thread);
        }
        for worker in workers {
            let (name, cpu) = (worker.name.clone(), worker.cpu);
            // On error `engine` is dropped: the workers started so far are stopped and the program detached.
            let thread = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || worker.run())
                .map_err(|source| RuntimeError::Spawn {
                    worker: name.clone(),
                    source,
                })?;
            engine.workers.push(WorkerHandle { name, cpu, thread });
        }
        Ok(engine)
    }

    /// The control thread's handle on the host's own traffic (`vmknet ping`, `show neighbors`): the first
    /// call gets it, later ones `None`.
    pub fn local_port(&mut self) -> Option<LocalPort> {
        self.port.take()
    }

    /// What each netstack's vmks sent so far, in netstack order.
    pub fn egress(&self) -> Vec<EgressCounts> {
        self.local.egress_counts()
    }

    /// What the engine found and chose.
    pub fn info(&self) -> &StartInfo {
        &self.info
    }

    /// Whether a worker has stopped (on an error, or because the stop flag was raised).
    pub fn worker_stopped(&self) -> bool {
        self.workers.iter().any(|w| w.thread.is_finished())
    }

    /// Live counts per netstack, summed over the queues, in netstack order.
    pub fn live(&self) -> Vec<LiveCounts> {
        let mut totals = vec![LiveCounts::default(); self.model.netstacks.len()];
        for queue in &self.live {
            for (total, cell) in totals.iter_mut().zip(queue.iter()) {
                total.add(&cell.read());
            }
        }
        totals
    }

    /// The XDP program's verdict counters now.
    ///
    /// # Errors
    /// [`XdpError::Map`] when the kernel refuses the read.
    pub fn xdp_counters(&self) -> Result<XdpCounters, XdpError> {
        self.classifier.counters()
    }

    /// The classifier's reports of gratuitous ARP and unsolicited neighbour advertisements so far.
    ///
    /// # Errors
    /// [`XdpError::Map`] when the kernel refuses the read.
    pub fn learn_counts(&self) -> Result<LearnCounts, XdpError> {
        self.classifier.learn_counts()
    }

    /// Stops and joins the workers, merges their counters, reads the sockets' and the program's statistics
    /// and balances each UMEM's books, then closes the sockets and detaches the program.
    ///
    /// # Errors
    /// The first worker error; the program is detached all the same.
    pub fn finish(mut self) -> Result<RunSummary, RuntimeError> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(learner) = self.learner.take()
            && learner.join().is_err()
        {
            return Err(RuntimeError::WorkerPanicked("vmknet-learn".to_owned()));
        }
        let mut outputs = Vec::with_capacity(self.workers.len());
        let mut first_error = None;
        let mut workers = Vec::with_capacity(self.workers.len());
        for WorkerHandle { name, cpu, thread } in std::mem::take(&mut self.workers) {
            match thread.join() {
                Ok(mut output) => {
                    if let Some(source) = output.error.take() {
                        first_error.get_or_insert(RuntimeError::Worker {
                            worker: name.clone(),
                            source,
                        });
                    }
                    workers.push(WorkerSummary {
                        name,
                        cpu,
                        rings: output
                            .rings
                            .iter()
                            .map(|r| (r.socket.queue(), r.socket.netstack()))
                            .collect(),
                        frames: output.pipeline.counters().frames_in().packets,
                    });
                    outputs.push(output);
                }
                Err(_) => {
                    first_error.get_or_insert(RuntimeError::WorkerPanicked(name));
                }
            }
        }
        // Read after the workers are gone: every frame the program redirected is in a ring or counted lost.
        let xdp = self.classifier.counters();
        if let Some(err) = first_error {
            return Err(err);
        }
        let xdp = xdp?;
        let learn = self.classifier.learn_counts()?;
        let latency = LatencyProbe::merge(outputs.iter_mut().filter_map(|o| o.latency.take()))?;
        let mut counters = Counters::new(self.model.vmks.len());
        let mut fragments = FragmentStats::default();
        for output in &outputs {
            counters.merge(output.pipeline.counters());
            let stats = output.pipeline.fragment_stats();
            fragments.evicted += stats.evicted;
            fragments.expired += stats.expired;
        }
        // Frames the dedicated workers returned after their owner's last round go back now.
        for owned in outputs.iter_mut().flat_map(|o| &mut o.fills) {
            if let Some(returns) = &owned.returns {
                owned.fill.drain_returns(returns);
            }
        }
        let fills: Vec<&FillRing> = outputs.iter().flat_map(|o| &o.fills).map(|f| &f.fill).collect();
        let egress_frames = fills
            .iter()
            .find_map(|f| f.egress_pool())
            .map_or((0, 0), |p| (p.frames(), p.free()));
        let rings: Vec<&ServedRing> = outputs.iter().flat_map(|o| &o.rings).collect();
        let queues = self
            .info
            .queues
            .iter()
            .zip(self.live.iter().zip(&self.returns))
            .map(|(&(queue, cpu, data_path), (live, returns))| {
                let mut of_queue: Vec<&ServedRing> =
                    rings.iter().copied().filter(|r| r.socket.queue() == queue).collect();
                of_queue.sort_by_key(|r| r.socket.netstack());
                let mut umem = UmemAccount::default();
                fills
                    .iter()
                    .filter(|f| f.queue() == queue)
                    .for_each(|f| umem.add(&f.account()));
                of_queue.iter().for_each(|r| umem.add(&r.socket.account()));
                let returning = returns.as_ref().map_or(0, |r| r.len() as u64);
                umem.held = returning + of_queue.iter().map(|r| r.held() as u64).sum::<u64>();
                QueueSummary {
                    queue,
                    cpu,
                    data_path,
                    netstacks: live.iter().map(LiveCell::read).collect(),
                    sockets: of_queue
                        .iter()
                        .map(|r| r.socket.statistics().unwrap_or_default())
                        .collect(),
                    umem,
                }
            })
            .collect();
        Ok(RunSummary {
            processing: self.processing,
            report: Report::new(&self.model, &counters, fragments),
            counters,
            queues,
            workers,
            xdp,
            egress: self.local.egress_counts(),
            learn_dropped: self.local.learn_dropped(),
            learn,
            egress_frames,
            latency,
        })
    }
}

/// The netstacks of `specs`, as (netstack index, CPU).
fn dedicated_netstacks(model: &HostModel, specs: &[NetstackCpu]) -> Result<Vec<(usize, usize)>, RuntimeError> {
    let mut dedicated: Vec<(usize, usize)> = Vec::with_capacity(specs.len());
    for spec in specs {
        let index = model
            .netstacks
            .iter()
            .position(|n| n.key.to_string() == spec.netstack)
            .ok_or_else(|| RuntimeError::UnknownNetstack {
                name: spec.netstack.clone(),
                known: model
                    .netstacks
                    .iter()
                    .map(|n| n.key.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if dedicated.iter().any(|&(n, _)| n == index) {
            return Err(RuntimeError::NetstackCpuTwice(spec.netstack.clone()));
        }
        dedicated.push((index, spec.cpu));
    }
    Ok(dedicated)
}

impl Drop for Engine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for handle in self.workers.drain(..) {
            let _ = handle.thread.join();
        }
        if let Some(learner) = self.learner.take() {
            let _ = learner.join();
        }
    }
}
