//! Results that shape the DAG: what a `decision` step and a `batchable` step return (docs/templates.md).
//! Both are plain JSON objects, so a handler may add fields of its own: `let mut r = decision([..]); r["why"] = ..`.

use serde_json::{json, Value};

/// A decision step's result: run these of its direct dependents (possibly none); the others are never created.
pub fn decision<I, S>(branches: I) -> Value
where
    I: IntoIterator<Item = S>,
    S: Into<String>,
{
    json!({"branches": branches.into_iter().map(Into::into).collect::<Vec<String>>()})
}

/// A batchable step's result: one instance of its batch worker per item (JSON objects, e.g. cursor ranges);
/// each instance reads its item with `ctx.batch()`.
pub fn batches(items: Vec<Value>) -> Value {
    json!({"batches": items})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shapes_the_engine_reads() {
        assert_eq!(decision(["manager_approval"]), json!({"branches": ["manager_approval"]}));
        assert_eq!(decision(Vec::<String>::new()), json!({"branches": []}));
        assert_eq!(batches(vec![json!({"start": 0})]), json!({"batches": [{"start": 0}]}));
    }
}
