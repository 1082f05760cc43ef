//! The frames a replay plays: every record of a pcap/pcapng capture, or the testbed's vSphere mix for the
//! embedded default host, each frame its own template, played in order (each sending thread plays the whole
//! sequence from its start, so several threads interleave their sequences).
//!
//! The live-frame method keeps a frame in one page, so it cannot play frames longer than the kernel's limit
//! ([`live_frame_limit`](super::live_frame_limit), 3408 bytes on Linux 6.18 x86_64): [`Templates::fit`] sets those aside, and
//! the caller refuses them or, when told to, plays the rest and says how many were left out. The AF_PACKET
//! method plays frames of any length the device's MTU allows.

use std::path::Path;

use vmknet::io::CaptureReader;
use vmknet::model::HostModel;

use super::PktgenError;

/// Frames to replay, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Templates {
    /// The frames, from their Ethernet header, without FCS.
    pub frames: Vec<Vec<u8>>,
}

impl Templates {
    /// Every record of the capture at `path`, as captured (a record the capture truncated is played as
    /// truncated: the capture holds no more).
    ///
    /// # Errors
    /// [`PktgenError::Capture`] when the file cannot be read; [`PktgenError::Invalid`] when it holds no frame.
    pub fn from_capture(path: &Path) -> Result<Self, PktgenError> {
        let mut reader = CaptureReader::open(path)?;
        let mut frames = Vec::new();
        while let Some(frame) = reader.next_frame()? {
            frames.push(frame.data.to_vec());
        }
        if frames.is_empty() {
            return Err(PktgenError::Invalid(format!("{} holds no frame", path.display())));
        }
        Ok(Self { frames })
    }

    /// The testbed's vSphere mix for the embedded default host, generated from `seed`.
    pub fn vsphere_mix(seed: u64) -> Self {
        let frames = vmknet_testbed::vsphere_mix(&HostModel::embedded_default(), seed)
            .into_iter()
            .map(|frame| frame.bytes)
            .collect();
        Self { frames }
    }

    /// Keeps the frames of `min_len` to `max_len` bytes, in order; returns how many it removed.
    pub fn fit(&mut self, min_len: usize, max_len: usize) -> usize {
        let before = self.frames.len();
        self.frames.retain(|frame| (min_len..=max_len).contains(&frame.len()));
        before - self.frames.len()
    }

    /// How many frames are longer than `max_len` or shorter than `min_len`.
    pub fn count_outside(&self, min_len: usize, max_len: usize) -> usize {
        self.frames
            .iter()
            .filter(|frame| !(min_len..=max_len).contains(&frame.len()))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use vmknet::io::PcapWriter;

    use super::*;

    #[test]
    fn a_capture_plays_back_every_frame_in_order() {
        let mix = Templates::vsphere_mix(1);
        let dir = std::env::temp_dir().join(format!("vmknet-pktgen-templates-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("mix.pcap");
        let mut writer = PcapWriter::create(&path).unwrap();
        for (i, frame) in mix.frames.iter().enumerate() {
            writer.write_frame(i as u64 * 1000, frame).unwrap();
        }
        writer.finish().unwrap();
        let replayed = Templates::from_capture(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(replayed, mix);
    }

    #[test]
    fn fit_keeps_the_order_and_counts_what_it_removed() {
        let mut templates = Templates {
            frames: vec![vec![0; 60], vec![0; 9000], vec![0; 10], vec![0; 1514]],
        };
        assert_eq!(templates.count_outside(14, 3000), 2);
        assert_eq!(templates.fit(14, 3000), 2);
        assert_eq!(templates.frames, vec![vec![0; 60], vec![0; 1514]]);
    }
}
