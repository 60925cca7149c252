//! Test support shared by integration tests that need a cluster.
pub mod apiserver;
pub mod cluster;
pub mod http;
pub mod release;
