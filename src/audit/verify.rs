//! Verification of an audit log handed in as bytes (pure: no I/O). Walks the lines once and
//! reports the first record that breaks the chain, or a torn tail, and optionally checks the
//! log against a checkpoint (size + head hash) so truncation of whole records is caught too.
use super::record::{GENESIS_PREV, HASH_SUFFIX_LEN, RECORD_VERSION, hex};
use sha2::{Digest, Sha256};

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

/// Logs larger than this are verified on several threads.
const PARALLEL_BYTES: usize = 8 * 1024 * 1024;

/// Verifies `log` (the whole file's bytes). `anchor`, if given, is checked while walking.
///
/// Large logs are cut at line boundaries into one chunk per core; each chunk is checked on
/// its own (hashes, record shape, seq and prev continuity inside the chunk) and the chunks
/// are then stitched in order (each chunk's first record must continue the previous chunk),
/// so the result is exactly that of a single sequential walk.
pub fn verify(log: &[u8], anchor: Option<&Anchor>) -> Report {
    let threads = if log.len() > PARALLEL_BYTES {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    } else {
        1
    };
    verify_on(log, anchor, threads)
}

/// [`verify`] with an explicit number of chunks (threads); the result never depends on it.
pub fn verify_on(log: &[u8], anchor: Option<&Anchor>, threads: usize) -> Report {
    let complete = log.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    let (body, tail) = log.split_at(complete);
    let chunks = split_chunks(body, threads);
    let results: Vec<ChunkResult<'_>> = if chunks.len() == 1 {
        chunks.iter().map(|c| check_chunk(c, anchor)).collect()
    } else {
        std::thread::scope(|s| {
            let handles: Vec<_> = chunks
                .iter()
                .map(|c| s.spawn(move || check_chunk(c, anchor)))
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| ChunkResult {
                        problem: Some((0, "verification thread failed".into())),
                        ..ChunkResult::default()
                    })
                })
                .collect()
        })
    };

    let mut prev: &str = GENESIS_PREV;
    let mut count: u64 = 0;
    let mut anchor_check = None;
    let mut finding = None;
    for r in &results {
        let expected = count + 1;
        if let Some((seq, claimed_prev)) = r.first {
            if seq != expected {
                finding = Some(tampered(expected, seq_mismatch(seq, expected)));
                break;
            }
            if claimed_prev != prev {
                finding = Some(tampered(expected, PREV_MISMATCH.into()));
                break;
            }
        }
        if let (Some(a), Some(hash)) = (anchor, r.anchor_hash)
            && a.head != hash
        {
            anchor_check = Some(AnchorCheck::Diverged { seq: a.size });
        }
        if let Some((index, reason)) = &r.problem {
            finding = Some(tampered(expected + index, reason.clone()));
            count += index;
            break;
        }
        count += r.lines;
        if let Some(h) = r.last_hash {
            prev = h;
        }
    }
    if finding.is_some() {
        // `prev` must be the hash of the last good record; recompute it sequentially only
        // in this (rare) case instead of tracking it per line in every chunk.
        prev = head_of(body, count);
    } else if !tail.is_empty() {
        finding = Some(classify_tail(tail, count + 1, prev));
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
    if let Some(AnchorCheck::Diverged { seq }) = anchor_check
        && seq > count
    {
        anchor_check = Some(AnchorCheck::Truncated { records: count });
    }
    Report {
        records: count,
        head: prev.to_string(),
        finding,
        anchor: anchor_check,
    }
}

const PREV_MISMATCH: &str =
    "prev does not match the previous record's hash (record deleted, reordered or inserted)";

fn seq_mismatch(found: u64, expected: u64) -> String {
    format!("found seq {found} where seq {expected} was expected (record deleted, reordered or inserted)")
}

fn tampered(seq: u64, reason: String) -> Finding {
    Finding::Tampered { seq, reason }
}

/// The hash of record `n` (the first `n` lines are known good), or genesis for 0.
fn head_of(body: &[u8], n: u64) -> &str {
    if n == 0 {
        return GENESIS_PREV;
    }
    let line = body
        .split(|&b| b == b'\n')
        .nth((n - 1) as usize)
        .unwrap_or_default();
    parse_line(line).map_or(GENESIS_PREV, |(_, _, hash)| hash)
}

/// Cuts `body` (whole lines) into at most `n` chunks of whole lines.
fn split_chunks(body: &[u8], n: usize) -> Vec<&[u8]> {
    let mut chunks = Vec::with_capacity(n);
    let mut start = 0;
    for k in 1..n {
        let target = (body.len() * k / n).max(start);
        let Some(nl) = find_newline(&body[target..]) else {
            break;
        };
        let end = target + nl + 1;
        chunks.push(&body[start..end]);
        start = end;
    }
    chunks.push(&body[start..]);
    chunks
}

/// What one chunk of whole lines holds, relative to its own first line.
#[derive(Default)]
struct ChunkResult<'a> {
    /// Lines verified before the first problem (all of them if none).
    lines: u64,
    /// Seq and prev claimed by the first line, if it is a well-formed record.
    first: Option<(u64, &'a str)>,
    last_hash: Option<&'a str>,
    /// The hash of the line whose seq is the anchor's size.
    anchor_hash: Option<&'a str>,
    /// Index (0-based, in this chunk) and reason of the first bad line.
    problem: Option<(u64, String)>,
}

fn check_chunk<'a>(chunk: &'a [u8], anchor: Option<&Anchor>) -> ChunkResult<'a> {
    let mut r = ChunkResult::default();
    let mut rest = chunk;
    let mut next_seq = 0;
    let mut prev: &str = "";
    while let Some(nl) = find_newline(rest) {
        let line = &rest[..nl];
        rest = &rest[nl + 1..];
        let checked = if r.first.is_none() {
            parse_line(line).map(|(seq, claimed_prev, hash)| {
                r.first = Some((seq, claimed_prev));
                (seq, hash)
            })
        } else {
            check_line(line, next_seq, prev).map(|hash| (next_seq, hash))
        };
        match checked {
            Ok((seq, hash)) => {
                if anchor.is_some_and(|a| a.size == seq) {
                    r.anchor_hash = Some(hash);
                }
                r.lines += 1;
                r.last_hash = Some(hash);
                prev = hash;
                next_seq = seq + 1;
            }
            Err(reason) => {
                r.problem = Some((r.lines, reason));
                break;
            }
        }
    }
    r
}

/// Position of the first `\n`, eight bytes at a time (a log is mostly long lines).
fn find_newline(bytes: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const NL: u64 = 0x0a0a_0a0a_0a0a_0a0a;
    let mut i = 0;
    while i + 8 <= bytes.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&bytes[i..i + 8]);
        let x = u64::from_le_bytes(word) ^ NL;
        if (x.wrapping_sub(LO) & !x & HI) != 0 {
            break;
        }
        i += 8;
    }
    bytes[i..].iter().position(|&b| b == b'\n').map(|p| i + p)
}

/// Checks one complete line as record `expected` following `prev`; returns its hash (a
/// slice of `line`).
pub fn check_line<'l>(line: &'l [u8], expected: u64, prev: &str) -> Result<&'l str, String> {
    let (seq, claimed_prev, hash) = parse_line(line)?;
    if seq != expected {
        return Err(seq_mismatch(seq, expected));
    }
    if claimed_prev != prev {
        return Err(PREV_MISMATCH.into());
    }
    Ok(hash)
}

/// Authenticates one line on its own and returns `(seq, prev, hash)`. The hash is recomputed
/// over the canonical body (the line minus its fixed-size `,"hash":"…"` suffix, plus `}`), so
/// no re-serialisation is needed; once the hash matches, the bytes are exactly what the
/// writer's one canonical serialiser produced, and `v`, `seq` and `prev` are read from their
/// fixed place at the start of that form (`{"v":…,"seq":…,"prev":"…","ts":`).
pub fn parse_line(line: &[u8]) -> Result<(u64, &str, &str), String> {
    let malformed = || "not a well-formed audit record line".to_string();
    if line.len() < HASH_SUFFIX_LEN + 2 {
        return Err(malformed());
    }
    let (head, suffix) = line.split_at(line.len() - HASH_SUFFIX_LEN);
    if !suffix.starts_with(b",\"hash\":\"") || !suffix.ends_with(b"\"}") {
        return Err(malformed());
    }
    let claimed = std::str::from_utf8(&suffix[9..9 + 64]).map_err(|_| malformed())?;
    let mut hasher = Sha256::new();
    hasher.update(head);
    hasher.update(b"}");
    if hex(&hasher.finalize()) != claimed {
        return Err("hash does not match the record's content (record edited)".into());
    }
    let (v, seq, prev) = parse_prefix(head)
        .ok_or_else(|| "record does not start with v, seq and prev in canonical form".to_string())?;
    if v != u64::from(RECORD_VERSION) {
        return Err(format!("unknown record version {v}"));
    }
    Ok((seq, prev, claimed))
}

/// `{"v":<n>,"seq":<n>,"prev":"<64 hex>","ts":` at the start of a canonical body.
fn parse_prefix(head: &[u8]) -> Option<(u64, u64, &str)> {
    let rest = head.strip_prefix(b"{\"v\":")?;
    let (v, rest) = number(rest)?;
    let rest = rest.strip_prefix(b",\"seq\":")?;
    let (seq, rest) = number(rest)?;
    let rest = rest.strip_prefix(b",\"prev\":\"")?;
    let prev = rest.get(..64)?;
    if !prev.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    rest[64..].starts_with(b"\",\"ts\":").then_some(())?;
    Some((v, seq, std::str::from_utf8(prev).ok()?))
}

/// A canonical JSON unsigned integer (no sign, no leading zero) and what follows it.
fn number(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let len = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    if len == 0 || len > 20 || (len > 1 && bytes[0] == b'0') {
        return None;
    }
    let mut n: u64 = 0;
    for &b in &bytes[..len] {
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((n, &bytes[len..]))
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
    use super::super::record::{AuditEvent, Phase, Record, RecordActor};
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
    fn chunked_verification_equals_the_sequential_walk() {
        let (bytes, hashes) = log(30);
        let lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        let join =
            |ls: &[&[u8]]| -> Vec<u8> { ls.iter().flat_map(|l| l.iter().copied().chain([b'\n'])).collect() };
        let mut cases: Vec<Vec<u8>> = vec![bytes.clone(), bytes[..bytes.len() - 7].to_vec()];
        for i in 0..lines.len() {
            let mut del = lines.clone();
            del.remove(i);
            cases.push(join(&del));
            if i + 1 < lines.len() {
                let mut swap = lines.clone();
                swap.swap(i, i + 1);
                cases.push(join(&swap));
            }
            let mut flip = bytes.clone();
            flip[i * 97 % bytes.len()] ^= 0x04;
            cases.push(flip);
        }
        let anchor = Anchor {
            size: 20,
            head: hashes[19].clone(),
        };
        for case in &cases {
            let want = verify_on(case, Some(&anchor), 1);
            for threads in [2, 3, 4, 7] {
                assert_eq!(verify_on(case, Some(&anchor), threads), want, "{threads} threads");
            }
        }
    }

    #[test]
    fn canonical_numbers_only() {
        assert_eq!(number(b"0,"), Some((0, &b","[..])));
        assert_eq!(number(b"120x"), Some((120, &b"x"[..])));
        for bad in [&b""[..], b"x", b"012", b"-1", b"99999999999999999999999"] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
        let prev = "a".repeat(64);
        let head = format!("{{\"v\":1,\"seq\":7,\"prev\":\"{prev}\",\"ts\":\"t\"");
        assert_eq!(parse_prefix(head.as_bytes()), Some((1, 7, prev.as_str())));
        assert_eq!(parse_prefix(head.replace("\"seq\"", "\"seq \"").as_bytes()), None);
        assert_eq!(
            parse_prefix(head.replace(&prev, &"A".repeat(64)).as_bytes()),
            None
        );
    }

    #[test]
    fn newline_search_matches_a_plain_scan() {
        for len in 0..40 {
            for at in 0..=len {
                let mut v = vec![b'x'; len];
                if at < len {
                    v[at] = b'\n';
                }
                assert_eq!(find_newline(&v), v.iter().position(|&b| b == b'\n'));
            }
        }
        assert_eq!(
            find_newline(&[0x8a, 0x0b, 0x09, b'a', 0, 0xff, 0x0a, 1, 2]),
            Some(6)
        );
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
