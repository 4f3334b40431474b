//! The release ledger of one project and environment: an append-only JSONL key in the `Store`
//! (`ledger/<project>/<env>.jsonl`), one versioned event per line. Appending never rewrites a
//! line, so concurrent writers and the git store merge by construction; the current view is
//! the fold of all events. Pure: text in, releases out; the caller does the I/O.
use crate::deploy::release::{Release, Scope, Verdict};
use crate::error::{Error, ErrorCode, Result};
use serde::{Deserialize, Serialize};

/// Version of the ledger line format; readers refuse lines of other versions.
pub const LEDGER_VERSION: u32 = 1;

/// The store key of a scope's ledger.
pub fn ledger_key(scope: &Scope) -> String {
    format!("ledger/{}/{}.jsonl", scope.project, scope.env)
}

/// One line of the ledger (v1). Unknown fields are refused by the event (the flattened part
/// sees every field the line has besides `v` and `ts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerLineV1 {
    pub v: u32,
    /// Unix seconds when the event was written.
    pub ts: i64,
    #[serde(flatten)]
    pub event: LedgerEvent,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case", deny_unknown_fields)]
pub enum LedgerEvent {
    /// A release began (its verdict is `pending`).
    Started { release: Box<Release> },
    /// A release got its (new) verdict.
    Verdict {
        release_id: String,
        verdict: Verdict,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
}

impl LedgerLineV1 {
    pub fn started(ts: i64, release: &Release) -> Self {
        let mut release = release.clone();
        release.verdict = Verdict::Pending;
        release.reason = None;
        LedgerLineV1 {
            v: LEDGER_VERSION,
            ts,
            event: LedgerEvent::Started {
                release: Box::new(release),
            },
        }
    }

    pub fn verdict(ts: i64, release_id: &str, verdict: Verdict, reason: Option<String>) -> Self {
        LedgerLineV1 {
            v: LEDGER_VERSION,
            ts,
            event: LedgerEvent::Verdict {
                release_id: release_id.to_string(),
                verdict,
                reason,
            },
        }
    }

    /// The exact line appended to the store (without the newline).
    pub fn to_line(&self) -> String {
        // A struct of strings and integers always serialises.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The folded ledger: releases in the order they started, each with its latest verdict.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    pub releases: Vec<Release>,
}

impl Ledger {
    /// Folds ledger text. A last line without its newline is a write torn by a crash and is
    /// ignored; any other bad line is corruption (`AUTOSD-STATE-CORRUPT`, naming the line).
    pub fn parse(text: &str) -> Result<Ledger> {
        let mut ledger = Ledger::default();
        let complete = match text.rfind('\n') {
            Some(i) => &text[..=i],
            None => "",
        };
        for (i, line) in complete.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let parsed: LedgerLineV1 = serde_json::from_str(line).map_err(|e| {
                Error::new(
                    ErrorCode::StateCorrupt,
                    format!("release ledger line {}: {e}", i + 1),
                )
                .hint("the ledger is append-only: restore the line from the state store's history")
            })?;
            if parsed.v != LEDGER_VERSION {
                return Err(Error::new(
                    ErrorCode::StateCorrupt,
                    format!(
                        "release ledger line {} has version {} (this autosd reads {LEDGER_VERSION})",
                        i + 1,
                        parsed.v
                    ),
                )
                .hint("upgrade autosd"));
            }
            ledger.apply(parsed.event);
        }
        Ok(ledger)
    }

    fn apply(&mut self, event: LedgerEvent) {
        match event {
            LedgerEvent::Started { release } => {
                // A repeated start (a retried append) must not duplicate the release.
                if !self.releases.iter().any(|r| r.id == release.id) {
                    self.releases.push(*release);
                }
            }
            LedgerEvent::Verdict {
                release_id,
                verdict,
                reason,
            } => {
                if let Some(r) = self.releases.iter_mut().find(|r| r.id == release_id) {
                    r.verdict = verdict;
                    r.reason = reason;
                }
            }
        }
    }

    pub fn find(&self, id: &str) -> Option<&Release> {
        self.releases.iter().find(|r| r.id == id)
    }

    pub fn latest(&self) -> Option<&Release> {
        self.releases.last()
    }

    /// The release serving now: the newest healthy one. A failed deploy never switched
    /// traffic, so it does not count; a rolled-back release was replaced.
    pub fn serving(&self) -> Option<&Release> {
        self.releases.iter().rev().find(|r| r.verdict == Verdict::Healthy)
    }

    /// Releases still `pending` that no running operation owns: left by a process that died
    /// mid-deploy. The caller holds the lock, so every pending release is such a leftover.
    pub fn interrupted(&self) -> Vec<&Release> {
        self.releases
            .iter()
            .filter(|r| r.verdict == Verdict::Pending)
            .collect()
    }

    /// The last known-good release to roll back to from the one serving now.
    ///
    /// Known-good: verdict `healthy`, a digest other than the serving one, and no newer
    /// release of the same digest failed or was rolled back (a digest that went bad since
    /// is not trusted again). Rolled-back releases are never chosen, so two rollbacks in a
    /// row walk further back instead of flip-flopping between two bad releases.
    pub fn last_known_good(&self) -> Option<&Release> {
        let serving = self.serving();
        let serving_digest = serving.map(|r| r.digest.as_str());
        let mut distrusted: Vec<&str> = Vec::new();
        for r in self.releases.iter().rev() {
            match r.verdict {
                Verdict::Failed | Verdict::RolledBack => distrusted.push(&r.digest),
                Verdict::Healthy => {
                    let is_serving = serving.is_some_and(|s| s.id == r.id);
                    if !is_serving
                        && Some(r.digest.as_str()) != serving_digest
                        && !distrusted.contains(&r.digest.as_str())
                    {
                        return Some(r);
                    }
                }
                Verdict::Pending => {}
            }
        }
        None
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::deploy::release::{Origin, Who};

    pub(crate) fn release(id: &str, digest: &str, verdict: Verdict) -> Release {
        Release {
            id: id.into(),
            project: "shop".into(),
            env: "staging".into(),
            target: "docker".into(),
            image: format!("shop:{digest}"),
            digest: format!("sha256:{digest}"),
            origin: Origin::Deploy,
            who: Who {
                kind: "user".into(),
                name: "ann".into(),
                repository: None,
                run_id: None,
            },
            when: 1_700_000_000,
            grant_id: None,
            verdict,
            reason: None,
        }
    }

    pub(crate) fn ledger_of(rs: &[(&str, &str, Verdict)]) -> Ledger {
        Ledger {
            releases: rs.iter().map(|(i, d, v)| release(i, d, *v)).collect(),
        }
    }

    #[test]
    fn lines_round_trip_and_fold() {
        let r = release("r1", "aa", Verdict::Healthy);
        let mut text = String::new();
        text.push_str(&LedgerLineV1::started(1, &r).to_line());
        text.push('\n');
        text.push_str(&LedgerLineV1::verdict(2, "r1", Verdict::Healthy, None).to_line());
        text.push('\n');
        let ledger = Ledger::parse(&text).expect("parse");
        assert_eq!(ledger.releases, vec![r]);
        assert!(text.lines().all(|l| l.starts_with("{\"v\":1,")));
    }

    #[test]
    fn started_line_is_pending_whatever_the_input() {
        let r = release("r1", "aa", Verdict::Healthy);
        let line = LedgerLineV1::started(1, &r);
        let LedgerEvent::Started { release } = line.event else {
            panic!("a started event")
        };
        assert_eq!(release.verdict, Verdict::Pending);
    }

    #[test]
    fn torn_tail_is_ignored_but_corruption_is_not() {
        let r = release("r1", "aa", Verdict::Pending);
        let good = format!("{}\n", LedgerLineV1::started(1, &r).to_line());
        let torn = format!("{good}{{\"v\":1,\"ts\":2,\"ev");
        assert_eq!(Ledger::parse(&torn).expect("torn tail").releases.len(), 1);
        let bad = format!("{good}not json\n");
        let err = Ledger::parse(&bad).expect_err("corrupt");
        assert_eq!(err.code, ErrorCode::StateCorrupt);
        assert!(err.message.contains("line 2"), "{}", err.message);
        let future = good.replace("{\"v\":1,", "{\"v\":2,");
        assert_eq!(
            Ledger::parse(&future).expect_err("version").code,
            ErrorCode::StateCorrupt
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let line = "{\"v\":1,\"ts\":1,\"event\":\"verdict\",\"release_id\":\"r1\",\"verdict\":\"healthy\",\"extra\":1}\n";
        assert!(Ledger::parse(line).is_err());
    }

    #[test]
    fn serving_is_the_newest_healthy() {
        let l = ledger_of(&[("r1", "a", Verdict::Healthy), ("r2", "b", Verdict::Failed)]);
        assert_eq!(l.serving().map(|r| r.id.as_str()), Some("r1"));
        assert_eq!(Ledger::default().serving(), None);
    }

    #[test]
    fn known_good_skips_failed_rolled_back_and_the_serving_digest() {
        let l = ledger_of(&[
            ("r1", "a", Verdict::Healthy),
            ("r2", "b", Verdict::Healthy),
            ("r3", "c", Verdict::Failed),
            ("r4", "b", Verdict::Healthy),
        ]);
        // r4 serves digest b, so r2 (same digest) is no rollback; r1 is.
        assert_eq!(l.last_known_good().map(|r| r.id.as_str()), Some("r1"));
    }

    #[test]
    fn two_rollbacks_walk_back_instead_of_flip_flopping() {
        // v1 good, v2 good, v3 turned bad and was rolled back to v2 (r4); v2 now bad too.
        let l = ledger_of(&[
            ("r1", "v1", Verdict::Healthy),
            ("r2", "v2", Verdict::Healthy),
            ("r3", "v3", Verdict::RolledBack),
            ("r4", "v2", Verdict::Healthy),
        ]);
        assert_eq!(l.last_known_good().map(|r| r.id.as_str()), Some("r1"));
        // After the second rollback r4 is rolled back and r5 serves v1: v3 and v2 are out.
        let l = ledger_of(&[
            ("r1", "v1", Verdict::Healthy),
            ("r2", "v2", Verdict::Healthy),
            ("r3", "v3", Verdict::RolledBack),
            ("r4", "v2", Verdict::RolledBack),
            ("r5", "v1", Verdict::Healthy),
        ]);
        assert_eq!(l.last_known_good(), None);
    }

    #[test]
    fn a_digest_that_failed_later_is_not_known_good() {
        let l = ledger_of(&[
            ("r1", "v1", Verdict::Healthy),
            ("r2", "v2", Verdict::Healthy),
            ("r3", "v1", Verdict::Failed),
            ("r4", "v3", Verdict::Healthy),
        ]);
        assert_eq!(l.last_known_good().map(|r| r.id.as_str()), Some("r2"));
    }

    #[test]
    fn interrupted_lists_pending() {
        let l = ledger_of(&[("r1", "a", Verdict::Healthy), ("r2", "b", Verdict::Pending)]);
        let ids: Vec<_> = l.interrupted().iter().map(|r| r.id.clone()).collect();
        assert_eq!(ids, vec!["r2"]);
    }
}
