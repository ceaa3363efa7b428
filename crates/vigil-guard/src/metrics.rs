//! Prometheus metrics of the decision path.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VerdictLabel {
    pub verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabel {
    pub protocol: &'static str,
}

pub struct Metrics {
    pub sessions_active: Family<ProtocolLabel, Gauge>,
    pub sessions_total: Family<ProtocolLabel, Counter>,
    pub statements: Family<VerdictLabel, Counter>,
    pub auth_failures: Counter,
    /// Time from receiving a statement to its decision being durable.
    pub decision_seconds: Histogram,
    /// Time from forwarding a statement to the target's completion message.
    pub statement_seconds: Histogram,
}

impl Metrics {
    pub fn new() -> Self {
        Self {
            sessions_active: Family::default(),
            sessions_total: Family::default(),
            statements: Family::default(),
            auth_failures: Counter::default(),
            decision_seconds: Histogram::new(exponential_buckets(0.000_01, 2.0, 20)),
            statement_seconds: Histogram::new(exponential_buckets(0.000_05, 2.0, 22)),
        }
    }

    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "vigil_sessions_active",
            "Client sessions open now",
            self.sessions_active.clone(),
        );
        registry.register(
            "vigil_sessions",
            "Client sessions opened",
            self.sessions_total.clone(),
        );
        registry.register(
            "vigil_statements",
            "Statements decided, by verdict",
            self.statements.clone(),
        );
        registry.register(
            "vigil_auth_failures",
            "Refused credentials",
            self.auth_failures.clone(),
        );
        registry.register(
            "vigil_decision_seconds",
            "Analysis, policy and durable ledger write per statement",
            self.decision_seconds.clone(),
        );
        registry.register(
            "vigil_statement_seconds",
            "Target time per forwarded statement",
            self.statement_seconds.clone(),
        );
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
