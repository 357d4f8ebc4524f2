//! Structural validation of a template: names, dependencies, cycles and the input schema.

use super::{StepTemplate, TaskTemplate, TemplateError};
use std::collections::{HashMap, HashSet};

/// Longest namespace or step queue allowed: pgmq queue names are limited, and ours are `worker_<queue>_queue`.
pub const MAX_NAMESPACE_LEN: usize = 34;

/// Longest template name, version, step name or handler name, in bytes (they are keys of unique indexes, whose
/// entries PostgreSQL limits to about 2.7 KB).
pub const MAX_NAME_LEN: usize = 255;

/// Whether `s` is a usable name: not blank, at most [`MAX_NAME_LEN`] bytes, no control character (NUL included,
/// which PostgreSQL cannot store in text).
fn check_name(field: impl Into<String>, s: &str) -> Result<(), TemplateError> {
    if s.trim().is_empty() {
        return Err(TemplateError::new(field, "must not be empty"));
    }
    if s.len() > MAX_NAME_LEN || s.chars().any(char::is_control) {
        return Err(TemplateError::new(
            field,
            format!("must be at most {MAX_NAME_LEN} bytes long, with no control characters"),
        ));
    }
    Ok(())
}

/// Largest `retry.max_attempts` or `timeout_seconds` (stored as 32-bit integers).
const MAX_COUNT: u32 = i32::MAX as u32;

fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Check every rule; the first violation is returned.
pub fn validate(t: &TaskTemplate) -> Result<(), TemplateError> {
    if !is_identifier(&t.namespace) || t.namespace.len() > MAX_NAMESPACE_LEN {
        return Err(TemplateError::new(
            "namespace",
            format!(
                "`{}` must be 1-{MAX_NAMESPACE_LEN} characters of lowercase letters, digits and `_`, not starting with a digit",
                t.namespace
            ),
        ));
    }
    check_name("name", &t.name)?;
    check_name("version", &t.version)?;
    if t.steps.is_empty() {
        return Err(TemplateError::new("steps", "a template needs at least one step"));
    }
    let mut seen = HashSet::new();
    for (i, step) in t.steps.iter().enumerate() {
        check_name(format!("steps[{i}].name"), &step.name)?;
        if !seen.insert(step.name.as_str()) {
            return Err(TemplateError::new(format!("steps[{i}].name"), "duplicate step name").at_step(&step.name));
        }
        check_name(format!("steps[{i}].handler"), &step.handler).map_err(|e| e.at_step(&step.name))?;
        if let Some(queue) = &step.queue {
            if !is_identifier(queue) || queue.len() > MAX_NAMESPACE_LEN {
                return Err(TemplateError::new(
                    format!("steps[{i}].queue"),
                    format!(
                        "`{queue}` must be 1-{MAX_NAMESPACE_LEN} characters of lowercase letters, digits and `_`, not starting with a digit"
                    ),
                )
                .at_step(&step.name));
            }
        }
        if let Some(retry) = &step.retry {
            if retry.max_attempts.is_some_and(|n| n == 0 || n > MAX_COUNT) {
                return Err(TemplateError::new(
                    format!("steps[{i}].retry.max_attempts"),
                    format!("must be 1 to {MAX_COUNT}"),
                )
                .at_step(&step.name));
            }
            if let (Some(base), Some(max)) = (retry.base_ms, retry.max_ms) {
                if base > max {
                    return Err(TemplateError::new(format!("steps[{i}].retry.base_ms"), "must not exceed max_ms")
                        .at_step(&step.name));
                }
            }
        }
        if step.timeout_seconds.is_some_and(|n| n == 0 || n > MAX_COUNT) {
            return Err(TemplateError::new(format!("steps[{i}].timeout_seconds"), format!("must be 1 to {MAX_COUNT}"))
                .at_step(&step.name));
        }
    }
    for (i, step) in t.steps.iter().enumerate() {
        for dep in &step.depends_on {
            if dep == &step.name {
                return Err(TemplateError::new(format!("steps[{i}].depends_on"), "a step cannot depend on itself")
                    .at_step(&step.name));
            }
            if !seen.contains(dep.as_str()) {
                return Err(TemplateError::new(format!("steps[{i}].depends_on"), format!("unknown step `{dep}`"))
                    .at_step(&step.name));
            }
        }
    }
    super::Shape::of(t)?;
    validate_starts(t)?;
    if let Some(concurrency) = &t.concurrency {
        concurrency.validate()?;
    }
    for (i, step) in t.steps.iter().enumerate() {
        if let Some(rate) = &step.rate_limit {
            rate.validate(i).map_err(|e| e.at_step(&step.name))?;
        }
    }
    if let Some(schema) = &t.input_schema {
        jsonschema::meta::validate(schema)
            .map_err(|e| TemplateError::new("input_schema", format!("not a valid JSON Schema: {e}")))?;
        jsonschema::validator_for(schema)
            .map_err(|e| TemplateError::new("input_schema", format!("not a valid JSON Schema: {e}")))?;
    }
    // The template is stored as jsonb, which cannot hold NUL: a step's `config`, a description, a schema.
    if let Some(path) = serde_json::to_value(t).ok().as_ref().and_then(crate::jsonb::nul_path) {
        return Err(TemplateError::new(
            path.trim_start_matches('.'),
            "contains a NUL character (\\u0000), which PostgreSQL cannot store",
        ));
    }
    Ok(())
}

/// Kahn's algorithm; a leftover step is on a cycle and is named in the error.
pub(super) fn topological_order(steps: &[StepTemplate]) -> Result<Vec<&StepTemplate>, TemplateError> {
    let index: HashMap<&str, usize> = steps.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
    let mut indegree: Vec<usize> = steps.iter().map(|s| s.depends_on.len()).collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); steps.len()];
    for (i, s) in steps.iter().enumerate() {
        for d in &s.depends_on {
            if let Some(&p) = index.get(d.as_str()) {
                children[p].push(i);
            }
        }
    }
    let mut ready: Vec<usize> = (0..steps.len()).filter(|&i| indegree[i] == 0).collect();
    ready.reverse();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(i) = ready.pop() {
        order.push(&steps[i]);
        for &c in children[i].iter().rev() {
            indegree[c] -= 1;
            if indegree[c] == 0 {
                ready.push(c);
            }
        }
    }
    if order.len() < steps.len() {
        let (i, s) = steps.iter().enumerate().find(|(i, _)| indegree[*i] > 0).expect("a step on the cycle");
        return Err(TemplateError::new(format!("steps[{i}].depends_on"), "dependency cycle").at_step(&s.name));
    }
    Ok(order)
}

/// Priorities, schedules and triggers.
fn validate_starts(t: &TaskTemplate) -> Result<(), TemplateError> {
    let priority_error =
        |field: String, p: i32| TemplateError::new(field, format!("{p} is not a priority: 1 (lowest) to 5 (highest)"));
    if let Some(p) = t.priority.filter(|p| !super::PRIORITIES.contains(p)) {
        return Err(priority_error("priority".into(), p));
    }
    for (i, s) in t.schedules.iter().enumerate() {
        crate::cron_spec::CronSpec::parse(&s.cron, s.timezone.as_deref().unwrap_or("UTC"))
            .map_err(|e| TemplateError::new(format!("schedules[{i}].{}", e.field), e.message))?;
        if let Some(p) = s.priority.filter(|p| !super::PRIORITIES.contains(p)) {
            return Err(priority_error(format!("schedules[{i}].priority"), p));
        }
    }
    for (i, trigger) in t.triggers.iter().enumerate() {
        if trigger.event.trim().is_empty() || trigger.event.len() > 200 {
            return Err(TemplateError::new(format!("triggers[{i}].event"), "must be 1-200 characters"));
        }
        if let Some(p) = trigger.priority.filter(|p| !super::PRIORITIES.contains(p)) {
            return Err(priority_error(format!("triggers[{i}].priority"), p));
        }
    }
    Ok(())
}
