//! Dynamic workflows: which steps of a template exist when its task is created, which ones a `decision` or
//! `batchable` step creates when it completes, and what a `convergence` step waits for at any moment.
//!
//! Every step has a *creator*: the dynamic step whose completion creates it, or none (created with the task).
//! - a `batch_worker` is created (as instances `<name>_001`, …) by the `batchable` it depends on;
//! - a direct dependent of a `decision` (its branch) is created by that decision, and so is everything below it
//!   that it alone leads to: a step's creator is the one creator its dependencies contribute;
//! - a `convergence` step is created with the dynamic steps that create its dependencies, and until those have
//!   decided it waits for them (its *gates*); once they have, for exactly the steps that were created.
//!
//! Everything here works on step names; the orchestrator maps them to rows.

use super::{StepTemplate, StepType, TaskTemplate, TemplateError};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// Name of the `index`-th (1-based) instance of batch worker `worker`: `process_batch_001`.
pub fn instance_name(worker: &str, index: usize) -> String {
    format!("{worker}_{index:03}")
}

/// The index of `name` if it is an instance of batch worker `worker`.
fn instance_index(worker: &str, name: &str) -> Option<usize> {
    let digits = name.strip_prefix(worker)?.strip_prefix('_')?;
    (digits.len() >= 3 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| digits.parse().ok()).flatten()
}

/// A step of a task as the planner needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    /// Exists and has not completed.
    Open,
    /// Complete or resolved by hand (for a dynamic step: it has made whatever it creates).
    Settled,
}

/// What a completed dynamic step asked for.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A decision's chosen branches (direct dependents), without repeats.
    Branches(Vec<String>),
    /// A batchable step's work items (JSON objects).
    Batches(Vec<Value>),
}

/// The limits a dynamic outcome is checked against.
#[derive(Debug, Clone, Copy)]
pub struct OutcomeLimits {
    /// Most batch instances per batchable step.
    pub max_batch_instances: usize,
    /// Most branches per decision step.
    pub max_decision_branches: usize,
}

/// One step a dynamic outcome creates.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDynamicStep<'t> {
    /// Its name (`<worker>_<index>` for batch instances).
    pub name: String,
    /// The template step it is made from.
    pub template: &'t StepTemplate,
    /// The steps it waits for (for a convergence, see [`Shape::convergence_deps`]).
    pub depends_on: Vec<String>,
    /// A batch instance's work item, with its 1-based `index`.
    pub batch: Option<Value>,
}

/// A step created with the task: its index in the template's `steps` and the indices of the steps it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialStep {
    /// Index in `TaskTemplate::steps`.
    pub index: usize,
    /// Indices of the steps it waits for.
    pub depends_on: Vec<usize>,
}

/// What one dynamic outcome creates.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Expansion<'t> {
    /// The new steps, every step after its dependencies.
    pub steps: Vec<NewDynamicStep<'t>>,
}

/// Check a completed `decision` or `batchable` step's result against the template and the limits. The error
/// says what is wrong, naming the offending branch; the step then fails permanently and creates nothing.
pub fn read_outcome(
    template: &TaskTemplate,
    step: &StepTemplate,
    result: Option<&Value>,
    limits: OutcomeLimits,
) -> Result<Outcome, String> {
    match step.step_type {
        StepType::Decision => {
            let Some(Value::Array(names)) = result.and_then(|r| r.get("branches")) else {
                return Err(format!(
                    "decision step `{}` must return `branches`: a list of step names (possibly empty)",
                    step.name
                ));
            };
            let mut branches: Vec<String> = Vec::new();
            for name in names {
                let Some(name) = name.as_str() else {
                    return Err(format!("`branches` of `{}` must hold step names, not {name}", step.name));
                };
                let is_branch = template.steps.iter().any(|s| {
                    s.name == name
                        && s.step_type != StepType::Convergence
                        && s.depends_on.iter().any(|d| d == &step.name)
                });
                if !is_branch {
                    return Err(format!(
                        "`{name}` is not a branch of decision step `{}` (a step that depends on it)",
                        step.name
                    ));
                }
                if !branches.iter().any(|b| b == name) {
                    branches.push(name.to_string());
                }
            }
            if branches.len() > limits.max_decision_branches {
                return Err(format!(
                    "decision step `{}` chose {} branches; at most {} are allowed (execution.max_decision_branches)",
                    step.name,
                    branches.len(),
                    limits.max_decision_branches
                ));
            }
            Ok(Outcome::Branches(branches))
        }
        StepType::Batchable => {
            let Some(Value::Array(items)) = result.and_then(|r| r.get("batches")) else {
                return Err(format!(
                    "batchable step `{}` must return `batches`: a list of JSON objects (possibly empty)",
                    step.name
                ));
            };
            if let Some(i) = items.iter().position(|b| !b.is_object()) {
                return Err(format!("`batches[{i}]` of `{}` must be a JSON object", step.name));
            }
            if items.len() > limits.max_batch_instances {
                return Err(format!(
                    "batchable step `{}` asked for {} batches; at most {} are allowed (execution.max_batch_instances)",
                    step.name,
                    items.len(),
                    limits.max_batch_instances
                ));
            }
            Ok(Outcome::Batches(items.clone()))
        }
        _ => Err(format!("step `{}` is not a decision or batchable step", step.name)),
    }
}

/// A template's dynamic structure: each step's creator, in dependency order.
pub struct Shape<'t> {
    template: &'t TaskTemplate,
    index: HashMap<&'t str, usize>,
    order: Vec<usize>,
    creator: Vec<Option<usize>>,
}

impl<'t> Shape<'t> {
    /// Work out each step's creator, rejecting templates whose dynamic steps cannot work (naming the field).
    /// Expects a template that passed the structural checks (names unique, dependencies known, no cycle).
    pub fn of(template: &'t TaskTemplate) -> Result<Self, TemplateError> {
        let steps = &template.steps;
        let index: HashMap<&str, usize> = steps.iter().enumerate().map(|(i, s)| (s.name.as_str(), i)).collect();
        let order: Vec<usize> =
            super::validate::topological_order(steps)?.into_iter().map(|s| index[s.name.as_str()]).collect();
        let field = |i: usize, f: &str| format!("steps[{i}].{f}");
        let mut creator: Vec<Option<usize>> = vec![None; steps.len()];
        for &i in &order {
            let step = &steps[i];
            let deps: Vec<usize> = step.depends_on.iter().map(|d| index[d.as_str()]).collect();
            match step.step_type {
                StepType::Decision if !steps.iter().any(|s| s.depends_on.contains(&step.name)) => {
                    return Err(TemplateError::new(field(i, "type"), "a decision step needs steps that depend on it")
                        .at_step(&step.name));
                }
                StepType::BatchWorker => {
                    if deps.len() != 1 || steps[deps[0]].step_type != StepType::Batchable {
                        return Err(TemplateError::new(
                            field(i, "depends_on"),
                            "a batch_worker step must depend on exactly one batchable step",
                        )
                        .at_step(&step.name));
                    }
                    creator[i] = Some(deps[0]);
                    continue;
                }
                StepType::Convergence if deps.is_empty() => {
                    return Err(TemplateError::new(field(i, "depends_on"), "a convergence step must depend on a step")
                        .at_step(&step.name));
                }
                _ => {}
            }
            let mut contributed: Option<usize> = None;
            for &d in &deps {
                let dep = &steps[d];
                let from = if step.step_type == StepType::Convergence {
                    creator[d].and_then(|c| creator[c])
                } else if dep.step_type == StepType::BatchWorker {
                    return Err(TemplateError::new(
                        field(i, "depends_on"),
                        format!("`{}` is a batch_worker: only a convergence step may depend on it", dep.name),
                    )
                    .at_step(&step.name));
                } else if dep.step_type == StepType::Decision {
                    Some(d)
                } else {
                    creator[d]
                };
                match (contributed, from) {
                    (Some(a), Some(b)) if a != b => {
                        return Err(TemplateError::new(
                            field(i, "depends_on"),
                            format!(
                                "depends on steps that different dynamic steps create (`{}` and `{}`); make it a convergence step below one of them",
                                steps[a].name, steps[b].name
                            ),
                        )
                        .at_step(&step.name));
                    }
                    (None, Some(b)) => contributed = Some(b),
                    _ => {}
                }
            }
            creator[i] = contributed;
        }
        for (i, step) in steps.iter().enumerate() {
            if let Some(worker) = steps
                .iter()
                .find(|w| w.step_type == StepType::BatchWorker && instance_index(&w.name, &step.name).is_some())
            {
                return Err(TemplateError::new(
                    field(i, "name"),
                    format!("clashes with the instance names of batch_worker `{}`", worker.name),
                )
                .at_step(&step.name));
            }
        }
        Ok(Self { template, index, order, creator })
    }

    fn step(&self, i: usize) -> &'t StepTemplate {
        &self.template.steps[i]
    }

    /// The steps created with the task, every step after its dependencies, each with what it waits for.
    pub fn initial_steps(&self) -> Vec<(&'t StepTemplate, Vec<String>)> {
        let existing: BTreeMap<String, StepStatus> = self
            .order
            .iter()
            .filter(|&&i| self.creator[i].is_none() && self.step(i).step_type != StepType::BatchWorker)
            .map(|&i| (self.step(i).name.clone(), StepStatus::Open))
            .collect();
        self.order
            .iter()
            .map(|&i| self.step(i))
            .filter(|s| existing.contains_key(&s.name))
            .map(|s| (s, self.depends_on(s, &existing)))
            .collect()
    }

    /// [`Shape::initial_steps`] by index, owned: what task creation needs, computed once per template.
    pub fn initial_plan(&self) -> Vec<InitialStep> {
        self.initial_steps()
            .into_iter()
            .map(|(step, deps)| InitialStep {
                index: self.index[step.name.as_str()],
                depends_on: deps.iter().map(|d| self.index[d.as_str()]).collect(),
            })
            .collect()
    }

    /// What `step` waits for while `existing` are the task's steps: its dependencies, or for a convergence step
    /// see [`Shape::convergence_deps`].
    fn depends_on(&self, step: &StepTemplate, existing: &BTreeMap<String, StepStatus>) -> Vec<String> {
        if step.step_type == StepType::Convergence {
            self.convergence_deps(&step.name, existing)
        } else {
            step.depends_on.clone()
        }
    }

    /// What convergence step `name` waits for while `existing` are the task's steps: each dependency that exists
    /// (a batch worker: each of its instances, in index order); for one that does not exist yet, the nearest
    /// existing dynamic step that may still create it. A dependency whose creator has settled without creating it
    /// will never exist and is left out.
    pub fn convergence_deps(&self, name: &str, existing: &BTreeMap<String, StepStatus>) -> Vec<String> {
        let Some(&c) = self.index.get(name) else { return Vec::new() };
        let mut deps: Vec<String> = Vec::new();
        let add = |n: String, deps: &mut Vec<String>| {
            if !deps.contains(&n) {
                deps.push(n);
            }
        };
        for dep in &self.step(c).depends_on {
            let d = self.index[dep.as_str()];
            if self.step(d).step_type == StepType::BatchWorker {
                let mut instances: Vec<(usize, &String)> =
                    existing.keys().filter_map(|n| instance_index(dep, n).map(|i| (i, n))).collect();
                instances.sort();
                if !instances.is_empty() {
                    for (_, n) in instances {
                        add(n.clone(), &mut deps);
                    }
                    continue;
                }
            } else if existing.contains_key(dep) {
                add(dep.clone(), &mut deps);
                continue;
            }
            let mut gate = self.creator[d];
            while let Some(g) = gate {
                let gate_name = &self.step(g).name;
                match existing.get(gate_name) {
                    Some(StepStatus::Open) => {
                        add(gate_name.clone(), &mut deps);
                        break;
                    }
                    Some(StepStatus::Settled) => break,
                    None => gate = self.creator[g],
                }
            }
        }
        deps
    }

    /// The steps that dynamic step `name`'s `outcome` creates, given the task's `existing` steps (which must not
    /// yet include them). Convergence steps among them wait for what [`Shape::convergence_deps`] says once the
    /// new steps exist and `name` has settled; the caller recomputes that for every open convergence step.
    pub fn expand(&self, name: &str, outcome: &Outcome, existing: &BTreeMap<String, StepStatus>) -> Expansion<'t> {
        let Some(&x) = self.index.get(name) else { return Expansion::default() };
        let mut steps: Vec<NewDynamicStep<'t>> = Vec::new();
        match outcome {
            Outcome::Batches(items) => {
                for &w in self.order.iter().filter(|&&w| self.creator[w] == Some(x)) {
                    let worker = self.step(w);
                    for (i, item) in items.iter().enumerate() {
                        let mut batch = item.clone();
                        if let Value::Object(map) = &mut batch {
                            map.insert("index".into(), Value::from(i + 1));
                        }
                        steps.push(NewDynamicStep {
                            name: instance_name(&worker.name, i + 1),
                            template: worker,
                            depends_on: vec![name.to_string()],
                            batch: Some(batch),
                        });
                    }
                }
            }
            Outcome::Branches(chosen) => {
                let mut after = existing.clone();
                after.insert(name.to_string(), StepStatus::Settled);
                let made_here = |n: &str, steps: &[NewDynamicStep<'_>]| steps.iter().any(|s| s.name == n);
                for &i in self.order.iter().filter(|&&i| self.creator[i] == Some(x)) {
                    let step = self.step(i);
                    let create = match step.step_type {
                        StepType::BatchWorker => false,
                        StepType::Convergence => step.depends_on.iter().any(|d| {
                            made_here(d, &steps)
                                || self.creator[self.index[d.as_str()]]
                                    .is_some_and(|c| made_here(&self.step(c).name, &steps))
                        }),
                        _ => {
                            let branch = step.depends_on.iter().any(|d| d == name);
                            (!branch || chosen.contains(&step.name))
                                && step.depends_on.iter().all(|d| after.contains_key(d))
                        }
                    };
                    if create {
                        after.insert(step.name.clone(), StepStatus::Open);
                        steps.push(NewDynamicStep {
                            name: step.name.clone(),
                            template: step,
                            depends_on: step.depends_on.clone(),
                            batch: None,
                        });
                    }
                }
                for s in steps.iter_mut().filter(|s| s.template.step_type == StepType::Convergence) {
                    s.depends_on = self.convergence_deps(&s.name, &after);
                }
            }
        }
        Expansion { steps }
    }

    /// The template step of a step row named `name` (a batch instance maps to its batch worker).
    pub fn template_step(&self, name: &str) -> Option<&'t StepTemplate> {
        if let Some(&i) = self.index.get(name) {
            return Some(self.step(i));
        }
        self.template
            .steps
            .iter()
            .find(|w| w.step_type == StepType::BatchWorker && instance_index(&w.name, name).is_some())
    }

    /// True when the template has a dynamic step (the orchestrator then plans creation through this shape).
    pub fn is_dynamic(&self) -> bool {
        self.template.steps.iter().any(|s| !s.step_type.is_standard())
    }
}

#[cfg(test)]
#[path = "dynamic_tests.rs"]
mod tests;
