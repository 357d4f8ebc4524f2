//! Handlers by name. A name registered twice is a start-up error, not a silent override.

use crate::error::{Result, WorkerError};
use crate::handler::StepHandler;
use std::collections::HashMap;
use std::sync::Arc;

/// The handlers a worker can run.
#[derive(Clone, Default)]
pub struct HandlerRegistry {
    handlers: HashMap<String, Arc<dyn StepHandler>>,
}

impl HandlerRegistry {
    /// Add `handler` under `name`; fails if the name is taken.
    pub fn register(&mut self, name: impl Into<String>, handler: Arc<dyn StepHandler>) -> Result<()> {
        let name = name.into();
        if self.handlers.contains_key(&name) {
            return Err(WorkerError::DuplicateHandler(name));
        }
        self.handlers.insert(name, handler);
        Ok(())
    }

    /// The handler registered under `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn StepHandler>> {
        self.handlers.get(name).cloned()
    }

    /// Whether `name` is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.handlers.contains_key(name)
    }

    /// Registered names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.handlers.keys().cloned().collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handler::handler_fn;

    #[test]
    fn duplicate_names_are_rejected() {
        let mut r = HandlerRegistry::default();
        let h = Arc::new(handler_fn(|_| async { Ok(serde_json::json!(1)) }));
        r.register("a.b", h.clone()).unwrap();
        assert!(matches!(r.register("a.b", h), Err(WorkerError::DuplicateHandler(n)) if n == "a.b"));
        assert!(r.contains("a.b") && !r.contains("a.c"));
    }
}
