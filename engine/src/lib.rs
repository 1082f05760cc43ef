//! vmknet: VMware ESXi's VMkernel networking layer as a Linux dataplane.
//!
//! On an ESXi host, system traffic (management, vMotion, IP storage, Fault Tolerance, replication, vSAN, ...)
//! goes through VMkernel adapters (`vmkN`), each bound to one of several isolated TCP/IP stacks (netstacks).
//! vmknet reproduces that layer on a Linux NIC:
//!
//! - [`model`] parses and validates the host description (netstacks, vmk adapters, routes, service tags)
//!   against VMkernel's rules and renders esxcli-style views of it. Everything else is compiled from it.
//! - [`wire`] holds zero-copy frame views that never panic, whatever the input.
//! - [`netstack`] holds each netstack's egress tables: longest-prefix-match routes and the ARP/ND cache.
//! - [`pipeline`] is the pure per-frame path: steering, MTU, header validation, local-address check, service
//!   demultiplexing and isolation policy, ending in exactly one counted [`pipeline::Verdict`].
//! - [`io`] holds frame backends: pcap/pcapng replay and capture, and the AF_XDP sockets of a NIC queue.
//! - [`xdp`] loads the XDP classifier, fills its steering maps, attaches it and reads its counters.
//! - [`runtime`] runs the AF_XDP fast path: the classifier on a NIC, a socket per (queue, netstack), a pinned
//!   worker per queue running the pipeline, and the counters the control thread reads.
//! - [`stats`] aggregates per-worker counters off the hot path and renders them.
//!
//! The `vmknet` command is the `vmknet-cli` package (`engine/cli/`), built on this library and the testbed.

pub mod io;
pub mod model;
pub mod netstack;
pub mod pipeline;
pub mod runtime;
pub mod stats;
pub mod wire;
pub mod xdp;
