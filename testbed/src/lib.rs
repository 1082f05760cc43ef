//! Traffic models and test topologies for vmknet.
