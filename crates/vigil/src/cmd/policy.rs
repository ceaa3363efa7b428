use std::path::Path;
use std::process::ExitCode;

/// Loads the configuration and compiles its policies; the error names file:line.
pub fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let result = vigil_config::load(path)
        .and_then(|config| config.compile_policies().map(|set| (config, set)));
    match result {
        Ok((config, _)) => {
            let rules: usize = config.policies.iter().map(|p| p.rules.len()).sum();
            println!(
                "{}: ok ({} connections, {} policies, {} rules)",
                path.display(),
                config.connections.len(),
                config.policies.len(),
                rules
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
