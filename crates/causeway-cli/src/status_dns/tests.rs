use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};

use super::*;

fn addr() -> SocketAddr {
    "10.43.0.10:53".parse().unwrap()
}

#[test]
fn outcomes_are_classified_as_a_user_reads_them() {
    let resolves = Asked::Answered {
        rcode: ResponseCode::NoError,
        txt: vec!["1.0.0".to_owned()],
    };
    assert_eq!(
        classify(&resolves, addr()),
        (RESOLVES, "schema version 1.0.0".to_owned())
    );
    let nxdomain = Asked::Answered {
        rcode: ResponseCode::NXDomain,
        txt: Vec::new(),
    };
    let (result, detail) = classify(&nxdomain, addr());
    assert_eq!(result, DOES_NOT_RESOLVE);
    assert!(detail.contains("coredns.md"), "{detail}");
    let nodata = Asked::Answered {
        rcode: ResponseCode::NoError,
        txt: Vec::new(),
    };
    assert_eq!(classify(&nodata, addr()).0, DOES_NOT_RESOLVE);
    let servfail = Asked::Answered {
        rcode: ResponseCode::ServFail,
        txt: Vec::new(),
    };
    let (result, detail) = classify(&servfail, addr());
    assert_eq!(result, DOES_NOT_RESOLVE);
    assert!(detail.contains("first sync"), "{detail}");
    let (result, detail) = classify(&Asked::NoAnswer("no answer within 1500 ms".into()), addr());
    assert_eq!(result, CANNOT_REACH);
    assert!(
        detail.starts_with("cannot reach 10.43.0.10 from here")
            && detail.ends_with("run status on a node or in a pod"),
        "{detail}"
    );
}

#[test]
fn the_query_is_a_recursive_txt_question() {
    let bytes = query(7, "dns-version.clusterset.local.").unwrap();
    let msg = Message::from_vec(&bytes).unwrap();
    assert_eq!(msg.metadata.id, 7);
    assert!(msg.metadata.recursion_desired);
    assert_eq!(msg.queries.len(), 1);
    assert_eq!(msg.queries[0].query_type(), RecordType::TXT);
    assert_eq!(
        msg.queries[0].name().to_ascii(),
        "dns-version.clusterset.local."
    );
    assert!(query(1, "a..b").is_err());
}

#[test]
fn the_service_address_is_the_cluster_ip_and_udp_port() {
    let svc = |ip: Option<&str>, ports: Vec<(i32, &str)>| Service {
        spec: Some(ServiceSpec {
            cluster_ip: ip.map(str::to_owned),
            ports: Some(
                ports
                    .into_iter()
                    .map(|(port, protocol)| ServicePort {
                        port,
                        protocol: Some(protocol.to_owned()),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    };
    assert_eq!(
        service_address(&svc(Some("10.43.0.10"), vec![(9153, "TCP"), (53, "UDP")])),
        Some("10.43.0.10:53".parse().unwrap())
    );
    assert_eq!(
        service_address(&svc(Some("fd00::a"), vec![(5353, "UDP")])),
        Some("[fd00::a]:5353".parse().unwrap())
    );
    assert_eq!(
        service_address(&svc(Some("10.43.0.10"), vec![])),
        Some("10.43.0.10:53".parse().unwrap())
    );
    assert_eq!(service_address(&svc(Some("None"), vec![(53, "UDP")])), None);
    assert_eq!(service_address(&svc(None, vec![(53, "UDP")])), None);
}
