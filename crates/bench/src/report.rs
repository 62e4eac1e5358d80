//! Result blocks: latency percentiles, the human-readable lines and the one JSON line per run.

use serde_json::{json, Map, Value};

/// Percentiles of a latency sample, milliseconds.
#[derive(Clone, Copy, Debug, Default)]
pub struct Latency {
    pub count: usize,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
}

impl Latency {
    /// Nearest-rank percentiles of microsecond samples.
    pub fn from_micros(mut samples: Vec<u32>) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let rank = |p: f64| -> f64 {
            let n = samples.len();
            // Nearest rank: the smallest value with at least p of the samples at or below it.
            let index = ((p * n as f64).ceil() as usize).clamp(1, n) - 1;
            f64::from(samples[index]) / 1000.0
        };
        Latency {
            count: samples.len(),
            p50: rank(0.50),
            p90: rank(0.90),
            p99: rank(0.99),
            max: rank(1.0),
        }
    }

    pub fn line(&self) -> String {
        format!(
            "p50 {:.2} ms  p90 {:.2} ms  p99 {:.2} ms  max {:.2} ms  (n={})",
            self.p50, self.p90, self.p99, self.max, self.count
        )
    }

    pub fn json(&self) -> Value {
        json!({
            "n": self.count,
            "p50_ms": round(self.p50),
            "p90_ms": round(self.p90),
            "p99_ms": round(self.p99),
            "max_ms": round(self.max),
        })
    }
}

/// Three decimals are plenty for milliseconds, seconds and KiB.
pub fn round(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

/// Collects the lines and fields of one result block, then prints both forms.
pub struct Block {
    title: String,
    lines: Vec<(String, String)>,
    fields: Map<String, Value>,
}

impl Block {
    pub fn new(workload: &str, title: &str) -> Block {
        let mut fields = Map::new();
        fields.insert("workload".into(), json!(workload));
        Block {
            title: title.to_owned(),
            lines: Vec::new(),
            fields,
        }
    }

    /// A human line (label, text) only.
    pub fn line(&mut self, label: &str, text: impl Into<String>) -> &mut Block {
        self.lines.push((label.to_owned(), text.into()));
        self
    }

    /// A JSON field only.
    pub fn field(&mut self, key: &str, value: Value) -> &mut Block {
        self.fields.insert(key.to_owned(), value);
        self
    }

    pub fn print(&self) {
        println!("== {} ==", self.title);
        let width = self.lines.iter().map(|(l, _)| l.len()).max().unwrap_or(0);
        for (label, text) in &self.lines {
            println!("  {label:<width$}  {text}");
        }
        println!("{}", Value::Object(self.fields.clone()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<u32> = (1..=100).map(|ms| ms * 1000).collect();
        let latency = Latency::from_micros(samples);
        assert_eq!(latency.count, 100);
        assert_eq!(latency.p50, 50.0);
        assert_eq!(latency.p90, 90.0);
        assert_eq!(latency.p99, 99.0);
        assert_eq!(latency.max, 100.0);
    }

    #[test]
    fn empty_sample_is_zero() {
        assert_eq!(Latency::from_micros(Vec::new()).count, 0);
    }
}
