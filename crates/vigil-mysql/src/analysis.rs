//! How a statement text is analysed under a login's state: shared by the
//! proxy session (COM_QUERY, COM_STMT_PREPARE) and the target seam (the MCP
//! tools), so both read a text the same way and refuse the same texts.

use crate::backend::SessionState;
use vigil_mysql_sql::{Analysed, AnalysisCache, Context, Target};

/// Analyses `text` as the target will read it under `state` (through
/// `cache` on the proxy's hot path). With column mask rules
/// (`column_rules`), SHOW WARNINGS and SHOW ERRORS are refused: they quote
/// the values a statement touched (a failed conversion of a masked column
/// prints it), in a form no detector knows.
pub(crate) fn analyse(
    text: &[u8],
    state: &SessionState,
    target: Target,
    column_rules: bool,
    cache: Option<&AnalysisCache>,
) -> Result<Vec<Analysed>, String> {
    let analysed = match &state.mode {
        Ok(mode) => {
            let ctx = Context {
                mode: *mode,
                target,
                database: state.database.as_deref(),
            };
            match cache {
                Some(cache) => cache.analyze(text, &ctx).map(|a| a.to_vec()),
                None => vigil_mysql_sql::analyze(text, &ctx),
            }
            .map_err(|e| e.to_string())?
        }
        Err(why) => {
            return Err(format!(
                "the session reads statements under {why}, which Vigil does not reproduce"
            ));
        }
    };
    if column_rules
        && analysed.iter().any(|a| {
            let upper = a.facts.text.to_ascii_uppercase();
            a.facts.kind == "show" && (upper.contains("WARNINGS") || upper.contains("ERRORS"))
        })
    {
        return Err(
            "SHOW WARNINGS and SHOW ERRORS can quote masked values, so they are not available in a session with masked columns"
                .into(),
        );
    }
    Ok(analysed)
}
