//! Parsing templates from YAML and loading a directory of them.

use super::{validate::validate, TaskTemplate, TemplateError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Parse and validate one template from YAML text (YAML 1.2, pure Rust: serde-saphyr). A document that does not
/// fit the template's shape names the field at fault (`steps[1].retry.max_attempts`), found by
/// serde_path_to_error.
pub fn parse_template(yaml: &str) -> Result<TaskTemplate, TemplateError> {
    let mut path = String::new();
    let parsed = serde_saphyr::with_deserializer_from_str(yaml, |de| {
        serde_path_to_error::deserialize::<_, TaskTemplate>(de).map_err(|e| {
            path = e.path().to_string();
            e.into_inner()
        })
    });
    let template = parsed.map_err(|e| {
        let field = if path.is_empty() || path == "." { "(document)".to_string() } else { path.clone() };
        // The first line (`line 6 column 27: unknown field …`); the rest draws the source around it.
        let message = e.to_string();
        let first = message.lines().next().unwrap_or_default();
        TemplateError::new(field, first.strip_prefix("error: ").unwrap_or(first))
    })?;
    validate(&template)?;
    Ok(template)
}

/// The outcome of loading a directory: the valid templates and an error for each invalid file.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Templates that parsed and validated.
    pub templates: Vec<TaskTemplate>,
    /// One error per file that did not.
    pub errors: Vec<TemplateError>,
    /// The file each template came from, by `namespace/name@version`.
    pub files: BTreeMap<String, PathBuf>,
}

/// Load every `*.yaml`/`*.yml` file under `dir` (recursively). Invalid files are reported, not fatal, so that
/// a server keeps serving the valid ones. A missing directory loads nothing.
pub fn load_dir(dir: &Path) -> LoadReport {
    let mut report = LoadReport::default();
    let mut files = Vec::new();
    collect_files(dir, &mut files);
    files.sort();
    for file in files {
        let loaded = std::fs::read_to_string(&file)
            .map_err(|e| TemplateError::new("(file)", e.to_string()))
            .and_then(|text| parse_template(&text));
        match loaded {
            Ok(t) => {
                if report.templates.iter().any(|o| o.key() == t.key()) {
                    report
                        .errors
                        .push(TemplateError::new("version", format!("{} is defined twice", t.key())).in_file(file));
                } else {
                    report.files.insert(t.key(), file.clone());
                    report.templates.push(t);
                }
            }
            Err(e) => report.errors.push(e.in_file(file)),
        }
    }
    report
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // Hidden entries are skipped: a Kubernetes ConfigMap volume holds its files twice more, under `..data` and
        // `..<timestamp>`, and every template would be read three times.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, out);
        } else if matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = r#"
namespace: linear_workflow
name: mathematical_sequence
version: 1.0.0
input_schema: {type: object, required: [even_number], properties: {even_number: {type: integer, multipleOf: 2}}}
steps:
  - name: linear_step_1
    handler: linear_workflow.square
    retry: {max_attempts: 3, backoff: exponential, base_ms: 200, max_ms: 30000}
    timeout_seconds: 30
  - name: linear_step_2
    handler: linear_workflow.square
    depends_on: [linear_step_1]
"#;

    fn err(yaml: &str) -> TemplateError {
        parse_template(yaml).expect_err("template should be rejected")
    }

    #[test]
    fn parses_the_documented_format() {
        let t = parse_template(VALID).unwrap();
        assert_eq!(t.key(), "linear_workflow/mathematical_sequence@1.0.0");
        assert_eq!(t.steps[1].depends_on, vec!["linear_step_1"]);
        assert_eq!(t.steps[0].retry.as_ref().unwrap().max_attempts, Some(3));
        let order: Vec<_> = t.topological_order().iter().map(|s| s.name.clone()).collect();
        assert_eq!(order, vec!["linear_step_1", "linear_step_2"]);
    }

    #[test]
    fn rejects_duplicate_step_names() {
        let e = err(&VALID.replace("linear_step_2\n    handler", "linear_step_1\n    handler"));
        assert_eq!(e.field, "steps[1].name");
        assert_eq!(e.step.as_deref(), Some("linear_step_1"));
    }

    #[test]
    fn rejects_unknown_dependency() {
        let e = err(&VALID.replace("depends_on: [linear_step_1]", "depends_on: [nope]"));
        assert_eq!(e.field, "steps[1].depends_on");
        assert!(e.message.contains("nope"));
    }

    #[test]
    fn rejects_self_dependency() {
        let e = err(&VALID.replace("depends_on: [linear_step_1]", "depends_on: [linear_step_2]"));
        assert!(e.message.contains("itself"), "{e}");
    }

    #[test]
    fn rejects_cycles() {
        let yaml =
            VALID.replace("    timeout_seconds: 30\n", "    timeout_seconds: 30\n    depends_on: [linear_step_2]\n");
        let e = err(&yaml);
        assert!(e.message.contains("cycle"), "{e}");
        assert!(e.step.is_some());
    }

    #[test]
    fn rejects_invalid_schema() {
        let e = err(&VALID.replace("type: integer, multipleOf: 2", "type: 12"));
        assert_eq!(e.field, "input_schema");
    }

    #[test]
    fn rejects_unknown_fields_naming_them() {
        let e = err(&VALID.replace("timeout_seconds: 30", "timeout_secs: 30"));
        assert!(e.message.contains("timeout_secs"), "{e}");
    }

    #[test]
    fn rejects_bad_namespace() {
        let e = err(&VALID.replace("namespace: linear_workflow", "namespace: Linear-Workflow"));
        assert_eq!(e.field, "namespace");
    }

    #[test]
    fn rejects_overlong_or_control_character_names_and_numbers_past_32_bits() {
        let long = "x".repeat(256);
        let e = err(&VALID.replace("name: mathematical_sequence", &format!("name: {long}")));
        assert_eq!(e.field, "name");
        assert_eq!(err(&VALID.replace("version: 1.0.0", "version: \"1\\u0000\"")).field, "version");
        let e = err(&VALID.replace("- name: linear_step_2", &format!("- name: {long}")));
        assert_eq!(e.field, "steps[1].name");
        let e =
            err(&VALID.replace("handler: linear_workflow.square\n    retry", &format!("handler: {long}\n    retry")));
        assert_eq!(e.field, "steps[0].handler");
        assert_eq!(
            err(&VALID.replace("max_attempts: 3", "max_attempts: 3000000000")).field,
            "steps[0].retry.max_attempts"
        );
        assert_eq!(
            err(&VALID.replace("timeout_seconds: 30", "timeout_seconds: 3000000000")).field,
            "steps[0].timeout_seconds"
        );
        let ok = VALID.replace("name: mathematical_sequence", &format!("name: {}", "x".repeat(255)));
        parse_template(&ok).unwrap();
    }

    #[test]
    fn hidden_entries_are_skipped_as_a_config_map_volume_holds_its_files_three_times() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("..2026_12_04_18_00_00.123");
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("linear.yaml"), VALID).unwrap();
        std::os::unix::fs::symlink(&data, dir.path().join("..data")).unwrap();
        std::os::unix::fs::symlink(dir.path().join("..data/linear.yaml"), dir.path().join("linear.yaml")).unwrap();
        let report = load_dir(dir.path());
        assert_eq!((report.templates.len(), report.errors.len()), (1, 0), "{:?}", report.errors);
    }

    #[test]
    fn load_dir_keeps_valid_and_reports_invalid_with_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("good.yaml"), VALID).unwrap();
        std::fs::write(dir.path().join("bad.yaml"), VALID.replace("[linear_step_1]", "[ghost]")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "ignored").unwrap();
        let report = load_dir(dir.path());
        assert_eq!(report.templates.len(), 1);
        assert_eq!(report.errors.len(), 1);
        let e = &report.errors[0];
        assert!(e.file.as_ref().unwrap().ends_with("bad.yaml"));
        assert!(e.to_string().contains("bad.yaml") && e.to_string().contains("linear_step_2"), "{e}");
    }
}
