/// Ties the sessions of one agent run together in the ledger: 1 to 128
/// characters of letters, digits and `._:-`, given by the client at login
/// (an MCP header or tool-call field). Input to a session, never part of
/// who the principal is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RunId(String);

/// The longest run id accepted.
pub const MAX_RUN_ID: usize = 128;

impl RunId {
    /// A run id from client text (trimmed), or why it is not one.
    pub fn parse(run: &str) -> Result<RunId, &'static str> {
        let run = run.trim();
        if run.is_empty() || run.len() > MAX_RUN_ID {
            return Err("a run id has 1 to 128 characters");
        }
        if !run
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        {
            return Err("a run id has only letters, digits and . _ : -");
        }
        Ok(RunId(run.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::RunId;

    #[test]
    fn run_ids_are_short_and_plain() {
        assert_eq!(
            RunId::parse(" crew-42:a.b_c ").map(|r| r.as_str().to_string()),
            Ok("crew-42:a.b_c".to_string())
        );
        assert!(RunId::parse("").is_err());
        assert!(RunId::parse("a b").is_err());
        assert!(RunId::parse("x\n").is_ok()); // trimmed
        assert!(RunId::parse("é").is_err());
        assert!(RunId::parse(&"a".repeat(129)).is_err());
    }
}
