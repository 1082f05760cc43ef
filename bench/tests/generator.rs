//! `compare_generators` on this machine (root, xdp-tools, clang-22): one round of 2 s must see both generators
//! deliver frames to the sink, of the same length, 64 bytes without FCS. No timing thresholds: the rates
//! depend on the machine and its load.
//!
//! Without the privileges, xdp-trafficgen or clang-22 the test says why it skips, and passes.

use std::path::PathBuf;

use vmknet_bench::e2e::generator::{FRAME_BYTES, GeneratorError, GeneratorSpec, compare_generators};

#[test]
fn one_round_of_both_generators_like_for_like() {
    let spec = GeneratorSpec {
        pktgen: PathBuf::from(env!("CARGO_BIN_EXE_vmknet-pktgen")),
        cpu: 0,
        rounds: 1,
        seconds: 2,
    };
    let comparison = match compare_generators(&spec) {
        Ok(comparison) => comparison,
        Err(missing @ GeneratorError::Missing { .. }) => {
            println!("skipping one_round_of_both_generators_like_for_like: {missing}");
            return;
        }
        Err(err) => panic!("compare_generators: {err}"),
    };
    println!("{comparison:#?}");
    let [round] = comparison.rounds[..] else {
        panic!("one round expected: {comparison:?}")
    };
    assert!(round.trafficgen_mpps > 0.0, "{comparison:?}");
    assert!(round.pktgen_mpps > 0.0, "{comparison:?}");
    let (trafficgen, pktgen) = comparison.frame_bytes;
    assert_eq!(trafficgen, pktgen, "frame lengths differ: {comparison:?}");
    assert_eq!(pktgen, FRAME_BYTES as u64, "{comparison:?}");
    assert_eq!(comparison.median_round_ratio, round.ratio());
    assert_eq!((comparison.cpu, comparison.seconds), (0, 2));
}
