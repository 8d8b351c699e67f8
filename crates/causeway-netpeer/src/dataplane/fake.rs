//! In-memory [`Dataplane`] for unit tests: a [`NetState`] that `apply` mutates with the same
//! replace/remove semantics as the kernel, plus foreign entries the read must still report, the
//! VXLAN device's settings and per-destination route MTUs.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::Ipv4Addr;

use crate::error::{Error, Result};
use crate::link::{FLANNEL_VXLAN_PORT, PathMtu, VxlanLink};
use crate::plan::{NatChange, Plan};
use crate::state::{NetState, Ownership};

use super::Dataplane;

/// A fake kernel.
#[derive(Clone, Debug)]
pub struct FakeDataplane {
    /// Everything the fake kernel holds. `routes` are the routes with causeway's protocol; other
    /// routes are invisible to netpeer and are not modelled.
    pub state: NetState,
    /// Every plan applied, in order.
    pub applied: Vec<Plan>,
    /// When set, `read` fails as if the VXLAN device were missing.
    pub link_missing: bool,
    /// The VXLAN device's settings (default: VNI 1, port 8472, MTU 1450; any name matches).
    pub link: VxlanLink,
    /// Routes to underlay addresses; absent ones are unreachable.
    pub paths: BTreeMap<Ipv4Addr, PathMtu>,
}

impl Default for FakeDataplane {
    fn default() -> Self {
        Self {
            state: NetState::default(),
            applied: Vec::new(),
            link_missing: false,
            link: VxlanLink {
                name: "flannel.1".to_owned(),
                vni: Some(1),
                port: FLANNEL_VXLAN_PORT,
                mtu: 1450,
            },
            paths: BTreeMap::new(),
        }
    }
}

impl FakeDataplane {
    /// A fake kernel holding `state`.
    pub fn with_state(state: NetState) -> Self {
        Self {
            state,
            ..Self::default()
        }
    }

    fn apply_now(&mut self, plan: &Plan) {
        let s = &mut self.state;
        for n in plan.neighbours.writes() {
            s.neighbours
                .retain(|o| !(o.device == n.device && o.ip == n.ip));
            s.neighbours.insert(n.clone());
        }
        for (old, _) in &plan.fdb.replace {
            s.fdb.remove(old);
        }
        for e in plan.fdb.writes() {
            s.fdb.insert(e.clone());
        }
        for r in plan.routes.writes() {
            s.routes.retain(|o| o.dst != r.dst);
            s.routes.insert(r.clone());
        }
        for (backend, change) in &plan.nat {
            match change {
                NatChange::Apply(rules) if *backend == s.nat_backend => {
                    s.nat = Some(rules.clone());
                }
                NatChange::Delete if *backend == s.nat_backend => s.nat = None,
                NatChange::Delete => s.nat_leftover = false,
                NatChange::Apply(_) => {}
            }
        }
        for r in &plan.routes.remove {
            s.routes.remove(r);
        }
        for e in &plan.fdb.remove {
            s.fdb.remove(e);
        }
        for n in &plan.neighbours.remove {
            s.neighbours.remove(n);
        }
        self.applied.push(plan.clone());
    }
}

impl Dataplane for FakeDataplane {
    fn read(&mut self, scope: &Ownership) -> impl Future<Output = Result<NetState>> + Send {
        let result = if self.link_missing {
            Err(Error::LinkNotFound {
                name: scope.vxlan_device.clone(),
            })
        } else {
            let mut state = self.state.clone();
            state.neighbours.retain(|n| n.device == scope.vxlan_device);
            state.fdb.retain(|e| e.device == scope.vxlan_device);
            Ok(state)
        };
        std::future::ready(result)
    }

    fn apply(&mut self, plan: &Plan) -> impl Future<Output = Result<()>> + Send {
        self.apply_now(plan);
        std::future::ready(Ok(()))
    }

    fn vxlan_link(&mut self, device: &str) -> impl Future<Output = Result<VxlanLink>> + Send {
        let result = if self.link_missing {
            Err(Error::LinkNotFound {
                name: device.to_owned(),
            })
        } else {
            Ok(VxlanLink {
                name: device.to_owned(),
                ..self.link.clone()
            })
        };
        std::future::ready(result)
    }

    fn path_mtu(&mut self, dst: Ipv4Addr) -> impl Future<Output = Result<Option<PathMtu>>> + Send {
        std::future::ready(Ok(self.paths.get(&dst).cloned()))
    }
}
