//! `tasker`: a thin client of a Tasker server's REST API. The server owns all state; this keeps none.

mod cli;
mod commands;
mod error;
mod input;
mod output;
mod progress;

use clap::{CommandFactory, Parser};
use cli::{Cli, Command};
use output::OutputMode;

/// What every command gets: the client and the output mode.
pub struct Context {
    /// The server.
    pub client: tasker_client::Client,
    /// How to print.
    pub output: OutputMode,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let cli = Cli::parse();
    let outcome = match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "tasker", &mut std::io::stdout());
            Ok(())
        }
        command => {
            let client = tasker_client::Client::new(
                &cli.global.server,
                cli.global.api_key.as_deref(),
                cli.global.token.as_deref(),
            );
            match client {
                Ok(client) => {
                    let context = Context { client, output: OutputMode::resolve(cli.global.output) };
                    commands::run(&context, command).await
                }
                Err(e) => Err(e.into()),
            }
        }
    };
    if let Err(error) = outcome {
        eprintln!("tasker: {error}");
        std::process::exit(error.exit_code());
    }
}
