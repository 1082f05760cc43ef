//! vmkping as a pure state machine: echo requests out, echo replies in, vmkping's lines as text.
//!
//! [`PingSession`] builds ICMP / ICMPv6 echo requests (identifier, sequence from 0, the send time in the
//! first 8 data bytes when there are at least 8, as BSD ping does), matches the replies that come back
//! (family, peer, identifier, a sequence it sent, valid checksum), computes round-trip times from the
//! echoed timestamp, and renders vmkping's output (fact sheet §4.4):
//!
//! ```text
//! PING 10.20.20.1 (10.20.20.1): 8972 data bytes
//! 8980 bytes from 10.20.20.1: icmp_seq=0 ttl=64 time=0.123 ms
//!
//! --- 10.20.20.1 ping statistics ---
//! 3 packets transmitted, 3 packets received, 0% packet loss
//! round-trip min/avg/max = 0.101/0.115/0.123 ms
//! ```
//!
//! `-s` counts ICMP data bytes, so a request is `20 + 8 + size` bytes over IPv4 (`40 + 8 + size` over IPv6):
//! `-d -s 8972` is exactly a 9000-byte packet and `-d -s 8973` fails locally on an MTU-9000 adapter with
//! `sendto() failed (Message too long)` ([`PingSession::send_failed`] renders whatever
//! [`super::EgressError`] the egress path returned). The byte count of a reply line is its ICMP message
//! length (8 + data). IPv6 lines say `hlim=` where IPv4 lines say `ttl=`, as BSD's ping6 does (vmkping's
//! IPv6 output is not in the fact sheet: a modelling choice).
//!
//! No I/O and no clock: the caller sends the requests through [`super::Egress`], feeds received IP packets
//! to [`PingSession::on_packet`] and passes the time to both.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::{Icmpv4Packet, Icmpv6Packet, Ipv4Packet, Ipv6Packet, icmpv4, icmpv6, ip_proto, ipv4, ipv6};

/// vmkping's defaults: 3 requests of 56 data bytes, TTL 64.
pub const DEFAULT_COUNT: u32 = 3;
/// Default ICMP data bytes (a 64-byte ICMP message).
pub const DEFAULT_SIZE: usize = 56;
/// Default TTL / hop limit.
pub const DEFAULT_TTL: u8 = 64;
/// Bytes of the send timestamp at the start of the data.
const TIMESTAMP_LEN: usize = 8;
const ICMP_HEADER_LEN: usize = 8;

/// What to send (vmkping's `-c`, `-s`, `-d`, `-t`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PingOptions {
    /// Requests to send (`-c`).
    pub count: u32,
    /// ICMP data bytes per request (`-s`).
    pub size: usize,
    /// Set DF (`-d`); IPv6 is never fragmented anyway.
    pub dont_fragment: bool,
    /// TTL / hop limit (`-t`).
    pub ttl: u8,
}

impl Default for PingOptions {
    fn default() -> Self {
        Self {
            count: DEFAULT_COUNT,
            size: DEFAULT_SIZE,
            dont_fragment: false,
            ttl: DEFAULT_TTL,
        }
    }
}

/// Why a session cannot start or a request not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PingError {
    /// Source and destination of different families.
    #[error("source {src} and destination {dst} are of different address families")]
    FamilyMismatch {
        /// The source.
        src: IpAddr,
        /// The destination.
        dst: IpAddr,
    },
    /// `-s` larger than an IP packet can carry.
    #[error("invalid packet size {size}: at most {max} data bytes")]
    SizeTooLarge {
        /// The size asked for.
        size: usize,
        /// The largest possible.
        max: usize,
    },
    /// `-c 0`.
    #[error("invalid count 0: at least one request")]
    ZeroCount,
    /// The output buffer is too small.
    #[error("buffer of {len} bytes cannot hold a {needed}-byte echo request")]
    BufferTooSmall {
        /// Bytes the request needs.
        needed: usize,
        /// Bytes the buffer has.
        len: usize,
    },
}

/// A matched echo reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply {
    /// Who answered.
    pub from: IpAddr,
    /// ICMP message bytes (header and data).
    pub bytes: usize,
    /// Its sequence number.
    pub seq: u16,
    /// Its TTL / hop limit.
    pub ttl: u8,
    /// Round-trip time, when the data carried our timestamp.
    pub rtt_ns: Option<u64>,
    /// A sequence already answered.
    pub duplicate: bool,
}

impl fmt::Display for Reply {
    /// `64 bytes from 10.20.20.1: icmp_seq=0 ttl=64 time=0.123 ms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hops = if self.from.is_ipv6() { "hlim" } else { "ttl" };
        write!(
            f,
            "{} bytes from {}: icmp_seq={} {hops}={}",
            self.bytes, self.from, self.seq, self.ttl
        )?;
        if let Some(rtt) = self.rtt_ns {
            write!(f, " time={} ms", Millis(rtt))?;
        }
        if self.duplicate {
            write!(f, " (DUP!)")?;
        }
        Ok(())
    }
}

/// Nanoseconds shown as milliseconds with three decimals.
struct Millis(u64);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let micros = (self.0 + 500) / 1000;
        write!(f, "{}.{:03}", micros / 1000, micros % 1000)
    }
}

/// The summary at the end of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Statistics {
    /// The destination.
    pub dst: IpAddr,
    /// Requests sent (including those the stack refused, as BSD ping counts them).
    pub transmitted: u32,
    /// Distinct requests answered.
    pub received: u32,
    /// Extra answers to requests already answered.
    pub duplicates: u32,
    /// Minimum, sum and maximum of the timed round trips, and how many there were.
    rtt: RttStats,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct RttStats {
    count: u64,
    min_ns: u64,
    max_ns: u64,
    sum_ns: u64,
}

impl Statistics {
    /// Percentage of requests without an answer, rounded down as BSD ping prints it.
    pub fn loss_percent(&self) -> u32 {
        if self.transmitted == 0 {
            return 0;
        }
        let lost = u64::from(self.transmitted.saturating_sub(self.received));
        (lost * 100 / u64::from(self.transmitted)) as u32
    }

    /// (min, avg, max) round-trip time in nanoseconds, when at least one reply was timed.
    pub fn round_trip_ns(&self) -> Option<(u64, u64, u64)> {
        let r = self.rtt;
        (r.count > 0).then(|| (r.min_ns, r.sum_ns / r.count, r.max_ns))
    }
}

impl fmt::Display for Statistics {
    /// The blank line, `--- DST ping statistics ---`, the counts and, when timed, `round-trip min/avg/max`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f)?;
        writeln!(f, "--- {} ping statistics ---", self.dst)?;
        write!(
            f,
            "{} packets transmitted, {} packets received, ",
            self.transmitted, self.received
        )?;
        if self.duplicates > 0 {
            write!(f, "+{} duplicates, ", self.duplicates)?;
        }
        writeln!(f, "{}% packet loss", self.loss_percent())?;
        if let Some((min, avg, max)) = self.round_trip_ns() {
            writeln!(
                f,
                "round-trip min/avg/max = {}/{}/{} ms",
                Millis(min),
                Millis(avg),
                Millis(max)
            )?;
        }
        Ok(())
    }
}

/// One vmkping run (see the module doc).
#[derive(Clone, Debug)]
pub struct PingSession {
    src: IpAddr,
    dst: IpAddr,
    ident: u16,
    options: PingOptions,
    transmitted: u32,
    received: u32,
    duplicates: u32,
    /// One bit per sequence number: answered.
    answered: Box<[u64]>,
    rtt: RttStats,
}

impl PingSession {
    /// A session from `src` (the sending vmk's address) to `dst`, with echo identifier `ident`.
    ///
    /// # Errors
    /// [`PingError::FamilyMismatch`], [`PingError::ZeroCount`], [`PingError::SizeTooLarge`].
    pub fn new(src: IpAddr, dst: IpAddr, ident: u16, options: PingOptions) -> Result<Self, PingError> {
        if src.is_ipv4() != dst.is_ipv4() {
            return Err(PingError::FamilyMismatch { src, dst });
        }
        if options.count == 0 {
            return Err(PingError::ZeroCount);
        }
        let max = max_size(dst);
        if options.size > max {
            return Err(PingError::SizeTooLarge {
                size: options.size,
                max,
            });
        }
        Ok(Self {
            src,
            dst,
            ident,
            options,
            transmitted: 0,
            received: 0,
            duplicates: 0,
            answered: vec![0; (1 << 16) / 64].into_boxed_slice(),
            rtt: RttStats::default(),
        })
    }

    /// The first line: `PING 10.20.20.1 (10.20.20.1): 56 data bytes`.
    pub fn header(&self) -> String {
        format!("PING {0} ({0}): {1} data bytes", self.dst, self.options.size)
    }

    /// Length of each request's IP packet.
    pub fn request_len(&self) -> usize {
        ip_header_len(self.dst) + ICMP_HEADER_LEN + self.options.size
    }

    /// Whether every request has been sent.
    pub fn is_complete(&self) -> bool {
        self.transmitted >= self.options.count
    }

    /// Writes the next echo request (an IP packet, IPv4 identification `ip_ident`) into `out` and returns its
    /// length, or `None` once `count` were sent. The request counts as transmitted.
    ///
    /// # Errors
    /// [`PingError::BufferTooSmall`] (nothing is counted then).
    pub fn next_request(&mut self, now_ns: u64, ip_ident: u16, out: &mut [u8]) -> Result<Option<usize>, PingError> {
        if self.is_complete() {
            return Ok(None);
        }
        let needed = self.request_len();
        let len = out.len();
        let out = out.get_mut(..needed).ok_or(PingError::BufferTooSmall { needed, len })?;
        // Sequence numbers wrap as in BSD ping.
        let seq = self.transmitted as u16;
        let (header, message) = out.split_at_mut(ip_header_len(self.dst));
        write_echo_data(&mut message[ICMP_HEADER_LEN..], now_ns);
        match (self.src, self.dst) {
            (IpAddr::V4(src), IpAddr::V4(dst)) => {
                let mut icmp = Icmpv4Packet::new_unchecked(&mut message[..]);
                icmp.set_msg_type(icmpv4::ECHO_REQUEST);
                icmp.set_msg_code(0);
                icmp.set_echo_ident(self.ident);
                icmp.set_echo_seq_no(seq);
                icmp.fill_checksum();
                let mut ip = Ipv4Packet::new_unchecked(header);
                ip.set_version_and_header_len(ipv4::MIN_HEADER_LEN);
                ip.set_dscp_ecn(0, 0);
                // At most 65535: `new` bounded the size.
                ip.set_total_len(needed as u16);
                ip.set_ident(ip_ident);
                ip.set_flags_and_frag_offset(self.options.dont_fragment, false, 0);
                ip.set_ttl(self.options.ttl);
                ip.set_protocol(ip_proto::ICMP);
                ip.set_src_addr(src);
                ip.set_dst_addr(dst);
                ip.fill_checksum();
            }
            (IpAddr::V6(src), IpAddr::V6(dst)) => {
                let mut icmp = Icmpv6Packet::new_unchecked(&mut message[..]);
                icmp.set_msg_type(icmpv6::ECHO_REQUEST);
                icmp.set_msg_code(0);
                icmp.set_echo_ident(self.ident);
                icmp.set_echo_seq_no(seq);
                icmp.fill_checksum(&src, &dst);
                let payload_len = (needed - ipv6::HEADER_LEN) as u16;
                let mut ip = Ipv6Packet::new_unchecked(header);
                ip.emit_header(payload_len, ip_proto::ICMPV6, self.options.ttl, src, dst);
            }
            // `new` refused mixed families.
            _ => {
                return Err(PingError::FamilyMismatch {
                    src: self.src,
                    dst: self.dst,
                });
            }
        }
        self.transmitted += 1;
        Ok(Some(needed))
    }

    /// Records that the stack refused the last request and returns vmkping's line for it, e.g.
    /// `sendto() failed (Message too long)`. The request stays counted as transmitted.
    pub fn send_failed(&self, error: &impl fmt::Display) -> String {
        format!("sendto() failed ({error})")
    }

    /// Matches a received IP packet against the session: an echo reply from the destination with our
    /// identifier, a sequence we sent and a valid checksum. `None` for anything else.
    pub fn on_packet(&mut self, packet: &[u8], now_ns: u64) -> Option<Reply> {
        let echo = match (self.src, self.dst) {
            (IpAddr::V4(us), IpAddr::V4(peer)) => echo_reply_v4(packet, peer, us)?,
            (IpAddr::V6(us), IpAddr::V6(peer)) => echo_reply_v6(packet, peer, us)?,
            _ => return None,
        };
        let seq = echo.seq;
        let sent = u32::from(seq) < self.transmitted || self.transmitted > u32::from(u16::MAX);
        if echo.ident != self.ident || !sent {
            return None;
        }
        let rtt_ns = echo
            .data
            .first_chunk::<TIMESTAMP_LEN>()
            .filter(|_| self.options.size >= TIMESTAMP_LEN)
            .map(|sent| now_ns.saturating_sub(u64::from_be_bytes(*sent)));
        let (word, bit) = (usize::from(seq) / 64, 1u64 << (seq % 64));
        let duplicate = self.answered.get(word).is_some_and(|w| w & bit != 0);
        if let Some(w) = self.answered.get_mut(word) {
            *w |= bit;
        }
        if duplicate {
            self.duplicates += 1;
        } else {
            self.received += 1;
            if let Some(rtt) = rtt_ns {
                let r = &mut self.rtt;
                r.min_ns = if r.count == 0 { rtt } else { r.min_ns.min(rtt) };
                r.max_ns = r.max_ns.max(rtt);
                r.sum_ns += rtt;
                r.count += 1;
            }
        }
        Some(Reply {
            from: echo.from,
            bytes: ICMP_HEADER_LEN + echo.data.len(),
            seq,
            ttl: echo.ttl,
            rtt_ns,
            duplicate,
        })
    }

    /// The summary so far.
    pub fn statistics(&self) -> Statistics {
        Statistics {
            dst: self.dst,
            transmitted: self.transmitted,
            received: self.received,
            duplicates: self.duplicates,
            rtt: self.rtt,
        }
    }
}

/// The largest `-s` for `dst`'s family: what fits a 65535-byte IPv4 packet or a 65535-byte IPv6 payload.
fn max_size(dst: IpAddr) -> usize {
    match dst {
        IpAddr::V4(_) => usize::from(u16::MAX) - ipv4::MIN_HEADER_LEN - ICMP_HEADER_LEN,
        IpAddr::V6(_) => usize::from(u16::MAX) - ICMP_HEADER_LEN,
    }
}

fn ip_header_len(dst: IpAddr) -> usize {
    if dst.is_ipv4() {
        ipv4::MIN_HEADER_LEN
    } else {
        ipv6::HEADER_LEN
    }
}

/// The send time, then bytes counting up from 8 (BSD ping's fill after its timestamp).
fn write_echo_data(data: &mut [u8], now_ns: u64) {
    for (i, b) in data.iter_mut().enumerate() {
        *b = i as u8;
    }
    if let Some(stamp) = data.first_chunk_mut::<TIMESTAMP_LEN>() {
        *stamp = now_ns.to_be_bytes();
    }
}

/// The fields of a received echo reply.
struct Echo<'a> {
    from: IpAddr,
    ttl: u8,
    ident: u16,
    seq: u16,
    data: &'a [u8],
}

/// An unfragmented IPv4 echo reply from `peer` to `us` with valid checksums.
fn echo_reply_v4(packet: &[u8], peer: Ipv4Addr, us: Ipv4Addr) -> Option<Echo<'_>> {
    let ip = Ipv4Packet::new_checked(packet).ok()?;
    let ours = ip.protocol() == ip_proto::ICMP && ip.src_addr() == peer && ip.dst_addr() == us;
    if !ours || ip.is_fragment() || !ip.verify_checksum() {
        return None;
    }
    let icmp = Icmpv4Packet::new_checked(ip.payload()).ok()?;
    (icmp.msg_type() == icmpv4::ECHO_REPLY && icmp.verify_checksum()).then(|| Echo {
        from: IpAddr::V4(peer),
        ttl: ip.ttl(),
        ident: icmp.echo_ident(),
        seq: icmp.echo_seq_no(),
        data: icmp.payload(),
    })
}

/// An unfragmented IPv6 echo reply from `peer` to `us` with a valid checksum.
fn echo_reply_v6(packet: &[u8], peer: Ipv6Addr, us: Ipv6Addr) -> Option<Echo<'_>> {
    let ip = Ipv6Packet::new_checked(packet).ok()?;
    let upper = ip.upper_layer().ok()?;
    let ours = upper.protocol == ip_proto::ICMPV6 && ip.src_addr() == peer && ip.dst_addr() == us;
    if !ours || upper.fragment.is_some() {
        return None;
    }
    let icmp = Icmpv6Packet::new_checked(upper.payload).ok()?;
    (icmp.msg_type() == icmpv6::ECHO_REPLY && icmp.verify_checksum(&peer, &us)).then(|| Echo {
        from: IpAddr::V6(peer),
        ttl: ip.hop_limit(),
        ident: icmp.echo_ident(),
        seq: icmp.echo_seq_no(),
        data: icmp.payload(),
    })
}

#[cfg(test)]
pub(super) mod tests {
    use etherparse::{Icmpv4Type, Icmpv6Type, NetSlice, SlicedPacket, TransportSlice};

    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn session(src: &str, dst: &str, options: PingOptions) -> PingSession {
        PingSession::new(ip(src), ip(dst), 0x1234, options).unwrap()
    }

    fn request(session: &mut PingSession, now_ns: u64) -> Vec<u8> {
        let mut out = vec![0u8; session.request_len()];
        let len = session.next_request(now_ns, 7, &mut out).unwrap().unwrap();
        assert_eq!(len, out.len());
        out
    }

    /// The peer's answer to `request`, built by hand as a Linux peer would: addresses swapped, type changed,
    /// checksums recomputed.
    pub(in crate::netstack) fn echo_reply(request: &[u8]) -> Vec<u8> {
        let mut reply = request.to_vec();
        if request[0] >> 4 == 4 {
            let ip = Ipv4Packet::new_checked(request).unwrap();
            let header_len = ip.header_len();
            let mut icmp = Icmpv4Packet::new_unchecked(&mut reply[header_len..]);
            icmp.set_msg_type(icmpv4::ECHO_REPLY);
            icmp.fill_checksum();
            Ipv4Packet::new_unchecked(&mut reply[..]).turn_around(64);
        } else {
            let ip = Ipv6Packet::new_checked(request).unwrap();
            let (src, dst) = (ip.src_addr(), ip.dst_addr());
            let mut icmp = Icmpv6Packet::new_unchecked(&mut reply[40..]);
            icmp.set_msg_type(icmpv6::ECHO_REPLY);
            icmp.fill_checksum(&dst, &src);
            Ipv6Packet::new_unchecked(&mut reply[..]).turn_around(63);
        }
        reply
    }

    #[test]
    fn ipv4_request_bytes() {
        let options = PingOptions {
            size: 8972,
            dont_fragment: true,
            ..PingOptions::default()
        };
        let mut s = session("10.20.20.11", "10.20.20.1", options);
        let bytes = request(&mut s, 5 * MS);
        assert_eq!(bytes.len(), 9000, "-s 8972 + 8 ICMP + 20 IPv4 = 9000");
        let sliced = SlicedPacket::from_ip(&bytes).unwrap();
        let Some(NetSlice::Ipv4(ip)) = &sliced.net else {
            panic!("not IPv4")
        };
        let header = ip.header().to_header();
        assert_eq!(header.header_checksum, header.calc_header_checksum());
        assert!(header.dont_fragment && !header.more_fragments);
        assert_eq!(
            (header.total_len, header.identification, header.time_to_live),
            (9000, 7, 64)
        );
        let Some(TransportSlice::Icmpv4(icmp)) = &sliced.transport else {
            panic!("not ICMP")
        };
        let Icmpv4Type::EchoRequest(echo) = icmp.icmp_type() else {
            panic!("not an echo request")
        };
        assert_eq!((echo.id, echo.seq), (0x1234, 0));
        assert_eq!(icmp.checksum(), icmp.icmp_type().calc_checksum(icmp.payload()));
        let data = icmp.payload();
        assert_eq!(data.len(), 8972);
        assert_eq!(data[..8], (5 * MS).to_be_bytes(), "send time first");
        assert_eq!(data[8..12], [8, 9, 10, 11]);
        let second = request(&mut s, 6 * MS);
        assert_eq!(Icmpv4Packet::new_checked(&second[20..]).unwrap().echo_seq_no(), 1);
    }

    #[test]
    fn ipv6_request_bytes() {
        let mut s = session("fd00:20::11", "fd00:20::1", PingOptions::default());
        let bytes = request(&mut s, S);
        assert_eq!(bytes.len(), 40 + 8 + 56);
        let sliced = SlicedPacket::from_ip(&bytes).unwrap();
        let Some(NetSlice::Ipv6(ip)) = &sliced.net else {
            panic!("not IPv6")
        };
        let header = ip.header().to_header();
        assert_eq!((header.payload_length, header.hop_limit), (64, 64));
        let Some(TransportSlice::Icmpv6(icmp)) = &sliced.transport else {
            panic!("not ICMPv6")
        };
        let Icmpv6Type::EchoRequest(echo) = icmp.icmp_type() else {
            panic!("not an echo request")
        };
        assert_eq!((echo.id, echo.seq), (0x1234, 0));
        let expected = icmp
            .icmp_type()
            .calc_checksum(header.source, header.destination, icmp.payload())
            .unwrap();
        assert_eq!(icmp.checksum(), expected, "checksum over the pseudo-header");
    }

    #[test]
    fn a_session_prints_what_vmkping_prints() {
        let mut s = session("10.20.20.11", "10.20.20.1", PingOptions::default());
        let mut lines = vec![s.header()];
        for (k, rtt) in [(0, 500_000), (1, 250_000), (2, 1_234_000)] {
            let sent = k * S;
            let reply = echo_reply(&request(&mut s, sent));
            let matched = s.on_packet(&reply, sent + rtt).expect("matches");
            assert_eq!(matched.rtt_ns, Some(rtt));
            lines.push(matched.to_string());
        }
        assert!(s.is_complete());
        assert_eq!(s.next_request(3 * S, 8, &mut [0; 100]), Ok(None));
        let text = format!("{}\n{}", lines.join("\n"), s.statistics());
        assert_eq!(
            text,
            "PING 10.20.20.1 (10.20.20.1): 56 data bytes\n\
             64 bytes from 10.20.20.1: icmp_seq=0 ttl=64 time=0.500 ms\n\
             64 bytes from 10.20.20.1: icmp_seq=1 ttl=64 time=0.250 ms\n\
             64 bytes from 10.20.20.1: icmp_seq=2 ttl=64 time=1.234 ms\n\
             \n\
             --- 10.20.20.1 ping statistics ---\n\
             3 packets transmitted, 3 packets received, 0% packet loss\n\
             round-trip min/avg/max = 0.250/0.661/1.234 ms\n"
        );
    }

    #[test]
    fn ipv6_replies_say_hlim() {
        let mut s = session("fd00:20::11", "fd00:20::1", PingOptions::default());
        let reply = echo_reply(&request(&mut s, S));
        let matched = s.on_packet(&reply, S + 2 * MS).unwrap();
        assert_eq!(
            matched.to_string(),
            "64 bytes from fd00:20::1: icmp_seq=0 hlim=63 time=2.000 ms"
        );
    }

    #[test]
    fn only_our_replies_match_and_duplicates_are_flagged() {
        let mut s = session("10.20.20.11", "10.20.20.1", PingOptions::default());
        let req = request(&mut s, 0);
        let reply = echo_reply(&req);
        assert_eq!(s.on_packet(&req, MS), None, "a request is not a reply");
        let mut other_ident = reply.clone();
        let mut icmp = Icmpv4Packet::new_unchecked(&mut other_ident[20..]);
        icmp.set_echo_ident(0x9999);
        icmp.fill_checksum();
        assert_eq!(s.on_packet(&other_ident, MS), None, "another session's reply");
        let mut unsent_seq = reply.clone();
        let mut icmp = Icmpv4Packet::new_unchecked(&mut unsent_seq[20..]);
        icmp.set_echo_seq_no(5);
        icmp.fill_checksum();
        assert_eq!(s.on_packet(&unsent_seq, MS), None, "a sequence never sent");
        let mut corrupt = reply.clone();
        corrupt[40] ^= 0xff;
        assert_eq!(s.on_packet(&corrupt, MS), None, "bad ICMP checksum");
        let mut stranger = reply.clone();
        Ipv4Packet::new_unchecked(&mut stranger[..]).set_src_addr(Ipv4Addr::new(10, 20, 20, 2));
        Ipv4Packet::new_unchecked(&mut stranger[..]).fill_checksum();
        assert_eq!(s.on_packet(&stranger, MS), None, "from another host");
        assert!(!s.on_packet(&reply, MS).unwrap().duplicate);
        let dup = s.on_packet(&reply, 2 * MS).unwrap();
        assert!(dup.duplicate);
        assert!(dup.to_string().ends_with(" (DUP!)"));
        let stats = s.statistics();
        assert_eq!((stats.received, stats.duplicates), (1, 1));
        assert!(stats.to_string().contains("1 packets received, +1 duplicates, "));
    }

    #[test]
    fn refused_requests_count_as_lost() {
        let options = PingOptions {
            size: 8973,
            dont_fragment: true,
            ..PingOptions::default()
        };
        let mut s = session("10.20.20.11", "10.20.20.1", options);
        let mut lines = vec![s.header()];
        for k in 0..3 {
            request(&mut s, k * S);
            lines.push(s.send_failed(&super::super::EgressError::MessageTooLong { mtu: 9000 }));
        }
        let text = format!("{}\n{}", lines.join("\n"), s.statistics());
        assert_eq!(
            text,
            "PING 10.20.20.1 (10.20.20.1): 8973 data bytes\n\
             sendto() failed (Message too long)\n\
             sendto() failed (Message too long)\n\
             sendto() failed (Message too long)\n\
             \n\
             --- 10.20.20.1 ping statistics ---\n\
             3 packets transmitted, 0 packets received, 100% packet loss\n"
        );
    }

    #[test]
    fn small_payloads_carry_no_timestamp() {
        let options = PingOptions {
            size: 4,
            ..PingOptions::default()
        };
        let mut s = session("10.20.20.11", "10.20.20.1", options);
        let reply = echo_reply(&request(&mut s, S));
        let matched = s.on_packet(&reply, 2 * S).unwrap();
        assert_eq!(matched.to_string(), "12 bytes from 10.20.20.1: icmp_seq=0 ttl=64");
        assert_eq!(s.statistics().round_trip_ns(), None);
    }

    #[test]
    fn bad_options_are_refused() {
        let new = |src: &str, dst: &str, count, size| {
            PingSession::new(
                ip(src),
                ip(dst),
                1,
                PingOptions {
                    count,
                    size,
                    ..PingOptions::default()
                },
            )
        };
        assert_eq!(new("10.0.0.1", "10.0.0.2", 0, 56).unwrap_err(), PingError::ZeroCount);
        assert!(new("10.0.0.1", "10.0.0.2", 1, 65507).is_ok());
        assert_eq!(
            new("10.0.0.1", "10.0.0.2", 1, 65508).unwrap_err(),
            PingError::SizeTooLarge {
                size: 65508,
                max: 65507
            }
        );
        assert!(new("fd00::1", "fd00::2", 1, 65527).is_ok());
        assert!(matches!(
            new("10.0.0.1", "fd00::2", 1, 56),
            Err(PingError::FamilyMismatch { .. })
        ));
        let mut s = session("10.20.20.11", "10.20.20.1", PingOptions::default());
        assert_eq!(
            s.next_request(0, 1, &mut [0; 83]),
            Err(PingError::BufferTooSmall { needed: 84, len: 83 })
        );
        assert_eq!(s.statistics().transmitted, 0, "a request never written is not counted");
    }
}
