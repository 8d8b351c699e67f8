use base64::Engine as _;

use super::{binding_name, expiry, keep_token, kubeconfig_token, legacy_binding_name};

fn jwt(claims: &serde_json::Value) -> String {
    let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
    format!(
        "{}.{}.{}",
        b64(br#"{"alg":"RS256"}"#),
        b64(claims.to_string().as_bytes()),
        b64(b"signature")
    )
}

#[test]
fn every_members_namespace_gets_its_own_binding() {
    let names = [
        binding_name("c1", "causeway-system"),
        binding_name("c1", "team-a"),
        binding_name("c2", "team-a"),
        // Parts that would join to one text with `-`.
        binding_name("a-b", "c"),
        binding_name("a", "b-c"),
        legacy_binding_name("c1"),
    ];
    let unique: std::collections::BTreeSet<_> = names.iter().collect();
    assert_eq!(unique.len(), names.len(), "{names:?}");
    assert_eq!(names[1], "causeway-reader-c1.team-a");
}

#[test]
fn a_token_is_kept_while_half_its_requested_life_is_left() {
    let day = 86_400;
    for (exp, now, seconds, keep) in [
        (Some(1000 + 365 * day), 1000, 365 * day, true),
        (Some(1000 + 183 * day), 1000, 365 * day, true),
        (Some(1000 + 182 * day), 1000, 365 * day, false),
        (Some(999), 1000, 3600, false),
        (None, 1000, 3600, false),
    ] {
        assert_eq!(keep_token(exp, now, seconds), keep, "{exp:?} at {now}");
    }
}

#[test]
fn the_expiry_is_read_from_the_token() {
    assert_eq!(
        expiry(&jwt(&serde_json::json!({"exp": 1_900_000_000, "sub": "x"}))),
        Some(1_900_000_000)
    );
    assert_eq!(expiry(&jwt(&serde_json::json!({"sub": "x"}))), None);
    assert_eq!(expiry("not-a-jwt"), None);
}

#[test]
fn the_token_is_read_from_a_written_kubeconfig() {
    let text = "apiVersion: v1\nkind: Config\nusers:\n- name: r\n  user:\n    token: abc.def.ghi\n";
    assert_eq!(
        kubeconfig_token(text.as_bytes()).as_deref(),
        Some("abc.def.ghi")
    );
    assert_eq!(kubeconfig_token(b"users: []\n"), None);
}
