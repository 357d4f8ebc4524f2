//! Template load and validation errors, naming the file, step and field at fault.

use std::fmt;
use std::path::PathBuf;

/// A template that failed to parse or validate.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct TemplateError {
    /// The file the template came from, when loaded from disk.
    pub file: Option<PathBuf>,
    /// The step at fault, if the error is about one step.
    pub step: Option<String>,
    /// The field at fault (`steps[2].depends_on`, `input_schema`, …).
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl TemplateError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self { file: None, step: None, field: field.into(), message: message.into() }
    }

    pub(crate) fn at_step(mut self, step: &str) -> Self {
        self.step = Some(step.to_string());
        self
    }

    /// The same error, naming the file the template came from.
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.file = Some(file.into());
        self
    }
}

impl fmt::Display for TemplateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid template")?;
        if let Some(file) = &self.file {
            write!(f, " in {}", file.display())?;
        }
        if let Some(step) = &self.step {
            write!(f, ", step `{step}`")?;
        }
        write!(f, ", field `{}`: {}", self.field, self.message)
    }
}
