//! PostgreSQL behind the target seam (`vigil_target::SqlTarget`): one
//! [`PgTarget`] per configured connection holds the upstream login, the
//! catalog and the statement caches, and is shared by the proxy sessions,
//! the MCP tools and the approval previewer.

use crate::backend::{self, UpstreamConfig, explain_json, param_types_of_hint};
use crate::catalog::{CatalogCache, CatalogSource};
use crate::protocol::MessageWriter;
use crate::query::{self, QuerySpec};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use vigil_core::ActionKind;
use vigil_guard::Permit;
use vigil_mask::MaskPolicy;
use vigil_sql::{AnalysisCache, Catalog, LineageCache};
use vigil_target::{
    Analysed, BoxFuture, QueryError, QueryResult, RelationColumn, ResultMask, SqlSession,
    SqlTarget, Statement, TargetError,
};

/// Distinct statement texts whose analysis (and output lineage) is kept,
/// per connection.
const ANALYSIS_CACHE_ENTRIES: usize = 4096;

/// One PostgreSQL connection of the configuration.
pub struct PgTarget {
    pub(crate) upstream: Arc<UpstreamConfig>,
    pub(crate) catalogs: CatalogSource,
    /// Statement analyses, keyed on exact text and the catalog they were
    /// made with.
    pub(crate) analyses: Arc<AnalysisCache>,
    /// Output lineages of statements, for sessions with mask rules.
    pub(crate) lineages: Arc<LineageCache>,
}

impl PgTarget {
    /// The targets of `upstreams`, one per connection name, each with its
    /// own catalog and caches.
    pub fn for_connections(
        upstreams: HashMap<String, UpstreamConfig>,
    ) -> HashMap<String, Arc<PgTarget>> {
        upstreams
            .into_iter()
            .map(|(name, cfg)| {
                let upstream = Arc::new(cfg);
                let target = PgTarget {
                    catalogs: CatalogSource {
                        cache: CatalogCache::default(),
                        connection: name.clone(),
                        upstream: upstream.clone(),
                    },
                    upstream,
                    analyses: Arc::new(AnalysisCache::new(ANALYSIS_CACHE_ENTRIES)),
                    lineages: Arc::new(LineageCache::new(ANALYSIS_CACHE_ENTRIES)),
                };
                (name, Arc::new(target))
            })
            .collect()
    }

    /// The catalog as a fresh login must see it: the cached one while it is
    /// fresh, else loaded now.
    pub(crate) async fn login_catalog(&self) -> Arc<Catalog> {
        self.catalogs.login_catalog().await
    }
}

impl SqlTarget for PgTarget {
    fn analyze<'a>(
        &'a self,
        sql: &'a str,
        policy: &'a Arc<MaskPolicy>,
    ) -> BoxFuture<'a, Result<Analysed, String>> {
        Box::pin(async move {
            let catalog = self.catalogs.current().await;
            let facts = self
                .analyses
                .analyze(sql, &catalog)
                .map_err(|e| e.to_string())?;
            let plan = match policy.is_empty() {
                true => None,
                false => crate::mask::plan_of(policy, &self.lineages.output_lineage(sql, &catalog)),
            };
            let mask = ResultMask {
                plan,
                policy: policy.clone(),
                hide_error_text: query::hides_error_text(policy, &facts),
            };
            Ok(Analysed { facts, mask })
        })
    }

    fn read_actions<'a>(
        &'a self,
        schema: &'a str,
        relation: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ActionKind>, String>> {
        Box::pin(async move {
            let catalog = self.catalogs.current().await;
            let probe = format!("SELECT * FROM {}.{}", quote(schema), quote(relation));
            let facts = self
                .analyses
                .analyze(&probe, &catalog)
                .map_err(|e| e.to_string())?;
            Ok(facts.iter().cloned().map(ActionKind::Sql).collect())
        })
    }

    fn connect<'a>(
        &'a self,
        application: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn SqlSession>, TargetError>> {
        Box::pin(async move {
            let params = [("application_name".to_string(), application.to_string())];
            let upstream = backend::connect(&self.upstream, &params)
                .await
                .map_err(|e| TargetError::Unreachable(e.to_string()))?;
            let session: Box<dyn SqlSession> = Box::new(PgSession {
                upstream,
                config: self.upstream.clone(),
            });
            Ok(session)
        })
    }

    fn explain<'a>(
        &'a self,
        statement: &'a str,
        binding: &'a [u8],
        hint: &'a [u8],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, TargetError>> {
        Box::pin(async move {
            let types = param_types_of_hint(hint);
            explain_json(&self.upstream, statement, binding, &types, timeout)
                .await
                .map_err(|e| TargetError::Failed(e.to_string()))
        })
    }
}

/// A logged-in upstream connection used for whole statements.
struct PgSession {
    upstream: backend::Upstream,
    /// Where cancel requests go.
    config: Arc<UpstreamConfig>,
}

impl SqlSession for PgSession {
    fn run<'a>(
        &'a mut self,
        _permit: &'a Permit,
        statement: &'a Statement<'a>,
        mask: &'a ResultMask,
    ) -> BoxFuture<'a, Result<QueryResult, QueryError>> {
        Box::pin(async move {
            let params = vigil_target::encode_params(statement.params);
            let spec = QuerySpec {
                sql: statement.sql,
                params: &params,
                max_rows: statement.max_rows,
                max_bytes: statement.max_bytes,
            };
            query::run_statement(&mut self.upstream.stream, &spec, mask).await
        })
    }

    fn describe(&mut self, limit: usize) -> BoxFuture<'_, Result<Vec<RelationColumn>, QueryError>> {
        Box::pin(query::describe_relations(&mut self.upstream.stream, limit))
    }

    fn cancel(&self) -> BoxFuture<'_, Result<(), TargetError>> {
        Box::pin(async move {
            backend::send_cancel(&self.config, self.upstream.pid, self.upstream.secret)
                .await
                .map_err(|e| TargetError::Failed(e.to_string()))
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut stream = self.upstream.stream;
            let mut w = MessageWriter::new();
            w.terminate();
            let _ = stream.write_all(&w.take()).await;
            let _ = stream.shutdown().await;
        })
    }
}

/// A quoted identifier.
fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}
