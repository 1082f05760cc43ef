//! Every third-party capture in `shared/captures/` reads completely, with the frame count and largest frame
//! its README lists.
//!
//! The README table is the single source of the expected numbers, so a capture added there is checked here
//! without a code change. The folder must exist (CI has it beside the clone): a missing folder fails the test
//! rather than skipping it, since a skip would hide a broken setup.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use vmknet::io::{CaptureArena, CaptureReader};

const CAPTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/captures");

/// What the README says of a capture.
#[derive(Debug, PartialEq, Eq)]
struct Expected {
    frames: usize,
    max_frame: usize,
}

/// What reading a capture gives.
#[derive(Debug, PartialEq, Eq)]
struct Found {
    frames: usize,
    max_frame: usize,
    truncated: usize,
    bytes_read: u64,
}

fn captures_dir() -> PathBuf {
    let dir = Path::new(CAPTURES);
    assert!(
        dir.is_dir(),
        "the third-party captures are missing: expected the folder {} (shared/ beside the repository clone)",
        dir.display()
    );
    dir.to_owned()
}

/// The `| file | origin | frames | max frame | contents |` rows of the README, by file name.
fn readme_table(dir: &Path) -> BTreeMap<String, Expected> {
    let readme_path = dir.join("README.md");
    let readme = fs::read_to_string(&readme_path).unwrap_or_else(|e| panic!("{}: {e}", readme_path.display()));
    let number = |cell: &str, line: &str| -> usize {
        cell.trim()
            .trim_matches('*')
            .parse()
            .unwrap_or_else(|e| panic!("README row `{line}`: `{cell}`: {e}"))
    };
    readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            // ["", file, origin, frames, max frame, contents, ""] for a table row.
            let file = *cells.get(1)?;
            (file.ends_with(".pcap") || file.ends_with(".pcapng")).then(|| {
                assert!(cells.len() >= 6, "README row `{line}` has too few cells");
                (
                    file.to_owned(),
                    Expected {
                        frames: number(cells[3], line),
                        max_frame: number(cells[4], line),
                    },
                )
            })
        })
        .collect()
}

fn read(path: &Path) -> Found {
    let mut reader = CaptureReader::open(path).unwrap_or_else(|e| panic!("{e}"));
    let mut found = Found {
        frames: 0,
        max_frame: 0,
        truncated: 0,
        bytes_read: 0,
    };
    while let Some(frame) = reader.next_frame().unwrap_or_else(|e| panic!("{e}")) {
        found.frames += 1;
        found.max_frame = found.max_frame.max(frame.cap_len());
        found.truncated += usize::from(frame.is_truncated());
    }
    found.bytes_read = reader.bytes_read();
    assert_eq!(
        Some(found.bytes_read),
        reader.total_bytes(),
        "{}: not read to the end",
        path.display()
    );
    found
}

#[test]
fn every_capture_matches_the_readme() {
    let dir = captures_dir();
    let table = readme_table(&dir);
    assert!(
        !table.is_empty(),
        "no capture rows found in {}/README.md",
        dir.display()
    );

    let mut on_disk: Vec<String> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap_or_else(|e| panic!("{}: {e}", dir.display())).file_name())
        .filter_map(|name| name.into_string().ok())
        .filter(|name| name != "README.md")
        .collect();
    on_disk.sort();
    assert_eq!(
        on_disk,
        table.keys().cloned().collect::<Vec<_>>(),
        "files in {} vs rows of its README",
        dir.display()
    );

    for (file, expected) in &table {
        let path = dir.join(file);
        let found = read(&path);
        assert_eq!(
            Expected {
                frames: found.frames,
                max_frame: found.max_frame
            },
            *expected,
            "{file}: frames and largest frame read vs the README"
        );
        assert_eq!(found.truncated, 0, "{file}: every frame in these captures is complete");

        let arena = CaptureArena::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(arena.len(), expected.frames, "{file}: arena");
        assert_eq!(
            arena.iter().map(<[u8]>::len).max().unwrap_or(0),
            expected.max_frame,
            "{file}: arena"
        );
    }
}

/// pcap-file reads classic pcap independently; every frame and timestamp must agree with ours.
#[test]
fn classic_captures_agree_with_pcap_file_crate() {
    let dir = captures_dir();
    for file in readme_table(&dir).keys().filter(|file| file.ends_with(".pcap")) {
        let path = dir.join(file);
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut oracle = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap_or_else(|e| panic!("{file}: {e}"));
        let unit = match oracle.header().ts_resolution {
            pcap_file::TsResolution::MicroSecond => 1_000,
            pcap_file::TsResolution::NanoSecond => 1,
        };
        let mut reader = CaptureReader::open(&path).unwrap_or_else(|e| panic!("{e}"));
        let mut index = 0;
        while let Some(packet) = oracle.next_raw_packet() {
            let packet = packet.unwrap_or_else(|e| panic!("{file}: pcap-file: {e}"));
            let frame = reader
                .next_frame()
                .unwrap_or_else(|e| panic!("{e}"))
                .unwrap_or_else(|| panic!("{file}: frame {index} read by pcap-file but not by vmknet"));
            let timestamp_ns = u64::from(packet.ts_sec) * 1_000_000_000 + u64::from(packet.ts_frac) * unit;
            assert_eq!(frame.data, &packet.data[..], "{file}: frame {index}");
            assert_eq!(
                (frame.timestamp_ns, frame.orig_len),
                (timestamp_ns, packet.orig_len),
                "{file}: frame {index}"
            );
            index += 1;
        }
        assert!(
            reader.next_frame().unwrap_or_else(|e| panic!("{e}")).is_none(),
            "{file}: extra frames"
        );
    }
}
