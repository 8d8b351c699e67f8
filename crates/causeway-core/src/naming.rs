//! Names causeway gives the objects it writes, computed from the names of the objects they come
//! from (callers pass names in, get a name out; nothing is looked up).
//!
//! - Derived Services, upstream-compatible (mcs-spec.md §4.1): the derived Service of
//!   `<ns>/<name>` is `derived-` + the first 10 characters of the lowercase, unpadded base32hex
//!   (RFC 4648 §7) encoding of SHA-256(`<ns>/<name>`).
//! - MCS EndpointSlices ([`mcs_slice_name`]): a readable prefix from the service and the whole
//!   source slice name, then `-` and 10 base32hex characters of a hash of (service, source
//!   cluster, whole source slice name, chunk), at most 63 characters. Names joined from parts
//!   with `-` alone collide (`twins-a-1` and `twins-b-1` share their last segment; service `a`
//!   from cluster `b-c` and service `a-b` from cluster `c` join to the same text), so the hash,
//!   not the prefix, is what keeps them apart.

use sha2::{Digest, Sha256};

const BASE32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// The derived Service name of ServiceImport `namespace/name`, always 18 characters.
pub fn derived_service_name(namespace: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{namespace}/{name}").as_bytes());
    let mut out = String::from("derived-");
    out.push_str(&base32hex_prefix(&digest, 10));
    out
}

/// Longest MCS EndpointSlice name (a DNS label's length, although slice names may be longer).
pub const MAX_MCS_SLICE_NAME: usize = 63;

/// Characters of the hash at the end of an MCS EndpointSlice name.
const MCS_SLICE_HASH: usize = 10;

/// Name of the MCS EndpointSlice holding chunk `chunk` (0 for the first 100 endpoints, then 1,
/// 2, …) of source slice `source_slice` of `service` from cluster `source_cluster`.
///
/// `<prefix>-<hash>`: the prefix is the source slice name, led by `<service>-` unless it already
/// starts with it (the controller-manager names slices `<service>-<random>`), cut to fit 63
/// characters; the hash covers all four inputs, so two different sources (or chunks) never
/// share a name short of a 50-bit hash collision. Deterministic, so every replica and every
/// pass computes the same name. The result is a valid DNS-1123 subdomain whenever the source
/// slice name is (the API only stores such names).
pub fn mcs_slice_name(
    service: &str,
    source_cluster: &str,
    source_slice: &str,
    chunk: usize,
) -> String {
    // NUL never appears in a Kubernetes name, so this encoding of the four parts is unambiguous.
    let digest =
        Sha256::digest(format!("{service}\0{source_cluster}\0{source_slice}\0{chunk}").as_bytes());
    let lead = format!("{service}-");
    let mut prefix = match source_slice {
        "" => service.to_owned(),
        s if s.starts_with(&lead) => s.to_owned(),
        s => lead + s,
    };
    // ASCII only (names are validated by the API), so a byte index is a character index.
    prefix.truncate(MAX_MCS_SLICE_NAME - MCS_SLICE_HASH - 1);
    let mut name = prefix.trim_end_matches(['-', '.']).to_owned();
    if !name.is_empty() {
        name.push('-');
    }
    name.push_str(&base32hex_prefix(&digest, MCS_SLICE_HASH));
    name
}

/// The first `chars` characters of the base32hex encoding of `bytes` (lowercase, no padding).
fn base32hex_prefix(bytes: &[u8], chars: usize) -> String {
    let mut out = String::with_capacity(chars);
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32HEX[((buffer >> bits) & 0x1f) as usize]));
            if out.len() == chars {
                return out;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names_match_the_upstream_vectors() {
        for (ns, name, want) in [
            ("demo", "serve", "derived-ovtkn0laet"),
            ("default", "hello", "derived-k5cuvo1ge4"),
            ("my-ns", "my-svc", "derived-a2v4k9sqn6"),
        ] {
            assert_eq!(derived_service_name(ns, name), want, "{ns}/{name}");
        }
    }

    #[test]
    fn derived_names_are_short_even_for_63_character_imports() {
        let long = "a".repeat(63);
        let name = derived_service_name(&long, &long);
        assert_eq!(name.len(), 18);
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        );
    }

    fn is_dns_subdomain(name: &str) -> bool {
        name.len() <= 253
            && name.split('.').all(|label| {
                !label.is_empty()
                    && label
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !label.starts_with('-')
                    && !label.ends_with('-')
            })
    }

    #[test]
    fn mcs_slice_names_keep_the_whole_source_name_readable() {
        let name = |svc, cluster, source, chunk| mcs_slice_name(svc, cluster, source, chunk);
        // (service, cluster, source slice, chunk) -> prefix before the hash
        for (svc, cluster, source, chunk, prefix) in [
            ("serve", "c2", "serve-x7k2p", 0, "serve-x7k2p-"),
            ("serve", "c2", "serve-x7k2p", 1, "serve-x7k2p-"),
            ("twins", "c1", "twins-a-1", 0, "twins-a-1-"),
            (
                "twins",
                "c1",
                "imported-by-hand",
                0,
                "twins-imported-by-hand-",
            ),
            ("db", "c1", "db.v4", 0, "db-db.v4-"),
            ("db", "c1", "", 0, "db-"),
        ] {
            let got = name(svc, cluster, source, chunk);
            assert!(got.starts_with(prefix), "{got} for {source}");
            assert_eq!(got.len(), prefix.len() + MCS_SLICE_HASH, "{got}");
            assert!(is_dns_subdomain(&got), "{got}");
            assert_eq!(got, name(svc, cluster, source, chunk), "deterministic");
        }
        // A fixed vector (computed with Python's hashlib and base64.b32hexencode), so a change of
        // the scheme, which renames every MCS slice on upgrade, shows.
        assert_eq!(name("twins", "c1", "twins-a-1", 0), "twins-a-1-gjqag5ai7t");
    }

    #[test]
    fn mcs_slice_names_never_collide() {
        let long = |c: char| format!("svc-{}", c.to_string().repeat(249));
        let (long_a, long_b) = (long('a'), long('b'));
        let cases: &[(&str, &str, &str, usize)] = &[
            // The reported collision: the same last segment.
            ("twins", "c1", "twins-a-1", 0),
            ("twins", "c1", "twins-b-1", 0),
            // The same source slice name in two clusters.
            ("twins", "c2", "twins-a-1", 0),
            // A chunk of one source and a source whose name ends like that chunk.
            ("twins", "c1", "twins-a", 1),
            ("twins", "c1", "twins-a-1", 1),
            // Parts that join to the same text with `-`.
            ("a", "b-c", "x", 0),
            ("a-b", "c", "x", 0),
            // Names that agree in their first 63 (and 252) characters.
            ("svc", "c1", &long_a, 0),
            ("svc", "c1", &long_b, 0),
            ("svc", "c1", &long_a[..63], 0),
            ("svc", "c1", &long_a[..62], 0),
        ];
        let mut seen = std::collections::BTreeMap::new();
        for &(svc, cluster, source, chunk) in cases {
            let got = mcs_slice_name(svc, cluster, source, chunk);
            assert!(
                got.len() <= MAX_MCS_SLICE_NAME,
                "{got} is {} long",
                got.len()
            );
            assert!(is_dns_subdomain(&got), "{got}");
            if let Some(other) = seen.insert(got.clone(), (svc, cluster, source, chunk)) {
                panic!(
                    "{got} for both {other:?} and {:?}",
                    (svc, cluster, source, chunk)
                );
            }
        }
    }

    #[test]
    fn long_source_names_are_cut_where_the_result_stays_valid() {
        // Cutting at 52 characters would leave a trailing `-` or `.`; it is dropped.
        for cut_before in ['-', '.'] {
            let source = format!("svc-{}{cut_before}tail", "x".repeat(47));
            assert_eq!(source.as_bytes()[51] as char, cut_before);
            let got = mcs_slice_name("svc", "c1", &source, 0);
            assert!(is_dns_subdomain(&got), "{got}");
            assert_eq!(got.len(), 51 + 1 + MCS_SLICE_HASH, "{got}");
        }
        // A 63-character service with a 253-character source slice.
        let svc = "s".repeat(63);
        let source = format!("{svc}-{}", "y".repeat(189));
        let got = mcs_slice_name(&svc, "2f1c6a4e-5a8b-4c8e-9d55-0b8f5e0d2a11", &source, 3);
        assert_eq!(got.len(), MAX_MCS_SLICE_NAME);
        assert!(is_dns_subdomain(&got), "{got}");
    }
}
