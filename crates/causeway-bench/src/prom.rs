//! Just enough of the Prometheus/OpenMetrics text format to sum counters by label.

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
