//! One module per command group; each prints its result in the chosen output mode.

mod events;
mod operations;
mod server;
mod task;
mod templates;

use crate::cli::Command;
use crate::error::{CliError, CliResult};
use crate::Context;

/// Run `command`.
pub async fn run(context: &Context, command: Command) -> CliResult {
    match command {
        Command::Task(c) => task::run(context, c).await,
        Command::Step(c) => operations::step(context, c).await,
        Command::Dlq(c) => operations::dlq(context, c).await,
        Command::Template(c) => templates::run(context, c).await,
        Command::Stats { since, namespace } => server::stats(context, &since, namespace).await,
        Command::Events { namespace, after } => events::follow_all(context, namespace, after).await,
        Command::Health => server::health(context).await,
        Command::Completions { .. } => unreachable!("handled before a client exists"),
    }
}

/// `NAMESPACE/NAME` (or `NAMESPACE/NAME/VERSION` when `parts` is 3) split, each part a path segment.
pub fn split_key(key: &str, parts: usize) -> CliResult<Vec<String>> {
    let split: Vec<String> = key.split('/').map(String::from).collect();
    if split.len() != parts || split.iter().any(String::is_empty) {
        let shape = if parts == 2 { "NAMESPACE/NAME" } else { "NAMESPACE/NAME/VERSION" };
        return Err(CliError::Input(format!("`{key}` is not {shape}")));
    }
    Ok(split.iter().map(|p| segment(p)).collect())
}

/// A value made safe as one URL path segment (RFC 3986 unreserved characters kept, the rest percent-encoded).
pub fn segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_into_encoded_segments() {
        assert_eq!(split_key("ns/name", 2).unwrap(), ["ns", "name"]);
        assert_eq!(split_key("ns/a b/1.0.0", 3).unwrap(), ["ns", "a%20b", "1.0.0"]);
        assert!(split_key("ns", 2).is_err() && split_key("ns//x", 3).is_err() && split_key("a/b/c", 2).is_err());
    }
}
