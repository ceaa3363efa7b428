//! Counts of what was masked in one statement's results, for the ledger.

use vigil_core::MaskingSummary;
use vigil_mask::Hits;

#[derive(Default)]
pub struct Tally {
    pub column_values: u64,
    pub detector_hits: std::collections::BTreeMap<&'static str, u64>,
}

impl Tally {
    pub fn add_hits(&mut self, hits: &Hits) {
        for (detector, n) in hits.iter() {
            *self.detector_hits.entry(detector.as_str()).or_default() += u64::from(n);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.column_values == 0 && self.detector_hits.is_empty()
    }

    pub fn summary(&self, columns: &[String]) -> Option<MaskingSummary> {
        if self.is_empty() && columns.is_empty() {
            return None;
        }
        Some(MaskingSummary {
            columns: columns.to_vec(),
            column_values: self.column_values,
            detector_hits: self
                .detector_hits
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect(),
        })
    }
}
