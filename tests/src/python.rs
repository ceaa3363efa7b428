//! Python clients (psycopg 3) from the repository's `.venv`, which `scripts/test.sh` creates.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use crate::util::workspace_root;

/// `<workspace>/.venv/bin/python`. Panics with the command that creates it when missing.
pub fn venv_python() -> PathBuf {
    let python = workspace_root().join(".venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/test.sh once (it creates the venv with psycopg and \
         pytest), or `python3 -m venv .venv && .venv/bin/pip install 'psycopg[binary]' pytest`",
        python.display()
    );
    python
}

/// Runs a Python script with the venv's interpreter. `script` is a path relative to the
/// `tests/` directory (`"py/extended_query.py"`) or absolute.
pub fn python(script: &str, args: &[&str]) -> Output {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(script);
    assert!(path.exists(), "python script {} not found", path.display());
    Command::new(venv_python())
        .arg(&path)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("could not run the venv's python")
}

/// Runs inline Python code (`python -c CODE ARGS...`; `sys.argv[1:]` are `args`).
pub fn python_code(code: &str, args: &[&str]) -> Output {
    Command::new(venv_python())
        .arg("-c")
        .arg(code)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("could not run the venv's python")
}
