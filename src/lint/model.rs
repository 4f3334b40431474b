//! A thin typed view of workflows and action metadata over the spanned YAML tree. Views
//! borrow nodes and hand back nodes, so every value a rule inspects still has its span.
//! Views never judge: a missing or wrongly-typed key is simply `None` here (the schema
//! layer reports it), so rules can walk valid and broken files alike.
use super::yaml::{Entry, Node};

/// The root of a workflow file (`.github/workflows/*.yml`).
#[derive(Debug, Clone, Copy)]
pub struct Workflow<'a> {
    pub root: &'a Node,
}

impl<'a> Workflow<'a> {
    pub fn new(root: &'a Node) -> Option<Workflow<'a>> {
        root.as_map().map(|_| Workflow { root })
    }

    pub fn name(&self) -> Option<&'a Node> {
        self.root.get("name")
    }

    /// The `on:` entry (key and value), when present.
    pub fn on(&self) -> Option<&'a Entry> {
        self.root.entry("on")
    }

    /// Triggers as `(event name node, its configuration node if any)`, for the three
    /// spellings: `on: push`, `on: [push, pull_request]` and `on: {push: {...}}`.
    pub fn events(&self) -> Vec<(&'a Node, Option<&'a Node>)> {
        let Some(on) = self.on() else { return Vec::new() };
        match on.value.as_map() {
            Some(entries) => entries.iter().map(|e| (&e.key, Some(&e.value))).collect(),
            None => on.value.items().into_iter().map(|n| (n, None)).collect(),
        }
    }

    /// The configuration of trigger `event` (null for `on: [push]`-style triggers).
    pub fn event(&self, event: &str) -> Option<(&'a Node, Option<&'a Node>)> {
        self.events().into_iter().find(|(k, _)| k.as_str() == Some(event))
    }

    pub fn has_event(&self, event: &str) -> bool {
        self.event(event).is_some()
    }

    pub fn permissions(&self) -> Option<&'a Entry> {
        self.root.entry("permissions")
    }

    pub fn env(&self) -> Option<&'a Node> {
        self.root.get("env")
    }

    pub fn defaults(&self) -> Option<&'a Node> {
        self.root.get("defaults")
    }

    pub fn jobs_node(&self) -> Option<&'a Entry> {
        self.root.entry("jobs")
    }

    /// Jobs in source order.
    pub fn jobs(&self) -> impl Iterator<Item = Job<'a>> + use<'a> {
        self.root
            .get("jobs")
            .and_then(Node::as_map)
            .unwrap_or_default()
            .iter()
            .filter(|e| e.key.as_str().is_some())
            .map(|entry| Job { entry })
    }

    pub fn job(&self, id: &str) -> Option<Job<'a>> {
        self.jobs().find(|j| j.id() == id)
    }

    /// Is this a reusable workflow (`on: workflow_call`)?
    pub fn is_reusable(&self) -> bool {
        self.has_event("workflow_call")
    }
}

/// One job: `jobs.<id>`.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    pub entry: &'a Entry,
}

impl<'a> Job<'a> {
    pub fn id(&self) -> &'a str {
        self.entry.key.as_str().unwrap_or_default()
    }

    /// The `<id>` key node, for pointing at the job itself.
    pub fn key(&self) -> &'a Node {
        &self.entry.key
    }

    pub fn node(&self) -> &'a Node {
        &self.entry.value
    }

    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.entry.value.get(key)
    }

    pub fn field(&self, key: &str) -> Option<&'a Entry> {
        self.entry.value.entry(key)
    }

    /// `needs:` as a list of job-id nodes (a single string becomes a one-item list).
    pub fn needs(&self) -> Vec<&'a Node> {
        self.get("needs").map(Node::items).unwrap_or_default()
    }

    pub fn runs_on(&self) -> Option<&'a Entry> {
        self.field("runs-on")
    }

    /// `uses:` of a job calling a reusable workflow.
    pub fn uses(&self) -> Option<&'a Node> {
        self.get("uses")
    }

    pub fn with(&self) -> Option<&'a Node> {
        self.get("with")
    }

    pub fn secrets(&self) -> Option<&'a Node> {
        self.get("secrets")
    }

    pub fn permissions(&self) -> Option<&'a Entry> {
        self.field("permissions")
    }

    pub fn env(&self) -> Option<&'a Node> {
        self.get("env")
    }

    pub fn if_cond(&self) -> Option<&'a Node> {
        self.get("if")
    }

    /// `strategy.matrix`, when written as a mapping or as an expression.
    pub fn matrix(&self) -> Option<&'a Node> {
        self.get("strategy")?.get("matrix")
    }

    pub fn outputs(&self) -> Option<&'a Node> {
        self.get("outputs")
    }

    pub fn steps(&self) -> impl Iterator<Item = Step<'a>> + use<'a> {
        steps_of(self.get("steps"))
    }
}

fn steps_of(node: Option<&Node>) -> impl Iterator<Item = Step<'_>> {
    node.and_then(Node::as_seq)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .filter(|(_, n)| n.as_map().is_some())
        .map(|(index, node)| Step { index, node })
}

/// One step of a job or of a composite action.
#[derive(Debug, Clone, Copy)]
pub struct Step<'a> {
    /// Position in the `steps:` list, from 0.
    pub index: usize,
    pub node: &'a Node,
}

impl<'a> Step<'a> {
    pub fn get(&self, key: &str) -> Option<&'a Node> {
        self.node.get(key)
    }

    pub fn field(&self, key: &str) -> Option<&'a Entry> {
        self.node.entry(key)
    }

    pub fn id(&self) -> Option<&'a Node> {
        self.get("id")
    }

    pub fn name(&self) -> Option<&'a Node> {
        self.get("name")
    }

    pub fn uses(&self) -> Option<&'a Node> {
        self.get("uses")
    }

    pub fn run(&self) -> Option<&'a Node> {
        self.get("run")
    }

    pub fn shell(&self) -> Option<&'a Node> {
        self.get("shell")
    }

    pub fn with(&self) -> Option<&'a Node> {
        self.get("with")
    }

    pub fn env(&self) -> Option<&'a Node> {
        self.get("env")
    }

    pub fn if_cond(&self) -> Option<&'a Node> {
        self.get("if")
    }

    /// A short label for messages: the step's id, its name, or its position.
    pub fn label(&self) -> String {
        if let Some(id) = self.id().and_then(Node::as_str) {
            return format!("step `{id}`");
        }
        if let Some(name) = self.name().and_then(Node::as_str) {
            return format!("step \"{name}\"");
        }
        format!("step #{}", self.index + 1)
    }
}

/// The root of action metadata (`action.yml`).
#[derive(Debug, Clone, Copy)]
pub struct Action<'a> {
    pub root: &'a Node,
}

impl<'a> Action<'a> {
    pub fn new(root: &'a Node) -> Option<Action<'a>> {
        root.as_map().map(|_| Action { root })
    }

    pub fn inputs(&self) -> Option<&'a Node> {
        self.root.get("inputs")
    }

    pub fn outputs(&self) -> Option<&'a Node> {
        self.root.get("outputs")
    }

    pub fn runs(&self) -> Option<&'a Entry> {
        self.root.entry("runs")
    }

    /// `runs.using`, e.g. `composite`, `node20`, `docker`.
    pub fn using(&self) -> Option<&'a Node> {
        self.runs()?.value.get("using")
    }

    pub fn is_composite(&self) -> bool {
        self.using().and_then(Node::as_str) == Some("composite")
    }

    /// Steps of a composite action.
    pub fn steps(&self) -> impl Iterator<Item = Step<'a>> + use<'a> {
        steps_of(self.runs().and_then(|r| r.value.get("steps")))
    }
}

/// Which kind of file is being linted; decides which view and schema apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Workflow,
    Action,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Workflow => "workflow",
            FileKind::Action => "action",
        }
    }

    /// By path first (`action.y(a)ml` is an action, anything else a workflow), then by
    /// content for stdin and odd names: a root with `runs:` and no `jobs:` is an action.
    pub fn detect(path: &str, root: Option<&Node>) -> FileKind {
        let name = path.rsplit(['/', '\\']).next().unwrap_or(path);
        if name == "action.yml" || name == "action.yaml" {
            return FileKind::Action;
        }
        if path.contains(".github/workflows/") {
            return FileKind::Workflow;
        }
        match root {
            Some(r) if r.get("runs").is_some() && r.get("jobs").is_none() => FileKind::Action,
            _ => FileKind::Workflow,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::finding::LineIndex;
    use crate::lint::yaml::{Limits, parse};

    #[test]
    fn views_walk_jobs_steps_and_events() {
        let src = "on: [push, pull_request]\njobs:\n  build:\n    needs: lint\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n      - id: t\n        run: make\n  lint:\n    runs-on: ubuntu-latest\n    steps: []\n";
        let file = parse(src, &LineIndex::new(src), Limits::default());
        let wf = Workflow::new(file.root().expect("doc")).expect("map");
        let events: Vec<_> = wf.events().iter().filter_map(|(k, _)| k.as_str()).collect();
        assert_eq!(events, ["push", "pull_request"]);
        let ids: Vec<_> = wf.jobs().map(|j| j.id()).collect();
        assert_eq!(ids, ["build", "lint"]);
        let build = wf.job("build").expect("build");
        assert_eq!(build.needs()[0].as_str(), Some("lint"));
        let steps: Vec<_> = build.steps().map(|s| s.label()).collect();
        assert_eq!(steps, ["step #1", "step `t`"]);
        assert_eq!(FileKind::detect("x/action.yml", None), FileKind::Action);
        assert_eq!(FileKind::detect("-", wf.root.into()), FileKind::Workflow);
    }
}
