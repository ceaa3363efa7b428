use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;

/// Recomputes the ledger; exit 1 naming the first event that was changed,
/// removed or reordered.
pub fn verify(path: &Path) -> anyhow::Result<ExitCode> {
    let config = vigil_config::load(path)?;
    let report = vigil_store::verify_ledger(&config.server.data_dir)
        .with_context(|| format!("reading the ledger in {}", config.server.data_dir.display()))?;
    match &report.first_bad {
        None => {
            println!(
                "ledger intact: {} events, {} signed checkpoints",
                report.events, report.checkpoints
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(bad) => {
            println!("ledger damaged at event {}: {}", bad.seq, bad.problem);
            Ok(ExitCode::FAILURE)
        }
    }
}
