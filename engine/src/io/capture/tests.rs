//! Reader tests on captures written byte by byte, so each format rule is exercised on purpose.

use proptest::prelude::*;

use super::*;

const LINKTYPE_ETHERNET: u32 = 1;
const LINKTYPE_RAW: u32 = 101;
const LINKTYPE_LINUX_SLL: u32 = 113;
const LINKTYPE_IEEE802_11: u32 = 105;

/// A minimal Ethernet frame: broadcast to 00:50:56:00:00:01, EtherType IPv4, 4 bytes of IPv4 header.
const ETHERNET_FRAME: [u8; 18] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x50, 0x56, 0x00, 0x00, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x54,
];
const IPV4_START: [u8; 4] = [0x45, 0x00, 0x00, 0x54];
const IPV6_START: [u8; 4] = [0x60, 0x00, 0x00, 0x00];

/// What the reader gave for one frame, owned.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    data: Vec<u8>,
    timestamp_ns: u64,
    orig_len: u32,
}

fn read_all(bytes: &[u8]) -> Result<Vec<Seen>, CaptureError> {
    let mut reader = CaptureReader::from_reader(bytes, "test")?;
    let mut frames = Vec::new();
    while let Some(frame) = reader.next_frame()? {
        assert_eq!(frame.cap_len(), frame.data.len());
        frames.push(Seen {
            data: frame.data.to_vec(),
            timestamp_ns: frame.timestamp_ns,
            orig_len: frame.orig_len,
        });
    }
    assert_eq!(
        reader.bytes_read(),
        bytes.len() as u64,
        "a clean end means every byte was consumed"
    );
    Ok(frames)
}

/// The reason of a [`CaptureError::Corrupt`], with its offset; panics on any other outcome.
fn corruption(bytes: &[u8]) -> (u64, Corruption) {
    match read_all(bytes) {
        Err(CaptureError::Corrupt { offset, reason, .. }) => (offset, reason),
        other => panic!("expected a corrupt capture, got {other:?}"),
    }
}

fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut frame = vec![0; 12];
    frame.extend_from_slice(&ethertype.to_be_bytes());
    frame.extend_from_slice(payload);
    frame
}

fn u16_bytes(order: ByteOrder, value: u16) -> [u8; 2] {
    match order {
        ByteOrder::Little => value.to_le_bytes(),
        ByteOrder::Big => value.to_be_bytes(),
    }
}

fn u32_bytes(order: ByteOrder, value: u32) -> [u8; 4] {
    match order {
        ByteOrder::Little => value.to_le_bytes(),
        ByteOrder::Big => value.to_be_bytes(),
    }
}

/// A classic pcap file; records are (seconds, fraction, original length, captured bytes).
fn pcap(order: ByteOrder, magic: u32, link_type: u32, records: &[(u32, u32, u32, &[u8])]) -> Vec<u8> {
    let mut file = Vec::new();
    file.extend_from_slice(&u32_bytes(order, magic));
    file.extend_from_slice(&u16_bytes(order, 2));
    file.extend_from_slice(&u16_bytes(order, 4));
    file.extend_from_slice(&[0; 8]);
    file.extend_from_slice(&u32_bytes(order, MAX_CAPTURED_LEN));
    file.extend_from_slice(&u32_bytes(order, link_type));
    for &(sec, frac, orig_len, data) in records {
        for value in [sec, frac, data.len() as u32, orig_len] {
            file.extend_from_slice(&u32_bytes(order, value));
        }
        file.extend_from_slice(data);
    }
    file
}

/// A pcapng block: type, total length, body padded to 32 bits, total length.
fn block(order: ByteOrder, block_type: u32, body: &[u8]) -> Vec<u8> {
    let padded = body.len().next_multiple_of(4);
    let len = u32_bytes(order, (padded + 12) as u32);
    let mut block = u32_bytes(order, block_type).to_vec();
    block.extend_from_slice(&len);
    block.extend_from_slice(body);
    block.resize(8 + padded, 0);
    block.extend_from_slice(&len);
    block
}

/// A pcapng option: code, length, value padded to 32 bits.
fn option(order: ByteOrder, code: u16, value: &[u8]) -> Vec<u8> {
    let mut option = u16_bytes(order, code).to_vec();
    option.extend_from_slice(&u16_bytes(order, value.len() as u16));
    option.extend_from_slice(value);
    option.resize(4 + value.len().next_multiple_of(4), 0);
    option
}

/// A Section Header Block with a comment option, to be skipped.
fn section_header(order: ByteOrder) -> Vec<u8> {
    let mut body = u32_bytes(order, PCAPNG_BYTE_ORDER_MAGIC).to_vec();
    body.extend_from_slice(&u16_bytes(order, 1));
    body.extend_from_slice(&u16_bytes(order, 0));
    body.extend_from_slice(&[0xff; 8]);
    body.extend(option(order, 1, b"hand-written"));
    body.extend(option(order, PCAPNG_OPT_END, &[]));
    block(order, PCAPNG_SECTION_HEADER, &body)
}

/// An Interface Description Block with the given options (already encoded) and snap length 0 (unlimited).
fn interface(order: ByteOrder, link_type: u16, options: &[Vec<u8>]) -> Vec<u8> {
    let mut body = u16_bytes(order, link_type).to_vec();
    body.extend_from_slice(&[0; 6]);
    for option in options {
        body.extend_from_slice(option);
    }
    block(order, PCAPNG_INTERFACE_DESCRIPTION, &body)
}

/// An Enhanced Packet Block, with an epb_flags option to be skipped.
fn enhanced_packet(order: ByteOrder, interface_id: u32, units: u64, orig_len: u32, data: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    for value in [
        interface_id,
        (units >> 32) as u32,
        units as u32,
        data.len() as u32,
        orig_len,
    ] {
        body.extend_from_slice(&u32_bytes(order, value));
    }
    body.extend_from_slice(data);
    body.resize(body.len().next_multiple_of(4), 0);
    body.extend(option(order, 2, &u32_bytes(order, 1)));
    block(order, PCAPNG_ENHANCED_PACKET, &body)
}

/// An obsolete Packet Block: 16-bit interface id and drop count, then as an Enhanced Packet Block.
fn packet(order: ByteOrder, interface_id: u16, units: u64, data: &[u8]) -> Vec<u8> {
    let mut body = u16_bytes(order, interface_id).to_vec();
    body.extend_from_slice(&u16_bytes(order, 0));
    for value in [(units >> 32) as u32, units as u32, data.len() as u32, data.len() as u32] {
        body.extend_from_slice(&u32_bytes(order, value));
    }
    body.extend_from_slice(data);
    block(order, PCAPNG_PACKET, &body)
}

fn simple_packet(order: ByteOrder, orig_len: u32, data: &[u8]) -> Vec<u8> {
    let mut body = u32_bytes(order, orig_len).to_vec();
    body.extend_from_slice(data);
    block(order, PCAPNG_SIMPLE_PACKET, &body)
}

#[test]
fn pcap_in_both_byte_orders_and_resolutions() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        for (magic, frac, fraction_ns) in [
            (PCAP_MAGIC_MICROS, 123_456, 123_456_000),
            (PCAP_MAGIC_NANOS, 123_456_789, 123_456_789),
        ] {
            let file = pcap(
                order,
                magic,
                LINKTYPE_ETHERNET,
                &[
                    (1_700_000_000, frac, 18, &ETHERNET_FRAME),
                    (u32::MAX, 0, 1514, &ETHERNET_FRAME[..14]),
                ],
            );
            let frames = read_all(&file).unwrap_or_else(|e| panic!("{order:?} {magic:#x}: {e}"));
            assert_eq!(
                frames,
                [
                    Seen {
                        data: ETHERNET_FRAME.to_vec(),
                        timestamp_ns: 1_700_000_000_000_000_000 + fraction_ns,
                        orig_len: 18
                    },
                    Seen {
                        data: ETHERNET_FRAME[..14].to_vec(),
                        timestamp_ns: u64::from(u32::MAX) * 1_000_000_000,
                        orig_len: 1514
                    },
                ],
                "{order:?} {magic:#x}"
            );
        }
    }
}

#[test]
fn truncated_records_report_both_lengths() {
    let file = pcap(
        ByteOrder::Little,
        PCAP_MAGIC_MICROS,
        LINKTYPE_ETHERNET,
        &[(0, 0, 1514, &ETHERNET_FRAME), (0, 0, 18, &ETHERNET_FRAME)],
    );
    let mut reader = CaptureReader::from_reader(&file[..], "test").unwrap();
    let frame = reader.next_frame().unwrap().unwrap();
    assert_eq!(
        (frame.cap_len(), frame.orig_len, frame.is_truncated()),
        (18, 1514, true)
    );
    let frame = reader.next_frame().unwrap().unwrap();
    assert_eq!((frame.cap_len(), frame.orig_len, frame.is_truncated()), (18, 18, false));
    assert_eq!(reader.next_frame().unwrap(), None);
}

#[test]
fn pcap_link_types_become_ethernet() {
    // Linux cooked v1: packet type, ARPHRD_ETHER, address length, address, protocol IPv6.
    let mut sll = vec![0, 4, 0, 1, 0, 6, 0x00, 0x50, 0x56, 0x00, 0x00, 0x02, 0, 0, 0x86, 0xdd];
    sll.extend_from_slice(&IPV6_START);
    let file = pcap(
        ByteOrder::Little,
        PCAP_MAGIC_NANOS,
        LINKTYPE_LINUX_SLL,
        &[(0, 5, 120, &sll)],
    );
    assert_eq!(
        read_all(&file).unwrap(),
        [Seen {
            data: ethernet(0x86dd, &IPV6_START),
            timestamp_ns: 5,
            orig_len: 118
        }]
    );

    let file = pcap(
        ByteOrder::Big,
        PCAP_MAGIC_MICROS,
        LINKTYPE_RAW,
        &[(0, 5, 84, &IPV4_START), (0, 6, 40, &IPV6_START)],
    );
    assert_eq!(
        read_all(&file).unwrap(),
        [
            Seen {
                data: ethernet(0x0800, &IPV4_START),
                timestamp_ns: 5_000,
                orig_len: 98
            },
            Seen {
                data: ethernet(0x86dd, &IPV6_START),
                timestamp_ns: 6_000,
                orig_len: 54
            },
        ]
    );
}

#[test]
fn short_link_header_is_corrupt_not_a_panic() {
    let file = pcap(
        ByteOrder::Little,
        PCAP_MAGIC_MICROS,
        LINKTYPE_LINUX_SLL,
        &[(0, 0, 60, &[0; 10])],
    );
    assert_eq!(
        corruption(&file),
        (
            24,
            Corruption::ShortLinkHeader {
                link: "LINUX_SLL",
                needed: 16,
                captured: 10
            }
        )
    );
}

/// A little- or big-endian pcapng file with two sections: the first with an Ethernet and a RAW interface (the
/// RAW one in nanoseconds, starting an hour late), blocks to skip, and every packet block type; the second,
/// in the other byte order, with a LINUX_SLL interface whose timestamps are in 2^-10 s.
fn two_section_pcapng(order: ByteOrder) -> Vec<u8> {
    let other = match order {
        ByteOrder::Little => ByteOrder::Big,
        ByteOrder::Big => ByteOrder::Little,
    };
    let offset_hour = match order {
        ByteOrder::Little => 3600u64.to_le_bytes(),
        ByteOrder::Big => 3600u64.to_be_bytes(),
    };
    let mut sll = vec![0, 0, 0, 1, 0, 6, 0x00, 0x50, 0x56, 0x00, 0x00, 0x02, 0, 0, 0x08, 0x06];
    sll.extend_from_slice(&[0, 1, 8, 0]);
    [
        section_header(order),
        interface(
            order,
            1,
            &[option(order, 2, b"vmnic0"), option(order, PCAPNG_OPT_END, &[])],
        ),
        block(order, 0x0000_0bad, &[1, 2, 3, 4, 5]),
        interface(
            order,
            101,
            &[
                option(order, PCAPNG_OPT_IF_TSRESOL, &[9]),
                option(order, PCAPNG_OPT_IF_TSOFFSET, &offset_hour),
            ],
        ),
        enhanced_packet(order, 0, 1_700_000_000_000_001, 60, &ETHERNET_FRAME),
        block(order, 4, &[0; 12]),
        enhanced_packet(order, 1, 7, 4, &IPV4_START),
        block(order, 5, &[0; 16]),
        simple_packet(order, 18, &ETHERNET_FRAME),
        packet(order, 1, 9, &IPV6_START),
        section_header(other),
        interface(other, 113, &[option(other, PCAPNG_OPT_IF_TSRESOL, &[0x8a])]),
        enhanced_packet(other, 0, 1024 * 5 + 512, 20, &sll),
    ]
    .concat()
}

#[test]
fn pcapng_sections_interfaces_and_blocks() {
    for order in [ByteOrder::Little, ByteOrder::Big] {
        let hour_ns = 3_600_000_000_000;
        assert_eq!(
            read_all(&two_section_pcapng(order)).unwrap(),
            [
                Seen {
                    data: ETHERNET_FRAME.to_vec(),
                    timestamp_ns: 1_700_000_000_000_001_000,
                    orig_len: 60
                },
                Seen {
                    data: ethernet(0x0800, &IPV4_START),
                    timestamp_ns: hour_ns + 7,
                    orig_len: 18
                },
                // A Simple Packet Block has no timestamp: it repeats the previous one.
                Seen {
                    data: ETHERNET_FRAME.to_vec(),
                    timestamp_ns: hour_ns + 7,
                    orig_len: 18
                },
                Seen {
                    data: ethernet(0x86dd, &IPV6_START),
                    timestamp_ns: hour_ns + 9,
                    orig_len: 18
                },
                Seen {
                    data: ethernet(0x0806, &[0, 1, 8, 0]),
                    timestamp_ns: 5_500_000_000,
                    orig_len: 18
                },
            ],
            "{order:?}"
        );
    }
}

#[test]
fn simple_packet_captured_length_is_implied() {
    let order = ByteOrder::Little;
    // orig 16 < 18 stored bytes (padding); orig 1514 > 18 stored bytes (snap length).
    let file = [
        section_header(order),
        interface(order, 1, &[]),
        simple_packet(order, 16, &ETHERNET_FRAME),
        simple_packet(order, 1514, &ETHERNET_FRAME[..16]),
    ]
    .concat();
    let frames = read_all(&file).unwrap();
    let lengths: Vec<_> = frames.iter().map(|f| (f.data.len(), f.orig_len)).collect();
    assert_eq!(lengths, [(16, 16), (16, 1514)]);
}

#[test]
fn unsupported_link_type_names_it_and_the_supported_ones() {
    let file = pcap(ByteOrder::Little, PCAP_MAGIC_MICROS, LINKTYPE_IEEE802_11, &[]);
    let error = CaptureReader::from_reader(&file[..], "wifi.pcap").unwrap_err();
    assert_eq!(
        error.to_string(),
        "wifi.pcap: unsupported link type 105 (IEEE802_11); supported link types: ETHERNET (1), LINUX_SLL (113), \
         LINUX_SLL2 (276), RAW (101), IPV4 (228), IPV6 (229), NULL (0), LOOP (108)"
    );

    let order = ByteOrder::Big;
    let file = [
        section_header(order),
        interface(order, 1, &[]),
        interface(order, 127, &[]),
    ]
    .concat();
    let error = read_all(&file).unwrap_err();
    assert!(
        matches!(error, CaptureError::UnsupportedLinkType { link_type: 127, .. }),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .starts_with("test: unsupported link type 127 (IEEE802_11_RADIOTAP); "),
        "{error}"
    );
}

#[test]
fn not_a_capture_says_what_was_found() {
    let message = |bytes: &[u8]| CaptureReader::from_reader(bytes, "x").unwrap_err().to_string();
    assert_eq!(message(b""), "x: not a capture file: the file is empty");
    assert!(message(b"GET / HTTP/1.1").starts_with("x: not a capture file: it starts with 47 45 54 20, expected"));
    assert!(message(&[0x1f, 0x8b, 8, 0, 0]).ends_with("; it looks gzip-compressed: decompress it first"));
    assert!(message(&[0xd4, 0xc3]).starts_with("x: not a capture file: it starts with d4 c3, expected"));
}

#[test]
fn open_reports_the_path() {
    let error = CaptureReader::open("/nonexistent/vmknet.pcap").unwrap_err();
    assert!(matches!(error, CaptureError::Io { .. }), "{error:?}");
    assert!(error.to_string().starts_with("/nonexistent/vmknet.pcap: "), "{error}");
}

#[test]
fn cut_pcap_file_header_and_record() {
    let file = pcap(
        ByteOrder::Little,
        PCAP_MAGIC_MICROS,
        LINKTYPE_ETHERNET,
        &[(0, 0, 18, &ETHERNET_FRAME)],
    );
    assert!(matches!(read_all(&file[..3]), Err(CaptureError::NotACapture { .. })));
    assert_eq!(
        corruption(&file[..20]),
        (
            0,
            Corruption::UnexpectedEnd {
                what: "the pcap file header"
            }
        )
    );
    assert_eq!(read_all(&file[..24]).unwrap(), []);
    assert_eq!(
        corruption(&file[..30]),
        (
            24,
            Corruption::UnexpectedEnd {
                what: "a pcap record header"
            }
        )
    );
    assert_eq!(
        corruption(&file[..50]),
        (24, Corruption::UnexpectedEnd { what: "a pcap record" })
    );
}

#[test]
fn every_cut_of_a_valid_file_is_an_error_or_a_prefix() {
    for file in [
        pcap(
            ByteOrder::Big,
            PCAP_MAGIC_NANOS,
            LINKTYPE_RAW,
            &[(1, 2, 4, &IPV4_START), (3, 4, 4, &IPV6_START)],
        ),
        two_section_pcapng(ByteOrder::Little),
    ] {
        let complete = read_all(&file).unwrap();
        for cut in 0..file.len() {
            // A cut on a record boundary is a shorter valid file; anywhere else it is an error.
            if let Ok(frames) = read_all(&file[..cut]) {
                assert_eq!(frames, complete[..frames.len()], "cut at {cut}");
            }
        }
    }
}

#[test]
fn error_stops_the_reader() {
    let file = pcap(
        ByteOrder::Little,
        PCAP_MAGIC_MICROS,
        LINKTYPE_ETHERNET,
        &[(0, 0, 18, &ETHERNET_FRAME)],
    );
    let mut reader = CaptureReader::from_reader(&file[..40], "test").unwrap();
    assert!(reader.next_frame().is_err());
    assert_eq!(reader.next_frame().unwrap(), None);
}

#[test]
fn oversized_record_is_refused_before_reading() {
    let mut file = pcap(
        ByteOrder::Little,
        PCAP_MAGIC_MICROS,
        LINKTYPE_ETHERNET,
        &[(0, 0, 18, &ETHERNET_FRAME)],
    );
    file[32..36].copy_from_slice(&(MAX_CAPTURED_LEN + 1).to_le_bytes());
    assert_eq!(
        corruption(&file),
        (
            24,
            Corruption::RecordTooLong {
                cap_len: MAX_CAPTURED_LEN + 1,
                limit: MAX_CAPTURED_LEN
            }
        )
    );
    let message = read_all(&file).unwrap_err().to_string();
    assert_eq!(
        message,
        "test: corrupt capture at byte offset 24: record of 262145 captured bytes exceeds the 262144-byte limit"
    );
}

#[test]
fn largest_record_is_read() {
    let mut frame = vec![0xab; MAX_CAPTURED_LEN as usize];
    frame[..14].copy_from_slice(&ETHERNET_FRAME[..14]);
    let file = pcap(
        ByteOrder::Little,
        PCAP_MAGIC_MICROS,
        LINKTYPE_ETHERNET,
        &[(0, 0, MAX_CAPTURED_LEN, &frame)],
    );
    assert_eq!(read_all(&file).unwrap()[0].data, frame);
}

#[test]
fn corrupt_pcapng_blocks() {
    let order = ByteOrder::Little;
    let head = [section_header(order), interface(order, 1, &[])].concat();
    let at = head.len() as u64;
    let with = |block: &[u8]| [&head[..], block].concat();

    let mut epb = enhanced_packet(order, 0, 0, 18, &ETHERNET_FRAME);
    let last = epb.len() - 4;
    epb[last..].copy_from_slice(&4u32.to_le_bytes());
    assert_eq!(
        corruption(&with(&epb)),
        (
            at,
            Corruption::LengthMismatch {
                leading: 60,
                trailing: 4
            }
        )
    );

    let mut epb = enhanced_packet(order, 0, 0, 18, &ETHERNET_FRAME);
    epb[20..24].copy_from_slice(&100u32.to_le_bytes());
    assert_eq!(
        corruption(&with(&epb)),
        (
            at,
            Corruption::PacketOutsideBlock {
                cap_len: 100,
                block_len: 60
            }
        )
    );

    let epb = enhanced_packet(order, 3, 0, 18, &ETHERNET_FRAME);
    assert_eq!(
        corruption(&with(&epb)),
        (at, Corruption::UnknownInterface { id: 3, declared: 1 })
    );

    let odd = [&6u32.to_le_bytes()[..], &13u32.to_le_bytes()].concat();
    assert_eq!(
        corruption(&with(&odd)),
        (at, Corruption::BadBlockLength { block_type: 6, len: 13 })
    );

    let short = [&6u32.to_le_bytes()[..], &16u32.to_le_bytes(), &[0; 8]].concat();
    assert_eq!(
        corruption(&with(&short)),
        (at, Corruption::BadBlockLength { block_type: 6, len: 16 })
    );

    let huge_skip = [&0x0badu32.to_le_bytes()[..], &0xffff_fff0u32.to_le_bytes()].concat();
    assert_eq!(
        corruption(&with(&huge_skip)),
        (at, Corruption::UnexpectedEnd { what: "a pcapng block" })
    );

    let mut shb = section_header(order);
    shb[8..12].copy_from_slice(b"ABCD");
    assert_eq!(
        corruption(&shb),
        (0, Corruption::BadByteOrderMagic { found: 0x4142_4344 })
    );

    let mut shb = section_header(order);
    shb[12..14].copy_from_slice(&2u16.to_le_bytes());
    assert_eq!(
        corruption(&shb),
        (
            0,
            Corruption::UnsupportedVersion {
                format: "pcapng",
                major: 2,
                minor: 0
            }
        )
    );

    let idb = interface(order, 1, &[option(order, PCAPNG_OPT_IF_TSRESOL, &[9, 9])]);
    assert_eq!(
        corruption(&[section_header(order), idb].concat()),
        (at - 20, Corruption::BadOption { code: 9, len: 2 })
    );

    let idb = interface(order, 1, &[option(order, PCAPNG_OPT_IF_TSRESOL, &[39])]);
    assert_eq!(
        corruption(&[section_header(order), idb].concat()),
        (at - 20, Corruption::BadOption { code: 9, len: 1 })
    );
}

#[test]
fn timestamps_beyond_u64_nanoseconds_are_corrupt() {
    let order = ByteOrder::Little;
    // Whole seconds: 2^64 - 1 of them do not fit in nanoseconds.
    let seconds = interface(order, 1, &[option(order, PCAPNG_OPT_IF_TSRESOL, &[0])]);
    let file = [
        section_header(order),
        seconds,
        enhanced_packet(order, 0, u64::MAX, 18, &ETHERNET_FRAME),
    ]
    .concat();
    assert_eq!(corruption(&file).1, Corruption::TimestampOutOfRange);

    // A negative offset that puts the packet before 1970.
    let before_1970 = (-10i64).to_le_bytes();
    let early = interface(order, 1, &[option(order, PCAPNG_OPT_IF_TSOFFSET, &before_1970)]);
    let file = [
        section_header(order),
        early,
        enhanced_packet(order, 0, 5, 18, &ETHERNET_FRAME),
    ]
    .concat();
    assert_eq!(corruption(&file).1, Corruption::TimestampOutOfRange);
}

#[test]
fn progress_counts_consumed_bytes() {
    let file = pcap(
        ByteOrder::Little,
        PCAP_MAGIC_MICROS,
        LINKTYPE_ETHERNET,
        &[(0, 0, 18, &ETHERNET_FRAME)],
    );
    let mut reader = CaptureReader::from_reader(&file[..], "test").unwrap();
    assert_eq!((reader.bytes_read(), reader.total_bytes()), (24, None));
    reader.next_frame().unwrap();
    assert_eq!(reader.bytes_read(), 24 + 16 + 18);
}

proptest! {
    /// Hostile input: any bytes behind each magic end in frames, an error or the end, never a panic or a hang.
    #[test]
    fn arbitrary_bytes_never_panic(magic in prop::sample::select(vec![
        [0xd4, 0xc3, 0xb2, 0xa1], [0xa1, 0xb2, 0x3c, 0x4d], [0x0a, 0x0d, 0x0d, 0x0a],
    ]), tail in prop::collection::vec(any::<u8>(), 0..512)) {
        let file = [&magic[..], &tail].concat();
        let _ = read_all(&file);
    }

    /// Damaged real structure: a valid pcapng with bytes overwritten is read without panicking.
    #[test]
    fn damaged_pcapng_never_panics(damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8)) {
        let mut file = two_section_pcapng(ByteOrder::Big);
        for (index, byte) in damage {
            let at = index.index(file.len());
            file[at] = byte;
        }
        let _ = read_all(&file);
    }
}
