//! Fuzzes the request path: raw bytes → hickory's request decoding → the handler's decisions →
//! the pure answer function → encoding, over both UDP and TCP size limits, against an index with
//! a ClusterSetIP and a headless service. The harness and its checks live in
//! `causeway_dns::fuzzing`, which `tests/fuzz_corpus.rs` also replays the corpus through: a reply
//! must decode, be a response with the request id and fit UDP's limit; no reply only for input
//! shorter than a header or that is itself a response.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    causeway_dns::fuzzing::check(data);
});
