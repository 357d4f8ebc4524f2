//! Dynamic steps: what completed `decision` and `batchable` steps create, written in the transaction that applies
//! their outcomes (the result processor calls [`DynamicSteps::apply`] between taking a batch and settling it).
//!
//! The plan comes from the task's template ([`tasker_shared::template::Shape`]) and the task's steps as they are
//! once its lock is held. New steps are `pending`; the settle statement that follows applies the asking step's
//! outcome and enqueues those that are ready, as for any step. Convergence steps waiting on a gate are rewired to
//! the steps that now exist. An invalid outcome (an unknown branch, a limit passed) creates nothing: its step
//! gets an error and fails permanently.

use crate::error::Result;
use crate::task_writer::{uuid_array, NewStep};
use serde_json::{json, Value};
use sqlx::{FromRow, PgConnection};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tasker_shared::config::ExecutionConfig;
use tasker_shared::states::StepState;
use tasker_shared::template::{read_outcome, OutcomeLimits, Shape, StepStatus, StepType, TaskTemplate};
use uuid::Uuid;

/// A decision or batchable step whose outcome is about to be applied as `complete`.
pub(crate) struct DynamicOutcome {
    pub step_uuid: Uuid,
    pub task_uuid: Uuid,
    pub results: Option<Value>,
}

/// A row of `sql/dynamic_task_steps.sql`.
#[derive(FromRow)]
struct TaskStep {
    task_uuid: Uuid,
    step_uuid: Uuid,
    name: String,
    state: String,
    position: i32,
    kind: Option<String>,
    depends_on: Vec<Uuid>,
    upstream: Vec<Uuid>,
    template_id: i64,
    namespace: String,
}

/// What one batch's outcomes write.
#[derive(Default)]
struct Writes {
    created: Vec<(Uuid, Uuid, NewStep, Option<Value>)>,
    rewired: Vec<(Uuid, String, Option<String>)>,
    refused: Vec<(Uuid, Value)>,
}

/// Plans and writes dynamic steps. Cheap to clone (templates are cached by id: a registered version never
/// changes).
#[derive(Clone)]
pub(crate) struct DynamicSteps {
    defaults: ExecutionConfig,
    templates: Arc<Mutex<HashMap<i64, Arc<TaskTemplate>>>>,
}

impl DynamicSteps {
    pub fn new(defaults: ExecutionConfig) -> Self {
        Self { defaults, templates: Arc::default() }
    }

    /// Create what `outcomes` ask for, on `conn` (whose transaction holds their tasks' locks). Returns the steps
    /// whose outcome was refused: they must be applied as `error` (their error is written here).
    pub async fn apply(&self, conn: &mut PgConnection, outcomes: &[DynamicOutcome]) -> Result<Vec<Uuid>> {
        let mut tasks: Vec<Uuid> = outcomes.iter().map(|o| o.task_uuid).collect();
        tasks.sort_unstable();
        tasks.dedup();
        let rows: Vec<TaskStep> =
            sqlx::query_as(include_str!("sql/dynamic_task_steps.sql")).bind(&tasks).fetch_all(&mut *conn).await?;
        let mut by_task: BTreeMap<Uuid, Vec<TaskStep>> = BTreeMap::new();
        for row in rows {
            by_task.entry(row.task_uuid).or_default().push(row);
        }
        self.load_templates(conn, by_task.values().filter_map(|s| s.first()).map(|s| s.template_id)).await?;
        let mut writes = Writes::default();
        for (task_uuid, steps) in &by_task {
            let template = self.templates.lock().expect("template cache poisoned")[&steps[0].template_id].clone();
            let mine: Vec<&DynamicOutcome> = outcomes.iter().filter(|o| o.task_uuid == *task_uuid).collect();
            self.plan_task(&template, steps, &mine, &mut writes)?;
        }
        let refused: Vec<Uuid> = writes.refused.iter().map(|(u, _)| *u).collect();
        if writes.created.is_empty() && writes.rewired.is_empty() && writes.refused.is_empty() {
            return Ok(refused);
        }
        let new = &writes.created;
        sqlx::query(include_str!("sql/create_dynamic_steps.sql"))
            .bind(new.iter().map(|(by, ..)| *by).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, t, ..)| *t).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.step_uuid).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.name.as_str()).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.handler.as_str()).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.position).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.max_attempts).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.backoff_base_ms).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.backoff_max_ms).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.timeout_seconds).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.config.clone()).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.depends_on.as_str()).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.queue.as_deref()).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.upstream.as_deref()).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.kind).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, _, b)| b.clone()).collect::<Vec<_>>())
            .bind(writes.rewired.iter().map(|(u, ..)| *u).collect::<Vec<_>>())
            .bind(writes.rewired.iter().map(|(_, d, _)| d.as_str()).collect::<Vec<_>>())
            .bind(writes.rewired.iter().map(|(_, _, u)| u.as_deref()).collect::<Vec<_>>())
            .bind(&refused)
            .bind(writes.refused.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>())
            .bind(new.iter().map(|(_, _, s, _)| s.rate_key.as_deref()).collect::<Vec<_>>())
            .execute(&mut *conn)
            .await?;
        metrics::counter!("tasker_dynamic_steps_created_total").increment(new.len() as u64);
        Ok(refused)
    }

    /// Parse and cache the templates of `ids` not cached yet.
    async fn load_templates(&self, conn: &mut PgConnection, ids: impl Iterator<Item = i64>) -> Result<()> {
        let missing: Vec<i64> = {
            let cache = self.templates.lock().expect("template cache poisoned");
            ids.filter(|id| !cache.contains_key(id)).collect()
        };
        if missing.is_empty() {
            return Ok(());
        }
        let rows: Vec<(i64, Value)> =
            sqlx::query_as("SELECT template_id, definition FROM tasker.task_templates WHERE template_id = ANY($1)")
                .bind(&missing)
                .fetch_all(&mut *conn)
                .await?;
        let mut cache = self.templates.lock().expect("template cache poisoned");
        for (id, definition) in rows {
            let template: TaskTemplate =
                serde_json::from_value(definition).map_err(tasker_shared::TaskerError::from)?;
            cache.insert(id, Arc::new(template));
        }
        Ok(())
    }

    /// Plan one task's outcomes into `writes`.
    fn plan_task(
        &self,
        template: &TaskTemplate,
        steps: &[TaskStep],
        outcomes: &[&DynamicOutcome],
        writes: &mut Writes,
    ) -> Result<()> {
        let shape = Shape::of(template).map_err(tasker_shared::TaskerError::from)?;
        let limits = OutcomeLimits {
            max_batch_instances: self.defaults.max_batch_instances as usize,
            max_decision_branches: self.defaults.max_decision_branches as usize,
        };
        let namespace = &steps[0].namespace;
        let settled =
            |state: &str| state == StepState::Complete.as_str() || state == StepState::ResolvedManually.as_str();
        let mut status: BTreeMap<String, StepStatus> = steps
            .iter()
            .map(|s| (s.name.clone(), if settled(&s.state) { StepStatus::Settled } else { StepStatus::Open }))
            .collect();
        // Each step's uuid and ancestors (its dependencies and everything above them).
        let mut known: HashMap<String, (Uuid, BTreeSet<Uuid>)> = steps
            .iter()
            .map(|s| (s.name.clone(), (s.step_uuid, s.depends_on.iter().chain(&s.upstream).copied().collect())))
            .collect();
        let mut position = steps.iter().map(|s| s.position).max().unwrap_or(0) + 1;
        let mut count = steps.len();
        let mut new_convergences: Vec<(String, Uuid)> = Vec::new();
        for outcome in outcomes {
            let Some(row) = steps.iter().find(|s| s.step_uuid == outcome.step_uuid) else { continue };
            if row.state != StepState::EnqueuedForOrchestration.as_str()
                || status.get(&row.name) != Some(&StepStatus::Open)
            {
                continue; // applied by an earlier batch, or twice in this one: a duplicate message
            }
            let Some(step) = shape.template_step(&row.name) else { continue };
            let planned = read_outcome(template, step, outcome.results.as_ref(), limits)
                .map(|read| shape.expand(&row.name, &read, &status))
                .and_then(|expansion| {
                    let max = self.defaults.max_steps_per_task as usize;
                    if count + expansion.steps.len() > max {
                        return Err(format!(
                            "`{}` would bring the task to {} steps; at most {max} are allowed (execution.max_steps_per_task)",
                            row.name,
                            count + expansion.steps.len()
                        ));
                    }
                    Ok(expansion)
                });
            let expansion = match planned {
                Ok(expansion) => expansion,
                Err(message) => {
                    let error = json!({"message": message, "retryable": false, "error_class": "InvalidDynamicOutcome"});
                    writes.refused.push((row.step_uuid, error));
                    continue;
                }
            };
            status.insert(row.name.clone(), StepStatus::Settled);
            count += expansion.steps.len();
            for new in expansion.steps {
                let step_uuid = Uuid::now_v7();
                let parents: Vec<Uuid> = new.depends_on.iter().filter_map(|d| known.get(d).map(|k| k.0)).collect();
                let mut ancestors: BTreeSet<Uuid> = parents.iter().copied().collect();
                for d in &new.depends_on {
                    ancestors.extend(known.get(d).map(|k| k.1.clone()).unwrap_or_default());
                }
                let above: Vec<Uuid> = ancestors.iter().filter(|a| !parents.contains(a)).copied().collect();
                let row = NewStep::from_template(
                    new.template,
                    namespace,
                    &self.defaults,
                    (step_uuid, new.name.clone(), position),
                    StepState::Pending.as_str(),
                    &parents,
                    &above,
                );
                position += 1;
                if new.template.step_type == StepType::Convergence {
                    new_convergences.push((new.name.clone(), step_uuid));
                }
                status.insert(new.name.clone(), StepStatus::Open);
                known.insert(new.name, (step_uuid, ancestors));
                writes.created.push((outcome.step_uuid, outcome.task_uuid, row, new.batch));
            }
        }
        // Every open convergence step waits for what exists now (new ones included, in case a later outcome of
        // this batch changed what they wait for).
        let open_convergences = steps
            .iter()
            .filter(|s| s.kind.as_deref() == Some("convergence") && s.state == StepState::Pending.as_str())
            .map(|s| (s.name.clone(), s.step_uuid, Some(&s.depends_on)))
            .chain(new_convergences.into_iter().map(|(n, u)| (n, u, None)));
        let by_uuid: HashMap<Uuid, &BTreeSet<Uuid>> = known.values().map(|(u, a)| (*u, a)).collect();
        for (name, step_uuid, current) in open_convergences {
            let deps: Vec<Uuid> =
                shape.convergence_deps(&name, &status).iter().filter_map(|d| known.get(d).map(|k| k.0)).collect();
            let fresh = current.is_none();
            if current.is_some_and(|c| *c == deps) {
                continue;
            }
            let mut ancestors = BTreeSet::new();
            for d in &deps {
                ancestors.extend(by_uuid.get(d).map(|a| (*a).clone()).unwrap_or_default());
            }
            let above: Vec<Uuid> = ancestors.iter().filter(|a| !deps.contains(a)).copied().collect();
            let upstream = (!above.is_empty()).then(|| uuid_array(&above));
            if fresh {
                if let Some(created) = writes.created.iter_mut().find(|c| c.2.step_uuid == step_uuid) {
                    created.2.depends_on = uuid_array(&deps);
                    created.2.upstream = upstream;
                }
            } else {
                writes.rewired.push((step_uuid, uuid_array(&deps), upstream));
            }
        }
        Ok(())
    }
}
