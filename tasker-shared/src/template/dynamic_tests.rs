use super::*;
use crate::template::parse_template;
use serde_json::json;

fn template(yaml: &str) -> TaskTemplate {
    parse_template(yaml).expect("valid template")
}

const APPROVAL: &str = r#"
namespace: conditional_approval
name: approval_routing
version: 1.0.0
steps:
  - {name: validate_request, handler: a.validate}
  - {name: routing_decision, handler: a.route, type: decision, depends_on: [validate_request]}
  - {name: auto_approve, handler: a.auto, depends_on: [routing_decision]}
  - {name: manager_approval, handler: a.manager, depends_on: [routing_decision]}
  - {name: finance_review, handler: a.finance, depends_on: [routing_decision]}
  - name: finalize_approval
    handler: a.finalize
    type: convergence
    depends_on: [auto_approve, manager_approval, finance_review]
"#;

const COMBINED: &str = r#"
namespace: combined
name: diamond_decision_batch
version: 1.0.0
steps:
  - {name: start, handler: c.h}
  - {name: left, handler: c.h, depends_on: [start]}
  - {name: right, handler: c.h, depends_on: [start]}
  - {name: choose, handler: c.h, type: decision, depends_on: [left, right]}
  - {name: even_split, handler: c.h, type: batchable, depends_on: [choose]}
  - {name: even_batch, handler: c.h, type: batch_worker, depends_on: [even_split]}
  - {name: even_total, handler: c.h, type: convergence, depends_on: [even_batch]}
  - {name: odd_split, handler: c.h, type: batchable, depends_on: [choose]}
  - {name: odd_batch, handler: c.h, type: batch_worker, depends_on: [odd_split]}
  - {name: odd_total, handler: c.h, type: convergence, depends_on: [odd_batch]}
"#;

fn names(steps: &[NewDynamicStep<'_>]) -> Vec<String> {
    steps.iter().map(|s| s.name.clone()).collect()
}

fn status(pairs: &[(&str, StepStatus)]) -> BTreeMap<String, StepStatus> {
    pairs.iter().map(|(n, s)| (n.to_string(), *s)).collect()
}

#[test]
fn a_decision_creates_only_its_chosen_branches_and_the_convergence_then_waits_for_them() {
    let t = template(APPROVAL);
    let shape = Shape::of(&t).unwrap();
    let initial = shape.initial_steps();
    let created: Vec<&str> = initial.iter().map(|(s, _)| s.name.as_str()).collect();
    assert_eq!(created, ["validate_request", "routing_decision", "finalize_approval"]);
    assert_eq!(initial[2].1, ["routing_decision"], "the convergence waits for the decision at first");

    let mut existing = status(&[
        ("validate_request", StepStatus::Settled),
        ("routing_decision", StepStatus::Open),
        ("finalize_approval", StepStatus::Open),
    ]);
    let chosen = Outcome::Branches(vec!["manager_approval".into(), "finance_review".into()]);
    let expansion = shape.expand("routing_decision", &chosen, &existing);
    assert_eq!(names(&expansion.steps), ["manager_approval", "finance_review"]);
    existing.insert("routing_decision".into(), StepStatus::Settled);
    for s in &expansion.steps {
        existing.insert(s.name.clone(), StepStatus::Open);
    }
    assert_eq!(shape.convergence_deps("finalize_approval", &existing), ["manager_approval", "finance_review"]);

    let none = shape.expand("routing_decision", &Outcome::Branches(vec![]), &existing);
    assert!(none.steps.is_empty());
    let settled_alone = status(&[("routing_decision", StepStatus::Settled), ("finalize_approval", StepStatus::Open)]);
    assert!(shape.convergence_deps("finalize_approval", &settled_alone).is_empty(), "no branch: runs at once");
}

#[test]
fn batches_become_numbered_instances_that_the_convergence_sees_in_index_order() {
    let t = template(COMBINED);
    let shape = Shape::of(&t).unwrap();
    let created: Vec<&str> = shape.initial_steps().iter().map(|(s, _)| s.name.as_str()).collect();
    assert_eq!(created, ["start", "left", "right", "choose"]);

    let mut existing = status(&[("choose", StepStatus::Open)]);
    let even = shape.expand("choose", &Outcome::Branches(vec!["even_split".into()]), &existing);
    assert_eq!(names(&even.steps), ["even_split", "even_total"]);
    assert_eq!(even.steps[1].depends_on, ["even_split"], "the path's convergence waits for its batchable");
    existing.insert("choose".into(), StepStatus::Settled);
    existing.insert("even_split".into(), StepStatus::Open);
    existing.insert("even_total".into(), StepStatus::Open);

    let items: Vec<Value> = (0..12).map(|i| json!({"start": i})).collect();
    let batches = shape.expand("even_split", &Outcome::Batches(items), &existing);
    assert_eq!(batches.steps.len(), 12);
    assert_eq!(batches.steps[0].name, "even_batch_001");
    assert_eq!(batches.steps[11].batch, Some(json!({"start": 11, "index": 12})));
    existing.insert("even_split".into(), StepStatus::Settled);
    for s in &batches.steps {
        existing.insert(s.name.clone(), StepStatus::Open);
    }
    let deps = shape.convergence_deps("even_total", &existing);
    assert_eq!(deps.len(), 12);
    assert_eq!(deps[1], "even_batch_002");
    assert_eq!(shape.template_step("even_batch_010").map(|s| s.name.as_str()), Some("even_batch"));
}

#[test]
fn a_thousandth_instance_sorts_after_the_others() {
    let mut existing = BTreeMap::new();
    for i in [1000, 2, 999, 1] {
        existing.insert(instance_name("w", i), StepStatus::Open);
    }
    let t = template(
        "namespace: n\nname: x\nversion: '1'\nsteps:\n  - {name: s, handler: h, type: batchable}\n  - {name: w, handler: h, type: batch_worker, depends_on: [s]}\n  - {name: c, handler: h, type: convergence, depends_on: [w]}\n",
    );
    let shape = Shape::of(&t).unwrap();
    assert_eq!(shape.convergence_deps("c", &existing), ["w_001", "w_002", "w_999", "w_1000"]);
}

#[test]
fn outcomes_are_checked_against_the_template_and_the_limits() {
    let t = template(APPROVAL);
    let limits = OutcomeLimits { max_batch_instances: 2, max_decision_branches: 2 };
    let decision = &t.steps[1];
    let err = read_outcome(&t, decision, Some(&json!({"branches": ["validate_request"]})), limits).unwrap_err();
    assert!(err.contains("`validate_request` is not a branch"), "{err}");
    let err = read_outcome(&t, decision, Some(&json!({"branches": ["finalize_approval"]})), limits).unwrap_err();
    assert!(err.contains("`finalize_approval`"), "{err}");
    let err = read_outcome(&t, decision, Some(&json!({"ok": true})), limits).unwrap_err();
    assert!(err.contains("must return `branches`"), "{err}");
    let three = json!({"branches": ["auto_approve", "manager_approval", "finance_review"]});
    assert!(read_outcome(&t, decision, Some(&three), limits).unwrap_err().contains("at most 2"));
    let twice = json!({"branches": ["auto_approve", "auto_approve"]});
    assert_eq!(read_outcome(&t, decision, Some(&twice), limits), Ok(Outcome::Branches(vec!["auto_approve".into()])));

    let c = template(COMBINED);
    let split = &c.steps[4];
    assert!(read_outcome(&c, split, Some(&json!({"batches": [1]})), limits).unwrap_err().contains("`batches[0]`"));
    let many = json!({"batches": [{}, {}, {}]});
    assert!(read_outcome(&c, split, Some(&many), limits).unwrap_err().contains("execution.max_batch_instances"));
}

#[test]
fn templates_whose_dynamic_steps_cannot_work_are_rejected_naming_the_field() {
    let cases = [
        ("  - {name: d, handler: h, type: decision}\n", "steps[0].type"),
        ("  - {name: a, handler: h}\n  - {name: w, handler: h, type: batch_worker, depends_on: [a]}\n", "steps[1].depends_on"),
        ("  - {name: c, handler: h, type: convergence}\n", "steps[0].depends_on"),
        (
            "  - {name: s, handler: h, type: batchable}\n  - {name: w, handler: h, type: batch_worker, depends_on: [s]}\n  - {name: after, handler: h, depends_on: [w]}\n",
            "steps[2].depends_on",
        ),
        (
            "  - {name: d1, handler: h, type: decision}\n  - {name: d2, handler: h, type: decision}\n  - {name: a, handler: h, depends_on: [d1]}\n  - {name: b, handler: h, depends_on: [d2]}\n  - {name: both, handler: h, depends_on: [a, b]}\n",
            "steps[4].depends_on",
        ),
        (
            "  - {name: s, handler: h, type: batchable}\n  - {name: w, handler: h, type: batch_worker, depends_on: [s]}\n  - {name: w_001, handler: h}\n",
            "steps[2].name",
        ),
    ];
    for (steps, field) in cases {
        let yaml = format!("namespace: n\nname: x\nversion: '1'\nsteps:\n{steps}");
        let err = parse_template(&yaml).expect_err(steps);
        assert_eq!(err.field, field, "{steps}: {err}");
    }
}
