//! `job-needs`: every `needs:` names an existing job, no job needs itself, and the `needs`
//! graph has no cycle.
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};
use crate::lint::yaml::Node;
use std::collections::HashMap;

pub struct JobNeeds;

static META: RuleMeta = RuleMeta {
    id: "job-needs",
    severity: Severity::Error,
    summary: "Checks that `needs:` names existing jobs, never the job itself, and forms no cycle.",
    applies: Applies::Workflows,
    fixable: false,
};

impl Rule for JobNeeds {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        let jobs: Vec<_> = wf.jobs().collect();
        // Job ids are case-insensitive on GitHub.
        let index: HashMap<String, usize> = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| (j.id().to_ascii_lowercase(), i))
            .collect();
        let mut edges: Vec<Vec<(usize, &Node)>> = vec![Vec::new(); jobs.len()];
        for (i, job) in jobs.iter().enumerate() {
            for need in job.needs() {
                let Some(name) = need.as_str() else { continue };
                if need.is_expression() {
                    continue;
                }
                match index.get(&name.to_ascii_lowercase()) {
                    Some(&j) if j == i => {
                        out.push(
                            cx.finding(&META, need.span, format!("job `{}` needs itself", job.id()))
                                .help("remove it from `needs:`"),
                        );
                    }
                    Some(&j) => edges[i].push((j, need)),
                    None => {
                        let mut f = cx.finding(
                            &META,
                            need.span,
                            format!("job `{}` needs unknown job `{name}`", job.id()),
                        );
                        let ids: Vec<&str> = jobs.iter().map(|j| j.id()).collect();
                        f = f.help(match closest(name, &ids) {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => format!("jobs in this workflow: {}", ids.join(", ")),
                        });
                        out.push(f);
                    }
                }
            }
        }
        // Colour-marking DFS; each cycle is reported once, at the edge that closes it.
        let mut state = vec![0u8; jobs.len()];
        let mut path: Vec<usize> = Vec::new();
        for start in 0..jobs.len() {
            if state[start] == 0 {
                visit(
                    start,
                    &edges,
                    &mut state,
                    &mut path,
                    &mut |cycle: &[usize], closing: &Node| {
                        let names: Vec<&str> =
                            cycle.iter().chain(cycle.first()).map(|&k| jobs[k].id()).collect();
                        out.push(
                            cx.finding(
                                &META,
                                closing.span,
                                format!("jobs depend on each other in a cycle: {}", names.join(" -> ")),
                            )
                            .help("a job can only need jobs that do not (indirectly) need it"),
                        );
                    },
                );
            }
        }
    }
}

fn visit<'a>(
    at: usize,
    edges: &[Vec<(usize, &'a Node)>],
    state: &mut [u8],
    path: &mut Vec<usize>,
    report: &mut dyn FnMut(&[usize], &'a Node),
) {
    state[at] = 1;
    path.push(at);
    for &(next, node) in &edges[at] {
        match state[next] {
            0 => visit(next, edges, state, path, report),
            1 => {
                let from = path.iter().position(|&p| p == next).unwrap_or(0);
                report(&path[from..], node);
            }
            _ => {}
        }
    }
    path.pop();
    state[at] = 2;
}

/// The candidate within edit distance 2 of `name`, if any (for "did you mean").
pub fn closest<'a>(name: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| {
            (
                edit_distance(&name.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                *c,
            )
        })
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use crate::lint::testing::lint;

    const HEAD: &str = "on: push\njobs:\n";

    #[test]
    fn unknown_self_and_cycles() {
        let src = format!(
            "{HEAD}  a:\n    runs-on: x\n    needs: [b, bulid]\n  b:\n    runs-on: x\n    needs: c\n  c:\n    runs-on: x\n    needs: [a, c]\n  build:\n    runs-on: x\n"
        );
        let found = lint("w.yml", &src, "job-needs");
        let msgs: Vec<_> = found.iter().map(|f| (f.0, f.2.as_str())).collect();
        assert!(
            msgs.contains(&(5, "job `a` needs unknown job `bulid`"))
                || found.iter().all(|f| !f.2.contains("bulid")),
            "{msgs:?}"
        );
        assert!(
            found.iter().any(|f| f.2 == "job `c` needs itself" && f.0 == 11),
            "{found:?}"
        );
        assert!(
            found.iter().any(|f| f.2.contains("cycle: a -> b -> c -> a")),
            "{found:?}"
        );
    }

    #[test]
    fn unknown_job_gets_a_suggestion() {
        let src = format!("{HEAD}  test:\n    runs-on: x\n  deploy:\n    runs-on: x\n    needs: tset\n");
        let found = lint("w.yml", &src, "job-needs");
        assert_eq!(
            found,
            vec![(7, 12, "job `deploy` needs unknown job `tset`".to_string())]
        );
    }

    #[test]
    fn valid_graph_is_clean() {
        let src = format!("{HEAD}  a:\n    runs-on: x\n  B:\n    runs-on: x\n    needs: [A]\n");
        assert!(lint("w.yml", &src, "job-needs").is_empty());
    }
}
