//! The CNI configuration of a lab node (pure): flannel's layout, as flannel's `cbr0` network
//! puts pods on the node: the `bridge` plugin on the node's existing `cni0` (its gateway
//! address, the pods' default route through it, hairpin on, no masquerade: the node's flannel
//! MASQUERADE rule does that) with `host-local` addresses from the node's podCIDR. The range is
//! [`crate::layout::KUBELET_POD_HOSTS`], apart from the simulated pods', and host-local keeps its
//! allocations under the lab directory. The network is named after the node's namespace
//! (`cwl-c<i>-n<j>`), so the CNI result cache entries it leaves are the lab's by name.

use std::path::Path;

use serde_json::{Value, json};

use crate::layout::{NodePlan, POD_MTU};

/// The `.conflist` for `node`, with host-local state in `ipam_dir`.
pub fn conflist(node: &NodePlan, ipam_dir: &Path) -> Value {
    let (first, last) = node.kubelet_pod_range();
    json!({
        "cniVersion": "1.0.0",
        "name": node.netns,
        "plugins": [{
            "type": "bridge",
            "bridge": "cni0",
            "isGateway": true,
            "isDefaultGateway": true,
            "ipMasq": false,
            "hairpinMode": true,
            "mtu": POD_MTU,
            "ipam": {
                "type": "host-local",
                "dataDir": ipam_dir.display().to_string(),
                "ranges": [[{
                    "subnet": node.pod_cidr(),
                    "rangeStart": first.to_string(),
                    "rangeEnd": last.to_string(),
                    "gateway": node.gateway.to_string(),
                }]],
            },
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ClusterPlan;

    #[test]
    fn pods_take_the_upper_half_of_the_nodes_pod_cidr() {
        let c1 = ClusterPlan::new(1).unwrap();
        let node = NodePlan::new(&c1, 2).unwrap();
        let conf = conflist(&node, Path::new("/tmp/lab/nodes/c1-n2/cni-ipam"));
        let range = &conf["plugins"][0]["ipam"]["ranges"][0][0];
        assert_eq!(range["subnet"], "10.42.2.0/24");
        assert_eq!(range["rangeStart"], "10.42.2.128");
        assert_eq!(range["rangeEnd"], "10.42.2.254");
        assert_eq!(range["gateway"], "10.42.2.1");
        assert_eq!(conf["plugins"][0]["bridge"], "cni0");
        assert_eq!(conf["name"], "cwl-c1-n2");
    }
}
