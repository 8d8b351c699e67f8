use std::net::Ipv4Addr;

use super::*;
use crate::mac::MacAddr;
use crate::state::NatExemption;

#[test]
fn empty_plan_says_no_changes() {
    let plan = Plan::default();
    assert!(plan.is_empty());
    assert_eq!(plan.len(), 0);
    assert_eq!(plan.to_string(), "no changes\n");
}

#[test]
fn display_orders_writes_nat_then_removals() {
    let n = |last: u8| Neighbour {
        device: "flannel.1".into(),
        ip: Ipv4Addr::new(10, 44, last, 0),
        mac: MacAddr([2, 0, 0, 0, 0, last]),
    };
    let f = |last: u8| FdbEntry {
        device: "flannel.1".into(),
        mac: MacAddr([2, 0, 0, 0, 0, last]),
        dst: Ipv4Addr::new(203, 0, 113, last),
    };
    let direct = Route {
        dst: "10.44.3.0/24".parse().unwrap(),
        via: Ipv4Addr::new(198, 51, 100, 3),
        device: None,
        onlink: false,
    };
    let plan = Plan {
        neighbours: Changes {
            add: vec![n(1)],
            replace: vec![],
            remove: vec![n(2)],
        },
        fdb: Changes {
            add: vec![],
            replace: vec![(f(4), f(5))],
            remove: vec![f(2)],
        },
        routes: Changes {
            add: vec![direct],
            replace: vec![],
            remove: vec![],
        },
        adopted: vec!["10.44.3.0/24 via 198.51.100.3 dev eth0 proto boot".into()],
        nat: vec![(
            NatBackend::Nftables,
            NatChange::Apply(
                [NatExemption {
                    src: "10.44.0.0/16".parse().unwrap(),
                    dst: "10.42.0.0/16".parse().unwrap(),
                }]
                .into(),
            ),
        )],
    };
    assert_eq!(plan.len(), 6);
    assert_eq!(
        plan.to_string(),
        "neigh add 10.44.1.0 lladdr 02:00:00:00:00:01 dev flannel.1 nud permanent\n\
         fdb replace 02:00:00:00:00:05 dst 203.0.113.5 dev flannel.1 self permanent (was 02:00:00:00:00:04 dst 203.0.113.4 dev flannel.1 self permanent)\n\
         route adopt 10.44.3.0/24 via 198.51.100.3 dev eth0 proto boot (not causeway's; replaced by its route below)\n\
         route add 10.44.3.0/24 via 198.51.100.3 proto 156\n\
         nft apply table ip causeway-netpeer (1 exemptions)\n\
         \x20 no masquerade 10.44.0.0/16 -> 10.42.0.0/16\n\
         fdb del 02:00:00:00:00:02 dst 203.0.113.2 dev flannel.1 self permanent\n\
         neigh del 10.44.2.0 lladdr 02:00:00:00:00:02 dev flannel.1 nud permanent\n"
    );
    let delete = Plan {
        nat: vec![
            (
                NatBackend::IptablesLegacy,
                NatChange::Apply(NatRules::new()),
            ),
            (NatBackend::Nftables, NatChange::Delete),
        ],
        ..Plan::default()
    };
    assert_eq!(
        delete.to_string(),
        "iptables-legacy apply chain CAUSEWAY-NETPEER in table nat (jumped to first from POSTROUTING) (0 exemptions)\n\
         nft delete table ip causeway-netpeer\n"
    );
    assert_eq!(delete.len(), 2);
}
