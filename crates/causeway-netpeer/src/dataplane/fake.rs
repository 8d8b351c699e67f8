//! In-memory [`Dataplane`] for unit tests: a [`NetState`] that `apply` mutates with the same
//! replace/remove semantics as the kernel, plus foreign entries the read must still report.

use std::future::Future;

use crate::error::{Error, Result};
use crate::plan::{NatChange, Plan};
use crate::state::{NetState, Ownership};

use super::Dataplane;

/// A fake kernel.
#[derive(Clone, Debug, Default)]
pub struct FakeDataplane {
    /// Everything the fake kernel holds. `routes` are the routes with causeway's protocol; other
    /// routes are invisible to netpeer and are not modelled.
    pub state: NetState,
    /// Every plan applied, in order.
    pub applied: Vec<Plan>,
    /// When set, `read` fails as if the VXLAN device were missing.
    pub link_missing: bool,
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
        match &plan.nat {
            Some(NatChange::Apply(rules)) => s.nat = Some(rules.clone()),
            Some(NatChange::Delete) => s.nat = None,
            None => {}
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
}
