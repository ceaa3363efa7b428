use anyhow::Context;
use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;
use tokio::sync::watch;
use vigil_config::LogFormat;

/// How long open sessions get to finish after Ctrl-C or SIGTERM.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn run(config: vigil_config::Config) -> anyhow::Result<ExitCode> {
    init_logging(&config.log.level, config.log.format)?;
    let workers = tokio::runtime::Handle::current().metrics().num_workers();
    tracing::info!(workers, "runtime started");
    let (tx, rx) = watch::channel(false);
    let mut gateway = tokio::spawn(vigil_gateway::serve(config, rx));
    tokio::select! {
        result = &mut gateway => return finish(result),
        _ = signal() => tracing::info!("shutting down: draining sessions"),
    }
    let _ = tx.send(true);
    tokio::select! {
        result = &mut gateway => finish(result),
        _ = signal() => {
            tracing::warn!("second signal: exiting without draining");
            Ok(ExitCode::FAILURE)
        }
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => {
            tracing::warn!("sessions did not drain in time; exiting");
            Ok(ExitCode::FAILURE)
        }
    }
}

fn finish(
    result: Result<Result<(), vigil_gateway::GatewayError>, tokio::task::JoinError>,
) -> anyhow::Result<ExitCode> {
    result.context("the gateway task failed")??;
    Ok(ExitCode::SUCCESS)
}

async fn signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

fn init_logging(level: &str, format: LogFormat) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .context("invalid [log] level")?;
    // Colours only for a terminal: escape codes in a log file or a
    // collector's input are noise that breaks grep.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("logging: {e}"))
}
