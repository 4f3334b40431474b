//! Verification of an audit log handed in as bytes (pure: no I/O). Walks the lines once and
//! reports the first record that breaks the chain, or a torn tail, and optionally checks the
//! log against a checkpoint (size + head hash) so truncation of whole records is caught too.
use super::record::{GENESIS_PREV, RECORD_VERSION, Record, sha256_hex, split_line};

/// What verification found wrong first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Record `seq` (the seq expected at that line) was edited, deleted, reordered, inserted or
    /// is not a record at all.
    Tampered { seq: u64, reason: String },
    /// The last line is half-written (no trailing newline); everything before it verifies.
    TornTail { seq: u64, bytes: usize },
}

/// A checkpoint to hold the log against: the log must have at least `size` records and
/// record `size` must have hash `head`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anchor {
    pub size: u64,
    pub head: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnchorCheck {
    Matches,
    /// The log holds fewer records than the checkpoint: truncated.
    Truncated {
        records: u64,
    },
    /// Record `size` exists but its hash differs: history was rewritten.
    Diverged {
        seq: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Records that verified, from seq 1 up to the first problem.
    pub records: u64,
    /// Hash of the last verified record (`GENESIS_PREV` for an empty log).
    pub head: String,
    pub finding: Option<Finding>,
    pub anchor: Option<AnchorCheck>,
}

/// Verifies `log` (the whole file's bytes). `anchor`, if given, is checked while walking.
pub fn verify(log: &[u8], anchor: Option<&Anchor>) -> Report {
    let mut prev = GENESIS_PREV.to_string();
    let mut count: u64 = 0;
    let mut anchor_check = None;
    let mut finding = None;
    let mut rest = log;
    while !rest.is_empty() {
        let expected = count + 1;
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            finding = Some(classify_tail(rest, expected, &prev));
            break;
        };
        let line = &rest[..nl];
        rest = &rest[nl + 1..];
        match check_line(line, expected, &prev) {
            Ok(hash) => {
                if let Some(a) = anchor
                    && a.size == expected
                    && a.head != hash
                {
                    anchor_check = Some(AnchorCheck::Diverged { seq: expected });
                }
                prev = hash;
                count = expected;
            }
            Err(reason) => {
                finding = Some(Finding::Tampered {
                    seq: expected,
                    reason,
                });
                break;
            }
        }
    }
    if let Some(a) = anchor
        && anchor_check.is_none()
    {
        anchor_check = Some(if count < a.size {
            AnchorCheck::Truncated { records: count }
        } else {
            AnchorCheck::Matches
        });
    }
    Report {
        records: count,
        head: prev,
        finding,
        anchor: anchor_check,
    }
}

/// Checks one complete line as record `expected` following `prev`; returns its hash.
pub fn check_line(line: &[u8], expected: u64, prev: &str) -> Result<String, String> {
    let (body, hash) = split_line(line).ok_or_else(|| "not a well-formed audit record line".to_string())?;
    if sha256_hex(&body) != hash {
        return Err("hash does not match the record's content (record edited)".into());
    }
    let record: Record =
        serde_json::from_slice(&body).map_err(|e| format!("record does not follow the schema: {e}"))?;
    if record.v != RECORD_VERSION {
        return Err(format!("unknown record version {}", record.v));
    }
    if record.seq != expected {
        return Err(format!(
            "found seq {} where seq {expected} was expected (record deleted, reordered or inserted)",
            record.seq
        ));
    }
    if record.prev != prev {
        return Err(
            "prev does not match the previous record's hash (record deleted, reordered or inserted)".into(),
        );
    }
    Ok(hash.to_string())
}

/// A final segment without a newline: a crash during an append leaves a prefix of a record
/// (JSON ending early) or a whole record whose newline never landed. Anything else there,
/// such as a record followed by stray bytes, is tampering.
fn classify_tail(tail: &[u8], expected: u64, prev: &str) -> Finding {
    let torn = Finding::TornTail {
        seq: expected,
        bytes: tail.len(),
    };
    if check_line(tail, expected, prev).is_ok() {
        return torn;
    }
    match serde_json::from_slice::<serde_json::Value>(tail) {
        Err(e) if e.classify() == serde_json::error::Category::Eof => torn,
        _ => Finding::Tampered {
            seq: expected,
            reason: "the last line is neither a record nor a half-written one".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::record::{AuditEvent, Phase, RecordActor};
    use super::*;

    fn log(n: u64) -> (Vec<u8>, Vec<String>) {
        let actor = RecordActor::User { name: "t".into() };
        let mut prev = GENESIS_PREV.to_string();
        let mut out = Vec::new();
        let mut hashes = Vec::new();
        for seq in 1..=n {
            let ev = AuditEvent::new("halt", Phase::Event).project("p");
            let r = Record::seal(&ev, seq, &prev, "2026-01-01T00:00:00Z", &actor);
            out.extend_from_slice(&r.to_line());
            out.push(b'\n');
            prev = r.hash.clone();
            hashes.push(r.hash);
        }
        (out, hashes)
    }

    #[test]
    fn empty_and_intact_logs_verify() {
        let r = verify(b"", None);
        assert_eq!((r.records, r.finding), (0, None));
        let (bytes, hashes) = log(5);
        let r = verify(&bytes, None);
        assert_eq!(r.records, 5);
        assert_eq!(r.head, hashes[4]);
        assert_eq!(r.finding, None);
    }

    #[test]
    fn anchor_detects_truncation_and_divergence() {
        let (bytes, hashes) = log(5);
        let anchor = Anchor {
            size: 5,
            head: hashes[4].clone(),
        };
        assert_eq!(verify(&bytes, Some(&anchor)).anchor, Some(AnchorCheck::Matches));
        let cut = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .nth(3)
            .map(|(i, _)| i + 1);
        let short = &bytes[..cut.expect("four lines")];
        assert_eq!(
            verify(short, Some(&anchor)).anchor,
            Some(AnchorCheck::Truncated { records: 4 })
        );
        let wrong = Anchor {
            size: 3,
            head: hashes[4].clone(),
        };
        assert_eq!(
            verify(&bytes, Some(&wrong)).anchor,
            Some(AnchorCheck::Diverged { seq: 3 })
        );
    }

    #[test]
    fn complete_record_without_newline_is_a_torn_tail_but_stray_bytes_are_not() {
        let (bytes, _) = log(2);
        let r = verify(&bytes[..bytes.len() - 1], None);
        assert!(matches!(r.finding, Some(Finding::TornTail { seq: 2, .. })));
        let mut stray = bytes.clone();
        *stray.last_mut().expect("non-empty") = b'x';
        assert!(matches!(
            verify(&stray, None).finding,
            Some(Finding::Tampered { seq: 2, .. })
        ));
    }
}
