//! Benchmarks of vmknet. The criterion benches live in `benches/`.
