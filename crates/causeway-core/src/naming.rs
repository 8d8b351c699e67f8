//! Upstream-compatible names (mcs-spec.md §4.1): the derived Service of `<ns>/<name>` is
//! `derived-` + the first 10 characters of the lowercase, unpadded base32hex (RFC 4648 §7)
//! encoding of SHA-256(`<ns>/<name>`).

use sha2::{Digest, Sha256};

const BASE32HEX: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";

/// The derived Service name of ServiceImport `namespace/name`, always 18 characters.
pub fn derived_service_name(namespace: &str, name: &str) -> String {
    let digest = Sha256::digest(format!("{namespace}/{name}").as_bytes());
    let mut out = String::from("derived-");
    out.push_str(&base32hex_prefix(&digest, 10));
    out
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
}
