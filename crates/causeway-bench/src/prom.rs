//! Just enough of the Prometheus/OpenMetrics text format to sum counters by label and read
//! histogram buckets.

use std::collections::BTreeMap;

/// One sample: its labels and value.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Label name → value.
    pub labels: BTreeMap<String, String>,
    /// The sample's value.
    pub value: f64,
}

/// Every sample of metric `name` (exact name, e.g. `apiserver_request_total`) in `text`.
pub fn samples(text: &str, name: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = if let Some(inner) = rest.strip_prefix('{') {
                let (labels, after) = inner.rsplit_once('}')?;
                (parse_labels(labels)?, after)
            } else if rest.starts_with(' ') {
                (BTreeMap::new(), rest)
            } else {
                return None; // another metric sharing the prefix
            };
            let value = value.split_whitespace().next()?.parse().ok()?;
            Some(Sample { labels, value })
        })
        .collect()
}

/// `a="x",b="y"` → map; handles `\"`, `\\` and `\n` escapes.
fn parse_labels(text: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if chars.next()? != '"' {
            return None;
        }
        let mut value = String::new();
        loop {
            match chars.next()? {
                '"' => break,
                '\\' => match chars.next()? {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                c => value.push(c),
            }
        }
        out.insert(name.trim().to_owned(), value);
    }
}

/// Sum of the values of `samples` whose labels satisfy `keep`.
pub fn sum_where(samples: &[Sample], keep: impl Fn(&BTreeMap<String, String>) -> bool) -> f64 {
    samples
        .iter()
        .filter(|s| keep(&s.labels))
        .map(|s| s.value)
        .sum::<f64>()
        + 0.0 // an empty float sum is -0.0
}

#[cfg(test)]
mod tests;

/// The cumulative buckets of histogram `name` as `(upper bound, count)`, by bound (`+Inf` last).
pub fn buckets(text: &str, name: &str) -> Vec<(f64, f64)> {
    let mut out: Vec<(f64, f64)> = samples(text, &format!("{name}_bucket"))
        .into_iter()
        .filter_map(|s| {
            let le = s.labels.get("le")?;
            let bound = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((bound, s.value))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// The upper bucket bound under which fraction `q` of the observations made between two
/// readings of [`buckets`] fell; `None` without observations.
pub fn quantile_bound(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
    let count = |bs: &[(f64, f64)], bound: f64| {
        bs.iter()
            .find(|(b, _)| b.total_cmp(&bound).is_eq())
            .map_or(0.0, |(_, c)| *c)
    };
    let deltas: Vec<(f64, f64)> = after
        .iter()
        .map(|(bound, c)| (*bound, c - count(before, *bound)))
        .collect();
    let total = deltas.last()?.1;
    if total <= 0.0 {
        return None;
    }
    deltas
        .iter()
        .find(|(_, c)| *c >= q * total)
        .map(|(bound, _)| *bound)
}

#[cfg(test)]
mod histogram_tests {
    use super::*;

    const BEFORE: &str =
        "h_bucket{le=\"0.01\"} 1\nh_bucket{le=\"0.1\"} 1\nh_bucket{le=\"+Inf\"} 1\n";
    const AFTER: &str =
        "h_bucket{le=\"0.01\"} 50\nh_bucket{le=\"0.1\"} 100\nh_bucket{le=\"+Inf\"} 101\n";

    #[test]
    fn quantiles_come_from_the_observations_between_two_readings() {
        let (b, a) = (buckets(BEFORE, "h"), buckets(AFTER, "h"));
        assert_eq!(a.len(), 3);
        assert_eq!(quantile_bound(&b, &a, 0.49), Some(0.01));
        assert_eq!(quantile_bound(&b, &a, 0.9), Some(0.1));
        assert_eq!(quantile_bound(&b, &a, 1.0), Some(f64::INFINITY));
        assert_eq!(quantile_bound(&a, &a, 0.5), None, "no observations");
    }
}
