//! causeway's pure core: deterministic functions over plain data, no I/O.
//!
//! Controllers read objects from their caches, call into this crate to compute the desired state
//! (derived Service, labels to add or remove on an EndpointSlice, the next condition list) and
//! compare it with what exists; only the difference is written. Everything here is unit-tested
//! table by table.

pub mod clusterset;
pub mod conditions;
pub mod derived;
pub mod mcs_slice;
pub mod naming;
pub mod slices;
