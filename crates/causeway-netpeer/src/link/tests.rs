use super::*;

fn link(vni: Option<u32>, port: u16, mtu: u32) -> VxlanLink {
    VxlanLink {
        name: "flannel.1".to_owned(),
        vni,
        port,
        mtu,
    }
}

const EXPECT: VxlanExpect = VxlanExpect {
    vni: 1,
    peer_port: FLANNEL_VXLAN_PORT,
};

#[test]
fn table_of_link_checks() {
    let cases: [(&str, VxlanLink, Option<&str>); 5] = [
        ("flannel defaults", link(Some(1), 8472, 1450), None),
        (
            "another MTU is no mismatch",
            link(Some(1), 8472, 8950),
            None,
        ),
        (
            "not a vxlan device",
            link(None, 8472, 1500),
            Some(
                "network device flannel.1 on this node is not a VXLAN device; pass flannel's VXLAN \
                 device with --vxlan-device (flannel.<VNI>, e.g. flannel.1); nothing was changed",
            ),
        ),
        (
            "device VNI differs",
            link(Some(4096), 8472, 1450),
            Some(
                "flannel.1 on this node uses VXLAN VNI 4096 but --vni is 1; both clusters' \
                 flannel must use the same Backend.VNI: set it in net-conf.json and pass it with \
                 --vni; nothing was changed",
            ),
        ),
        (
            "device port differs (IANA port on one side)",
            link(Some(1), 4789, 1450),
            Some(
                "flannel.1 on this node uses VXLAN UDP port 4789 but the peer cluster's flannel \
                 uses port 8472 (--peer-vxlan-port); each side sends to its own port, so VXLAN \
                 packets between the clusters would be dropped. Set the same Backend.Port in \
                 both clusters' flannel net-conf.json (flannel's default is 8472) and pass the \
                 peer's port with --peer-vxlan-port; nothing was changed",
            ),
        ),
    ];
    for (name, link, want) in cases {
        let got = check_link(&link, &EXPECT).err().map(|e| e.to_string());
        assert_eq!(got.as_deref(), want, "{name}");
    }
    let err = check_link(&link(Some(1), 4789, 1450), &EXPECT).unwrap_err();
    assert!(err.is_config());
    assert_eq!(err.metric_label(), "vxlan_port_mismatch");
}

#[test]
fn mtu_warnings_flag_only_routes_too_small_for_the_encapsulated_mtu() {
    let path = |device: &str, mtu: u32| {
        Some(PathMtu {
            device: device.to_owned(),
            mtu,
        })
    };
    let ip = |last: u8| Ipv4Addr::new(203, 0, 113, last);
    let peers = vec![
        ("fits-exactly", ip(1), path("eth0", 1500)),
        ("jumbo", ip(2), path("eth0", 9000)),
        ("tunnel", ip(3), path("wg0", 1420)),
        ("one-short", ip(4), path("eth0", 1499)),
        ("unreachable", ip(5), None),
    ];
    let got = mtu_warnings(&link(Some(1), 8472, 1450), peers);
    let names: Vec<&str> = got.iter().map(|w| w.node.as_str()).collect();
    assert_eq!(names, ["tunnel", "one-short"]);
    assert_eq!(
        got[0].to_string(),
        "node tunnel (203.0.113.3): flannel.1 has MTU 1450, so VXLAN packets to it are 1500 \
         bytes, but the route to 203.0.113.3 via wg0 allows 1420; large packets to its pods will \
         be fragmented or dropped. Lower flannel's MTU on this cluster (flannel derives it from \
         its interface's MTU minus 50; pods inherit it) or raise the MTU on the path to the peer"
    );
}

#[test]
fn link_display_says_what_the_kernel_reported() {
    assert_eq!(
        link(Some(1), 8472, 1450).to_string(),
        "flannel.1: VNI 1, UDP port 8472, MTU 1450"
    );
    assert_eq!(
        link(None, 0, 1500).to_string(),
        "flannel.1: not a VXLAN device, MTU 1500"
    );
}
