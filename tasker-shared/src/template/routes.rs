//! Which handlers each queue carries. A step's message goes to its queue (its `queue:`, or the namespace), so a
//! worker may read a queue only if it can run every step that any template routes there: a message it took and
//! could not run would fail its step. Workers decide what to serve from these routes, at start from the
//! template files and later from the templates registered in the database.

use super::TaskTemplate;
use std::collections::BTreeMap;

/// One step routed to a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// `namespace/name@version` of the template.
    pub template: String,
    /// The step's handler field, e.g. `steps[2].handler`.
    pub field: String,
    /// The handler the step names.
    pub handler: String,
}

/// Every queue named by a set of templates, with the steps routed to it.
#[derive(Debug, Clone, Default)]
pub struct QueueRoutes {
    routes: BTreeMap<String, Vec<Route>>,
}

/// What a worker with a given set of handlers can serve.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Servable {
    /// Queues whose every step has its handler here, each with those handlers (sorted, no repeats).
    pub served: BTreeMap<String, Vec<String>>,
    /// Queues that are not, each with the first step whose handler is missing.
    pub skipped: BTreeMap<String, Route>,
}

impl QueueRoutes {
    /// The routes of `templates`.
    pub fn of<'a>(templates: impl IntoIterator<Item = &'a TaskTemplate>) -> Self {
        let mut routes: BTreeMap<String, Vec<Route>> = BTreeMap::new();
        for template in templates {
            for (i, step) in template.steps.iter().enumerate() {
                routes.entry(template.queue_of(step).to_string()).or_default().push(Route {
                    template: template.key(),
                    field: format!("steps[{i}].handler"),
                    handler: step.handler.clone(),
                });
            }
        }
        Self { routes }
    }

    /// Every queue named, sorted.
    pub fn queues(&self) -> impl Iterator<Item = &str> {
        self.routes.keys().map(String::as_str)
    }

    /// The first step routed to `queue` whose handler `registered` does not know; `None` when every one is
    /// known (or no template names the queue).
    pub fn missing(&self, queue: &str, registered: impl Fn(&str) -> bool) -> Option<&Route> {
        self.routes.get(queue)?.iter().find(|r| !registered(&r.handler))
    }

    /// Split the queues into those a worker with the `registered` handlers can serve and those it cannot.
    pub fn servable(&self, registered: impl Fn(&str) -> bool) -> Servable {
        let mut out = Servable::default();
        for (queue, routes) in &self.routes {
            match routes.iter().find(|r| !registered(&r.handler)) {
                Some(missing) => {
                    out.skipped.insert(queue.clone(), missing.clone());
                }
                None => {
                    let mut handlers: Vec<String> = routes.iter().map(|r| r.handler.clone()).collect();
                    handlers.sort();
                    handlers.dedup();
                    out.served.insert(queue.clone(), handlers);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::parse_template;

    const POLYGLOT: &str = "namespace: shop\nname: order\nversion: '1'\nsteps:\n\
        - {name: a, handler: py.a, queue: shop_py}\n\
        - {name: b, handler: rb.b, queue: shop_rb, depends_on: [a]}\n\
        - {name: c, handler: rs.c, depends_on: [b]}\n";

    #[test]
    fn a_queue_is_served_only_with_every_handler_routed_to_it() {
        let template = parse_template(POLYGLOT).unwrap();
        let other = parse_template(
            "namespace: misc\nname: x\nversion: '1'\nsteps:\n- {name: a, handler: py.z, queue: shop_py}\n",
        )
        .unwrap();
        let routes = QueueRoutes::of([&template, &other]);
        // `misc` routes its only step elsewhere, so it names no queue of its own.
        assert_eq!(routes.queues().collect::<Vec<_>>(), ["shop", "shop_py", "shop_rb"]);
        let python = routes.servable(|h| h.starts_with("py."));
        assert_eq!(python.served.keys().collect::<Vec<_>>(), ["shop_py"]);
        assert_eq!(python.served["shop_py"], ["py.a", "py.z"]);
        assert_eq!(python.skipped["shop"].handler, "rs.c");
        assert_eq!(python.skipped["shop_rb"].field, "steps[1].handler");
        // Without py.z, shop_py is skipped because of the other template's step.
        let partial = routes.servable(|h| h == "py.a");
        assert_eq!(partial.skipped["shop_py"].template, "misc/x@1");
        assert_eq!(routes.missing("shop_rb", |h| h == "rb.b"), None);
        assert_eq!(routes.missing("shop", |_| false).map(|r| r.handler.as_str()), Some("rs.c"));
    }

    #[test]
    fn a_bad_queue_name_is_rejected_naming_the_field() {
        let err = parse_template(&POLYGLOT.replace("queue: shop_rb", "queue: Shop-RB")).unwrap_err();
        assert_eq!(err.field, "steps[1].queue");
        assert!(err.message.contains("Shop-RB"), "{}", err.message);
        let long = "q".repeat(crate::template::MAX_NAMESPACE_LEN + 1);
        assert_eq!(parse_template(&POLYGLOT.replace("shop_rb", &long)).unwrap_err().field, "steps[1].queue");
    }
}
