use std::net::Ipv4Addr;

use super::{LookupError, parse_answer, query};

fn response(id: u16, rcode: u8, answers: &[(u16, &[u8])]) -> Vec<u8> {
    let mut msg = query(id, "serve.demo.svc.clusterset.local");
    msg[2] |= 0x84;
    msg[3] = rcode;
    msg[7] = u8::try_from(answers.len()).unwrap();
    for (rtype, data) in answers {
        msg.extend_from_slice(&[0xc0, 12]);
        msg.extend_from_slice(&rtype.to_be_bytes());
        msg.extend_from_slice(&[0, 1, 0, 0, 0, 5]);
        msg.extend_from_slice(&u16::try_from(data.len()).unwrap().to_be_bytes());
        msg.extend_from_slice(data);
    }
    msg
}

#[test]
fn query_encodes_labels_and_an_a_question() {
    let q = query(0x1234, "a.bc.");
    assert_eq!(
        q,
        [
            0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 1, 0, 1
        ]
    );
}

#[test]
fn parses_the_first_a_record_after_other_records() {
    let msg = response(
        7,
        0,
        &[(5, &[3, b'f', b'o', b'o', 0]), (1, &[10, 43, 0, 9])],
    );
    assert_eq!(parse_answer(7, &msg), Ok(Ipv4Addr::new(10, 43, 0, 9)));
}

#[test]
fn reports_nxdomain_nodata_and_foreign_ids() {
    assert_eq!(
        parse_answer(7, &response(7, 3, &[])),
        Err(LookupError::Rcode(3))
    );
    assert_eq!(
        parse_answer(7, &response(7, 0, &[])),
        Err(LookupError::NoAddress)
    );
    assert_eq!(
        parse_answer(8, &response(7, 0, &[(1, &[1, 2, 3, 4])])),
        Err(LookupError::Malformed)
    );
    assert_eq!(parse_answer(7, &[0, 7, 0x80]), Err(LookupError::Malformed));
}
