//! The apiserver's own count of writes: `apiserver_request_total` for verbs POST, PUT, PATCH,
//! APPLY (server-side apply is reported as its own verb) and DELETE on services, serviceimports
//! and endpointslices (subresources included), read from `/metrics` as the lab admin.
//! Cluster-wide: other clients' writes during a measurement are included.

use std::collections::BTreeMap;

use anyhow::Context;

use crate::prom;

/// Counted verbs.
pub const WRITE_VERBS: &[&str] = &["POST", "PUT", "PATCH", "APPLY", "DELETE"];
/// Counted resources.
pub const RESOURCES: &[&str] = &["services", "serviceimports", "endpointslices"];

/// Write counts keyed by `resource[/subresource] VERB`.
pub type Writes = BTreeMap<String, f64>;

/// Reads the counters now.
pub async fn snapshot(client: &kube::Client) -> anyhow::Result<Writes> {
    let req = http::Request::get("/metrics")
        .body(Vec::new())
        .context("failed to build a /metrics request")?;
    let text = client
        .request_text(req)
        .await
        .context("failed to read the apiserver's /metrics")?;
    Ok(writes(&text))
}

/// The counted writes in a `/metrics` text.
pub fn writes(text: &str) -> Writes {
    let mut out = Writes::new();
    for s in prom::samples(text, "apiserver_request_total") {
        let get = |k: &str| s.labels.get(k).map_or("", String::as_str);
        let (resource, sub, verb) = (get("resource"), get("subresource"), get("verb"));
        if !RESOURCES.contains(&resource) || !WRITE_VERBS.contains(&verb) {
            continue;
        }
        let key = if sub.is_empty() {
            format!("{resource} {verb}")
        } else {
            format!("{resource}/{sub} {verb}")
        };
        *out.entry(key).or_default() += s.value;
    }
    out
}

/// `after - before`, keys with no change dropped.
pub fn delta(before: &Writes, after: &Writes) -> Writes {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .filter(|(_, d)| d.abs() > f64::EPSILON)
        .collect()
}

/// Sum of all counts.
pub fn total(w: &Writes) -> f64 {
    // An empty float sum is -0.0; print it as 0.
    w.values().sum::<f64>() + 0.0
}

#[cfg(test)]
mod tests;
