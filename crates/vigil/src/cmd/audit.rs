use anyhow::Context;
use std::path::Path;
use std::process::ExitCode;

/// Recomputes the ledger (the log in `data_dir/ledger/`, then its SQLite
/// index row by row against it); exit 1 naming the first event that was
/// changed, removed or reordered, a damaged record, a checkpoint missing at
/// `[ledger] checkpoint_every`, or the signed head of `data_dir/ledger-head`
/// absent from the log.
pub fn verify(path: &Path) -> anyhow::Result<ExitCode> {
    let config = vigil_config::load(path)?;
    let options = vigil_store::VerifyOptions {
        checkpoint_every: config.ledger.checkpoint_every,
    };
    let report = vigil_store::verify_ledger_with(&config.server.data_dir, &options)
        .with_context(|| format!("reading the ledger in {}", config.server.data_dir.display()))?;
    match &report.first_bad {
        None => {
            let head = match report.head_seq {
                Some(seq) => format!("; signed head at seq {seq} found"),
                None => String::new(),
            };
            // The index follows the log a few milliseconds behind while the
            // gateway runs, and catches up at start after a crash.
            let index = match report.index_seq {
                Some(seq) if seq < report.events as i64 => {
                    format!("; the SQLite index holds the first {seq} (it follows the log)")
                }
                _ => String::new(),
            };
            println!(
                "ledger intact: {} events, {} signed checkpoints{head}{index}",
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
