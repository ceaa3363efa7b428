//! MySQL and MariaDB behind the target seam (`vigil_target::SqlTarget`): one
//! [`MysqlTarget`] per configured connection, used by the MCP tools and the
//! approval previewer.
//!
//! A statement is analysed exactly as the proxy session analyses a
//! COM_QUERY text (`crate::analysis`), under the state a fresh login of the
//! connection has (its database, `sql_mode` and character set, read from the
//! target, never assumed). Each [`MysqlSession`] reads that state again on
//! its own login and analyses the statement once more before running it,
//! so the rows are masked by the lineage of the login that produced them.
//!
//! Parameters are bound with the binary protocol (COM_STMT_PREPARE,
//! COM_STMT_EXECUTE with every value sent as a string, COM_STMT_CLOSE), so
//! the placeholder is MySQL's own `?`, never PostgreSQL's `$1`.

use crate::analysis;
use crate::backend::{self, BaseTables, SessionState, Upstream, UpstreamConfig};
use crate::error::MysqlError;
use crate::packet::frame;
use crate::target_query::{self, Run};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::Mutex;
use vigil_core::ActionKind;
use vigil_guard::Permit;
use vigil_mask::MaskPolicy;
use vigil_mysql_sql::Target;
use vigil_target::{
    Analysed, BoxFuture, QueryError, QueryResult, RelationColumn, ResultMask, SqlSession,
    SqlTarget, Statement, TargetError,
};

/// The character set of Vigil's own logins (utf8mb4_general_ci): statements
/// are UTF-8, as the analysis reads them.
const CHARSET: u8 = 45;
/// A login (connect, handshake, state) must finish within this time.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(10);
/// Vigil's own statements on a login (state, catalog, KILL) are bounded too.
const OWN_QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the login state read for `analyze` is trusted.
const STATE_TTL: Duration = Duration::from_secs(30);

/// One MySQL connection of the configuration.
pub struct MysqlTarget {
    upstream: UpstreamConfig,
    /// The state a fresh login has, with when it was read.
    state: Mutex<Option<(Instant, LoginState)>>,
}

/// What a statement is analysed under.
#[derive(Clone, Debug, PartialEq, Eq)]
struct LoginState {
    state: SessionState,
    target: Target,
}

impl MysqlTarget {
    /// The targets of `upstreams`, one per connection name.
    pub fn for_connections(
        upstreams: HashMap<String, UpstreamConfig>,
    ) -> HashMap<String, Arc<MysqlTarget>> {
        upstreams
            .into_iter()
            .map(|(name, upstream)| {
                let target = MysqlTarget {
                    upstream,
                    state: Mutex::new(None),
                };
                (name, Arc::new(target))
            })
            .collect()
    }

    /// A new login with its state read, within [`LOGIN_TIMEOUT`]; true when
    /// that state differs from the one last remembered (what a statement
    /// decided just before may have been analysed under).
    async fn login(&self) -> Result<(Upstream, SessionState, bool), TargetError> {
        let login = async {
            let mut up = backend::connect(&self.upstream, 0, CHARSET).await?;
            let state = backend::read_state(&mut up).await?;
            Ok::<_, MysqlError>((up, state))
        };
        match tokio::time::timeout(LOGIN_TIMEOUT, login).await {
            Ok(Ok((up, state))) => {
                let changed = self.remember(&up, &state).await;
                Ok((up, state, changed))
            }
            Ok(Err(e)) => Err(TargetError::Unreachable(e.to_string())),
            Err(_) => Err(TargetError::Unreachable(format!(
                "the login took longer than {}s",
                LOGIN_TIMEOUT.as_secs()
            ))),
        }
    }

    /// Remembers a login's state; true when it differs from the last one.
    async fn remember(&self, up: &Upstream, state: &SessionState) -> bool {
        let login = LoginState {
            state: state.clone(),
            target: up.target,
        };
        let mut remembered = self.state.lock().await;
        let changed = remembered.as_ref().is_some_and(|(_, old)| *old != login);
        *remembered = Some((Instant::now(), login));
        changed
    }

    /// The state of a fresh login: the one last read while it is fresh,
    /// else read now on a login of its own.
    async fn login_state(&self) -> Result<LoginState, TargetError> {
        if let Some((at, login)) = self.state.lock().await.as_ref()
            && at.elapsed() < STATE_TTL
        {
            return Ok(login.clone());
        }
        let (up, state, _) = self.login().await?;
        let target = up.target;
        quit(up).await;
        Ok(LoginState { state, target })
    }

    /// Analyses `sql` under the state of a fresh login.
    async fn analyse(
        &self,
        sql: &str,
        column_rules: bool,
    ) -> Result<Vec<vigil_mysql_sql::Analysed>, String> {
        let login = self.login_state().await.map_err(|e| e.to_string())?;
        analysis::analyse(
            sql.as_bytes(),
            &login.state,
            login.target,
            column_rules,
            None,
        )
    }
}

impl SqlTarget for MysqlTarget {
    fn analyze<'a>(
        &'a self,
        sql: &'a str,
        policy: &'a Arc<MaskPolicy>,
    ) -> BoxFuture<'a, Result<Analysed, String>> {
        Box::pin(async move {
            let analysed = self.analyse(sql, policy.has_column_rules()).await?;
            let facts: Vec<_> = analysed.into_iter().map(|a| a.facts).collect();
            // The plan needs the column definitions the target sends (a `*`
            // is named by them): `run` makes it from the same lineage.
            let mask = ResultMask {
                plan: None,
                policy: policy.clone(),
                // As the proxy session: with column rules the target's error
                // text can quote a masked value.
                hide_error_text: policy.has_column_rules(),
            };
            Ok(Analysed {
                facts: facts.into(),
                mask,
            })
        })
    }

    fn read_actions<'a>(
        &'a self,
        schema: &'a str,
        relation: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ActionKind>, String>> {
        Box::pin(async move {
            let probe = format!("SELECT * FROM {}.{}", quote(schema), quote(relation));
            let analysed = self.analyse(&probe, false).await?;
            Ok(analysed
                .into_iter()
                .map(|a| ActionKind::Sql(a.facts))
                .collect())
        })
    }

    fn connect<'a>(
        &'a self,
        _application: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn SqlSession>, TargetError>> {
        Box::pin(async move {
            let (upstream, state, state_changed) = self.login().await?;
            let session: Box<dyn SqlSession> = Box::new(MysqlSession {
                connection_id: upstream.greeting.connection_id,
                upstream,
                state,
                state_changed,
                base_tables: None,
                config: self.upstream.clone(),
                broken: false,
            });
            Ok(session)
        })
    }

    fn explain<'a>(
        &'a self,
        statement: &'a str,
        binding: &'a [u8],
        _hint: &'a [u8],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, TargetError>> {
        Box::pin(async move {
            let explain = async {
                let params = vigil_target::decode_params(binding).ok_or_else(|| {
                    TargetError::Failed("the approval's parameters do not decode".into())
                })?;
                let (mut up, state, _) = self.login().await?;
                let result = explain_on(&mut up, &state, statement, &params).await;
                quit(up).await;
                result
            };
            tokio::time::timeout(timeout, explain)
                .await
                .unwrap_or_else(|_| Err(TargetError::Failed("EXPLAIN took too long".into())))
        })
    }
}

/// The statement kinds MariaDB and MySQL EXPLAIN.
const EXPLAINED: &[&str] = &["select", "insert", "replace", "update", "delete"];

/// `EXPLAIN FORMAT=JSON` of one DML statement, its JSON text.
async fn explain_on(
    up: &mut Upstream,
    state: &SessionState,
    statement: &str,
    params: &[Option<String>],
) -> Result<String, TargetError> {
    let analysed = analysis::analyse(statement.as_bytes(), state, up.target, false, None)
        .map_err(TargetError::Failed)?;
    let kind_ok =
        matches!(analysed.as_slice(), [one] if EXPLAINED.contains(&one.facts.kind.as_str()));
    if !kind_ok {
        return Err(TargetError::Failed(
            "only one SELECT, INSERT, REPLACE, UPDATE or DELETE is explained".into(),
        ));
    }
    let sql = format!("EXPLAIN FORMAT=JSON {statement}");
    // The prefixed text must still be one statement as the target reads it.
    match analysis::analyse(sql.as_bytes(), state, up.target, false, None) {
        Ok(a) if a.len() == 1 => {}
        _ => {
            return Err(TargetError::Failed(
                "the statement cannot be explained".into(),
            ));
        }
    }
    let statement = Statement {
        sql: &sql,
        params,
        max_rows: 1,
        max_bytes: 1 << 20,
    };
    let run = Run {
        statement: &statement,
        mask: &ResultMask::default(),
        lineage: &vigil_mysql_sql::Lineage::NoRows,
        base_tables: None,
    };
    let result = target_query::run(up, run)
        .await
        .map_err(|e| TargetError::Failed(e.to_string()))?;
    result
        .rows
        .into_iter()
        .next()
        .and_then(|row| row.into_iter().next().flatten())
        .ok_or_else(|| TargetError::Failed("EXPLAIN returned no plan".into()))
}

/// A logged-in upstream connection used for whole statements.
struct MysqlSession {
    upstream: Upstream,
    /// The state this login reads statements under.
    state: SessionState,
    /// That state is not the one last remembered: a statement decided on
    /// an analysis under the old one is not run under this one.
    state_changed: bool,
    /// Read on the first statement of a session with column mask rules.
    base_tables: Option<Option<BaseTables>>,
    /// For the second login a cancel needs.
    config: UpstreamConfig,
    /// The target's id of this login's thread (for KILL QUERY).
    connection_id: u32,
    /// An answer was left unread: the login is only closed.
    broken: bool,
}

impl SqlSession for MysqlSession {
    fn run<'a>(
        &'a mut self,
        _permit: &'a Permit,
        statement: &'a Statement<'a>,
        mask: &'a ResultMask,
    ) -> BoxFuture<'a, Result<QueryResult, QueryError>> {
        Box::pin(async move {
            if self.broken {
                return Err(QueryError::Protocol("the login is no longer usable".into()));
            }
            if self.state_changed {
                return Err(QueryError::Protocol(
                    "the target's session settings changed since the statement was analysed: \
                     send it again"
                        .into(),
                ));
            }
            let column_rules = mask.policy.has_column_rules();
            let analysed = analysis::analyse(
                statement.sql.as_bytes(),
                &self.state,
                self.upstream.target,
                column_rules,
                None,
            )
            .map_err(QueryError::Protocol)?;
            let [one] = analysed.as_slice() else {
                return Err(QueryError::Protocol(
                    "exactly one statement runs per call".into(),
                ));
            };
            if column_rules && self.base_tables.is_none() {
                let tables = tokio::time::timeout(
                    OWN_QUERY_TIMEOUT,
                    backend::read_base_tables(&mut self.upstream),
                )
                .await
                .map_err(|_| QueryError::Protocol("reading the base tables took too long".into()))?
                .map_err(|e| QueryError::Protocol(e.to_string()))?;
                self.base_tables = Some(tables);
            }
            let run = Run {
                statement,
                mask,
                lineage: &one.lineage,
                base_tables: self.base_tables.as_ref().and_then(Option::as_ref),
            };
            self.broken = true;
            let result = target_query::run(&mut self.upstream, run).await;
            // A truncated answer was left unread, a failed one may be.
            self.broken = match &result {
                Ok(r) => r.truncated,
                Err(QueryError::Server { .. }) => false,
                Err(_) => true,
            };
            result
        })
    }

    fn describe(&mut self, limit: usize) -> BoxFuture<'_, Result<Vec<RelationColumn>, QueryError>> {
        Box::pin(async move {
            let sql = format!(
                "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, t.TABLE_TYPE, c.COLUMN_NAME, c.COLUMN_TYPE \
                 FROM information_schema.COLUMNS c JOIN information_schema.TABLES t \
                 ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME \
                 WHERE c.TABLE_SCHEMA = DATABASE() \
                 ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION LIMIT {}",
                limit.min(1_000_000)
            );
            let rows = tokio::time::timeout(
                OWN_QUERY_TIMEOUT,
                backend::simple_query(&mut self.upstream, sql.as_bytes()),
            )
            .await
            .map_err(|_| QueryError::Protocol("reading the catalog took too long".into()))?
            .map_err(|e| QueryError::Protocol(e.to_string()))?;
            Ok(rows
                .into_iter()
                .filter_map(|row| {
                    let mut it = row.into_iter();
                    let mut next = || it.next().flatten();
                    let (schema, relation, kind) = (next()?, next()?, next()?);
                    Some(RelationColumn {
                        schema,
                        relation,
                        kind: match kind.as_str() {
                            "VIEW" | "SYSTEM VIEW" => "view",
                            _ => "table",
                        },
                        column: next()?,
                        data_type: next().unwrap_or_default(),
                    })
                })
                .collect())
        })
    }

    fn cancel(&self) -> BoxFuture<'_, Result<(), TargetError>> {
        Box::pin(async move {
            let kill = async {
                let mut up = backend::connect(&self.config, 0, CHARSET).await?;
                let sql = format!("KILL QUERY {}", self.connection_id);
                let done = backend::simple_query(&mut up, sql.as_bytes()).await;
                quit(up).await;
                done.map(|_| ())
            };
            match tokio::time::timeout(LOGIN_TIMEOUT, kill).await {
                Ok(r) => r.map_err(|e| TargetError::Failed(e.to_string())),
                Err(_) => Err(TargetError::Failed("KILL QUERY took too long".into())),
            }
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let broken = self.broken;
            let mut up = self.upstream;
            if !broken {
                let mut out = Vec::with_capacity(5);
                frame(&mut out, &mut 0, &[0x01]);
                let _ = up.io.write_all(&out).await;
            }
            let _ = up.io.shutdown().await;
        })
    }
}

/// Ends a login of Vigil's own (COM_QUIT).
async fn quit(mut up: Upstream) {
    let mut out = Vec::with_capacity(5);
    frame(&mut out, &mut 0, &[0x01]);
    let _ = up.io.write_all(&out).await;
    let _ = up.io.shutdown().await;
}

/// A quoted identifier.
fn quote(ident: &str) -> String {
    format!("`{}`", ident.replace('`', "``"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_quoted_for_the_probe() {
        assert_eq!(quote("a`b"), "`a``b`");
    }
}
