use super::parse_hello;

#[test]
fn parses_the_serve_answer() {
    assert_eq!(
        parse_hello("hello from cluster 2 (Node: c2-n1 Pod: serve-c2-1 Address: 10.44.1.2)\n"),
        Some(("2".into(), "serve-c2-1".into()))
    );
    assert_eq!(parse_hello("404 page not found"), None);
}
