//! # tasker-client
//!
//! A Rust client of a Tasker server's REST API, used by the `tasker` CLI. Create a task and wait for it (the
//! wait follows the task's event stream, it does not poll), read results and errors, act on tasks; every
//! refusal is a typed [`ClientError`] carrying the API's status, code, message and field.
//!
//! ```no_run
//! use std::time::Duration;
//! use tasker_client::{Client, NewTask};
//!
//! # async fn example() -> Result<(), tasker_client::ClientError> {
//! let client = Client::new("http://127.0.0.1:8080", None, None)?;
//! let task = client
//!     .create_and_wait(&NewTask::new("linear_workflow", "mathematical_sequence", serde_json::json!({"even_number": 6})),
//!                      Duration::from_secs(30))
//!     .await?;
//! assert_eq!(task.state(), "complete");
//! println!("{}", task.result("linear_step_4").unwrap());
//! # Ok(())
//! # }
//! ```

mod error;
mod http;
mod task;

pub use error::{ClientError, ClientResult};
pub use http::{Body, Client, StreamEvent};
pub use reqwest::Method;
pub use task::{NewTask, Task, TERMINAL_STATES};
