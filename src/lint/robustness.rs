//! Property tests of the whole linter on hostile input: arbitrary bytes and random mutations
//! of real fixtures must never panic and must finish in bounded time. (Test-only module.)
use super::{Config, FileKind, NoLocalFiles, ParsedFile, lint_parsed};
use proptest::prelude::*;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SEEDS: &[&str] = &[
    include_str!("../../tests/fixtures/lint/err/job-needs/graph.yml"),
    include_str!("../../tests/fixtures/lint/err/workflow-inputs/inputs.yml"),
    include_str!("../../tests/fixtures/lint/err/deprecated-commands/commands.yml"),
    include_str!("../../tests/fixtures/lint/err/composite-shell/action.yml"),
    include_str!("../../tests/fixtures/lint/ok/matrix-keys.yml"),
    include_str!("../../tests/fixtures/lint/ok/trigger-event.yml"),
    include_str!("../../tests/fixtures/lint/ok/schema.yml"),
];

/// Fragments that stress YAML and expression parsing when spliced anywhere.
const FRAGMENTS: &[&str] = &[
    ":",
    "- ",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "\t",
    "${{ ",
    " }}",
    "'",
    "\"",
    "\n",
    "    ",
    "|\n",
    ">-\n",
    "<<: *a\n",
    "---\n",
    "#",
    "\\",
    "!!str ",
    "? ",
    "\u{feff}",
    "é",
    "\0",
    "needs: [",
    "if: ${{ a.b[",
    "::set-output name=",
];

fn lint_bytes(bytes: &[u8]) -> Duration {
    let start = Instant::now();
    let file = Arc::new(ParsedFile::parse(bytes));
    for kind in [FileKind::Workflow, FileKind::Action] {
        let report = lint_parsed(
            "fuzz.yml",
            Arc::clone(&file),
            Some(kind),
            &Config::default(),
            &NoLocalFiles,
        );
        for f in &report.findings {
            assert!(f.span.start.offset as usize <= file.source.len());
            assert!(f.span.end.offset as usize <= file.source.len());
        }
        if let Some(fixed) = super::fix::fix_report(&report, super::Severity::Note) {
            // Fixed text must still be parseable input (it may hold other problems).
            let _ = ParsedFile::parse(fixed.fixed.as_bytes());
        }
    }
    start.elapsed()
}

#[derive(Debug, Clone)]
enum Mutation {
    Delete { at: usize, len: usize },
    Insert { at: usize, fragment: usize },
    Duplicate { at: usize, len: usize },
    Byte { at: usize, value: u8 },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 0usize..40).prop_map(|(at, len)| Mutation::Delete { at, len }),
        (any::<usize>(), 0..FRAGMENTS.len()).prop_map(|(at, fragment)| Mutation::Insert { at, fragment }),
        (any::<usize>(), 0usize..200).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Mutation::Byte { at, value }),
    ]
}

fn apply(seed: &str, mutations: &[Mutation]) -> Vec<u8> {
    let mut bytes = seed.as_bytes().to_vec();
    for m in mutations {
        let n = bytes.len().max(1);
        match *m {
            Mutation::Delete { at, len } => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                if at < end {
                    bytes.drain(at..end);
                }
            }
            Mutation::Insert { at, fragment } => {
                let at = (at % n).min(bytes.len());
                bytes.splice(at..at, FRAGMENTS[fragment].bytes());
            }
            Mutation::Duplicate { at, len } => {
                let at = at % n;
                let end = (at + len).min(bytes.len());
                let copy: Vec<u8> = bytes.get(at..end).unwrap_or_default().to_vec();
                bytes.splice(at..at, copy);
            }
            Mutation::Byte { at, value } => {
                if !bytes.is_empty() {
                    let i = at % bytes.len();
                    bytes[i] = value;
                }
            }
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1024)) {
        prop_assert!(lint_bytes(&bytes) < Duration::from_secs(2));
    }

    #[test]
    fn mutated_fixtures_never_panic(seed in 0..SEEDS.len(), mutations in proptest::collection::vec(mutation(), 1..8)) {
        let bytes = apply(SEEDS[seed], &mutations);
        prop_assert!(lint_bytes(&bytes) < Duration::from_secs(2));
    }
}

/// Parsing and the framework's rules on 10 MB, a long flow sequence and deep nesting. The
/// expression rules are left out of the 10 MB case: their cost grows faster than linearly
/// with the number of steps in one job (reported to their owner); they run on the other inputs.
#[test]
fn large_and_deep_inputs_stay_bounded() {
    let mut big = String::from("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n");
    while big.len() < 10 * 1024 * 1024 {
        big.push_str("      - run: echo ${{ github.sha }} && make test\n");
    }
    let start = Instant::now();
    let mut config = Config::default();
    for rule in super::registry::RULES {
        let id = rule.meta().id;
        if matches!(
            id,
            "expression-syntax"
                | "expression-type"
                | "context-availability"
                | "undefined-reference"
                | "template-injection"
        ) {
            config
                .rules
                .insert(id.to_string(), super::config::RuleSetting::Off);
        }
    }
    let file = Arc::new(ParsedFile::parse(big.as_bytes()));
    let report = lint_parsed("big.yml", file, Some(FileKind::Workflow), &config, &NoLocalFiles);
    assert!(report.findings.iter().all(|f| f.rule != "yaml-syntax"));
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "10 MB took {:?}",
        start.elapsed()
    );
    for input in [
        format!("x: [{}]\n", "1, ".repeat(200_000)),
        format!("{}x{}", "[".repeat(100_000), "]".repeat(100_000)),
        "- ".repeat(50_000),
    ] {
        let took = lint_bytes(input.as_bytes());
        assert!(took < Duration::from_secs(20), "took {took:?}");
    }
}
