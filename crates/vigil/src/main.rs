//! The `vigil` command line: see `vigil --help`.

mod cli;
mod cmd;

use clap::Parser;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let ready = match cmd::Ready::new(cli::Cli::parse()) {
        Ok(ready) => ready,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(workers) = ready.workers() {
        builder.worker_threads(workers);
    }
    // The SQL parser recurses in C; large worker stacks keep a deeply nested
    // statement from overflowing (the analyser also refuses past a limit).
    let runtime = builder
        .enable_all()
        .thread_stack_size(16 * 1024 * 1024)
        .build();
    let runtime = match runtime {
        Ok(r) => r,
        Err(e) => {
            eprintln!("vigil: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(ready.run()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("vigil: {e:#}");
            ExitCode::FAILURE
        }
    }
}
