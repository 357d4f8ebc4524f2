//! Generators of random JSON for the bad-input corpora (`bad_input_*.rs`): scalars that PostgreSQL, serde or a
//! schema might choke on, and small nested values of them.

use rand::rngs::StdRng;
use rand::Rng;
use serde_json::{json, Value};

pub fn random_scalar(rng: &mut StdRng) -> Value {
    match rng.random_range(0..12) {
        0 => Value::Null,
        1 => json!(rng.random::<bool>()),
        2 => json!(rng.random::<i64>()),
        3 => json!(-rng.random_range(0..1000)),
        4 => json!(rng.random::<f64>() * 1e300),
        5 => json!("a\u{0}b"),
        6 => json!("'; DROP TABLE tasker.tasks; --"),
        7 => json!("x".repeat(rng.random_range(0..300))),
        8 => json!("🦀 ünïcödé"),
        9 => json!(""),
        10 => json!(2),
        _ => json!(u64::MAX),
    }
}

pub fn random_value(rng: &mut StdRng, depth: usize) -> Value {
    if depth == 0 {
        return random_scalar(rng);
    }
    match rng.random_range(0..4) {
        0 => json!([random_value(rng, depth - 1), random_value(rng, depth - 1)]),
        1 => {
            let mut m = serde_json::Map::new();
            m.insert(format!("k{}", rng.random_range(0..5)), random_value(rng, depth - 1));
            Value::Object(m)
        }
        _ => random_scalar(rng),
    }
}
