use super::{Reply, TYPE_A, parse_reply, query};

#[test]
fn builds_a_one_question_query() {
    let q = query(0x1234, "a.b.clusterset.local.", TYPE_A).unwrap();
    assert_eq!(&q[..4], &[0x12, 0x34, 0x01, 0x00]);
    assert_eq!(&q[4..6], &[0, 1]);
    assert_eq!(&q[12..14], &[1, b'a']);
    assert_eq!(&q[q.len() - 5..], &[0, 0, 1, 0, 1]);
    assert!(query(1, "a..b", TYPE_A).is_err());
}

#[test]
fn reads_a_reply_header_and_ignores_queries() {
    let mut bytes = query(7, "a.b", TYPE_A).unwrap();
    assert_eq!(parse_reply(&bytes), None);
    bytes[2] |= 0x80;
    bytes[3] = 0x83; // RA + NXDOMAIN
    bytes[7] = 2;
    assert_eq!(
        parse_reply(&bytes),
        Some(Reply {
            id: 7,
            rcode: 3,
            answers: 2
        })
    );
    assert_eq!(parse_reply(&[0x80; 5]), None);
}
