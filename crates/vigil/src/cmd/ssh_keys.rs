//! `vigil ssh-keys host`: Vigil's SSH host key, for clients to pin.

use std::path::Path;
use std::process::ExitCode;

pub fn host(config: &Path) -> anyhow::Result<ExitCode> {
    let config = vigil_config::load(config)?;
    let key = vigil_ssh::hostkey::load_or_create(&config.server.data_dir)?;
    println!("{}", vigil_ssh::hostkey::public_line(&key));
    Ok(ExitCode::SUCCESS)
}
