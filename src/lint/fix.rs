//! `--fix`: applies the text edits attached to findings, leaving every untouched byte (and so
//! comments and formatting) as it was, and renders `--fix --dry-run` unified diffs.
use super::FileReport;
use super::finding::{Edit, Severity};

/// The outcome of fixing one file.
#[derive(Debug)]
pub struct FixedFile {
    pub path: String,
    pub original: String,
    pub fixed: String,
    /// Titles of the fixes applied, one per fix, in source order.
    pub applied: Vec<String>,
    /// The same fixes with the rule and line of their finding (for commit messages).
    pub fixes: Vec<AppliedFix>,
    /// Fixes dropped because their edits overlapped one already taken.
    pub skipped: usize,
}

/// One fix taken: which rule's finding it came from, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedFix {
    pub rule: &'static str,
    /// 1-based line of the finding in the original text.
    pub line: u32,
    pub title: String,
}

/// Applies every fix of the findings at or above `min` in `report`. `None` when there is
/// nothing to fix or the parsed text differs from the file (see `ParsedFile::altered`).
pub fn fix_report(report: &FileReport, min: Severity) -> Option<FixedFile> {
    if report.file.altered {
        return None;
    }
    let mut fixes: Vec<_> = report
        .findings
        .iter()
        .filter(|f| f.severity >= min)
        .filter_map(|f| f.fix.as_ref().map(|fix| (f, fix)))
        .filter(|(_, fix)| !fix.edits.is_empty())
        .collect();
    if fixes.is_empty() {
        return None;
    }
    fixes.sort_by_key(|(_, fix)| fix.edits.iter().map(|e| e.start).min());
    let source = &report.file.source;
    let mut taken: Vec<Edit> = Vec::new();
    let mut applied = Vec::new();
    let mut details = Vec::new();
    let mut skipped = 0;
    for (finding, fix) in fixes {
        let valid = fix.edits.iter().all(|e| {
            e.start <= e.end
                && e.end <= source.len()
                && source.is_char_boundary(e.start)
                && source.is_char_boundary(e.end)
        });
        let clashes = fix.edits.iter().any(|e| taken.iter().any(|t| overlaps(e, t)));
        if !valid || clashes {
            skipped += 1;
            continue;
        }
        taken.extend(fix.edits.iter().cloned());
        applied.push(fix.title.clone());
        details.push(AppliedFix {
            rule: finding.rule,
            line: finding.span.start.line,
            title: fix.title.clone(),
        });
    }
    let fixed = apply_edits(source, &mut taken);
    if fixed == *source {
        return None;
    }
    Some(FixedFile {
        path: report.path.clone(),
        original: source.clone(),
        fixed,
        applied,
        fixes: details,
        skipped,
    })
}

/// Two edits clash when their ranges intersect, or both insert at the same point.
fn overlaps(a: &Edit, b: &Edit) -> bool {
    if a.start == a.end && b.start == b.end {
        return a.start == b.start;
    }
    a.start < b.end && b.start < a.end || (a.start == a.end && b.start < a.start && a.start < b.end)
}

/// Applies non-overlapping edits to `source`.
pub fn apply_edits(source: &str, edits: &mut [Edit]) -> String {
    edits.sort_by_key(|e| (e.start, e.end));
    let mut out = String::with_capacity(source.len() + 64);
    let mut at = 0;
    for e in edits.iter() {
        if e.start < at {
            continue;
        }
        out.push_str(&source[at..e.start]);
        out.push_str(&e.replacement);
        at = e.end;
    }
    out.push_str(&source[at..]);
    out
}

enum Op<'a> {
    Same(&'a str),
    Del(&'a str),
    Add(&'a str),
}

/// A unified diff (`--- a/path`, `+++ b/path`, hunks with 3 lines of context).
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    let ops = diff_lines(&a, &b);
    let mut out = format!("--- a/{path}\n+++ b/{path}\n");
    const CONTEXT: usize = 3;
    let changed: Vec<usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, o)| !matches!(o, Op::Same(_)))
        .map(|(i, _)| i)
        .collect();
    let mut i = 0;
    while i < changed.len() {
        let first = changed[i];
        let mut last = first;
        while i + 1 < changed.len() && changed[i + 1] <= last + 2 * CONTEXT + 1 {
            i += 1;
            last = changed[i];
        }
        i += 1;
        let lo = first.saturating_sub(CONTEXT);
        let hi = (last + CONTEXT + 1).min(ops.len());
        // Line numbers of the hunk start: count old/new lines before `lo`.
        let (mut old_line, mut new_line) = (1, 1);
        for op in &ops[..lo] {
            match op {
                Op::Same(_) => {
                    old_line += 1;
                    new_line += 1;
                }
                Op::Del(_) => old_line += 1,
                Op::Add(_) => new_line += 1,
            }
        }
        let old_len = ops[lo..hi].iter().filter(|o| !matches!(o, Op::Add(_))).count();
        let new_len = ops[lo..hi].iter().filter(|o| !matches!(o, Op::Del(_))).count();
        let start = |line: usize, len: usize| if len == 0 { line - 1 } else { line };
        out.push_str(&format!(
            "@@ -{},{old_len} +{},{new_len} @@\n",
            start(old_line, old_len),
            start(new_line, new_len)
        ));
        for op in &ops[lo..hi] {
            let (mark, text) = match op {
                Op::Same(t) => (' ', t),
                Op::Del(t) => ('-', t),
                Op::Add(t) => ('+', t),
            };
            out.push(mark);
            out.push_str(text);
            if !text.ends_with('\n') {
                out.push_str("\n\\ No newline at end of file\n");
            }
        }
    }
    out
}

/// Line diff: common prefix and suffix are trimmed, the middle is aligned by LCS (or
/// replaced whole when it is too large for the quadratic table).
fn diff_lines<'a>(a: &[&'a str], b: &[&'a str]) -> Vec<Op<'a>> {
    let prefix = a.iter().zip(b).take_while(|(x, y)| x == y).count();
    let suffix = a[prefix..]
        .iter()
        .rev()
        .zip(b[prefix..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (am, bm) = (&a[prefix..a.len() - suffix], &b[prefix..b.len() - suffix]);
    let mut ops: Vec<Op<'a>> = a[..prefix].iter().map(|l| Op::Same(l)).collect();
    if am.len().saturating_mul(bm.len()) > 4_000_000 {
        ops.extend(am.iter().map(|l| Op::Del(l)));
        ops.extend(bm.iter().map(|l| Op::Add(l)));
    } else {
        let (n, m) = (am.len(), bm.len());
        let mut lcs = vec![0u32; (n + 1) * (m + 1)];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                lcs[i * (m + 1) + j] = if am[i] == bm[j] {
                    lcs[(i + 1) * (m + 1) + j + 1] + 1
                } else {
                    lcs[(i + 1) * (m + 1) + j].max(lcs[i * (m + 1) + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n || j < m {
            if i < n && j < m && am[i] == bm[j] {
                ops.push(Op::Same(am[i]));
                i += 1;
                j += 1;
            } else if i < n && (j == m || lcs[(i + 1) * (m + 1) + j] >= lcs[i * (m + 1) + j + 1]) {
                ops.push(Op::Del(am[i]));
                i += 1;
            } else {
                ops.push(Op::Add(bm[j]));
                j += 1;
            }
        }
    }
    ops.extend(a[a.len() - suffix..].iter().map(|l| Op::Same(l)));
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edits_apply_in_order_and_diff_shows_them() {
        let src = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let mut edits = vec![
            Edit {
                start: 2,
                end: 3,
                replacement: "B".into(),
            },
            Edit {
                start: 18,
                end: 18,
                replacement: "x\n".into(),
            },
        ];
        let out = apply_edits(src, &mut edits);
        assert_eq!(out, "a\nB\nc\nd\ne\nf\ng\nh\ni\nx\nj\n");
        let diff = unified_diff("f.yml", src, &out);
        assert_eq!(
            diff,
            "--- a/f.yml\n+++ b/f.yml\n@@ -1,5 +1,5 @@\n a\n-b\n+B\n c\n d\n e\n@@ -7,4 +7,5 @@\n g\n h\n i\n+x\n j\n"
        );
    }

    #[test]
    fn overlapping_edits_clash() {
        let e = |s, t| Edit {
            start: s,
            end: t,
            replacement: String::new(),
        };
        assert!(overlaps(&e(1, 4), &e(3, 5)));
        assert!(!overlaps(&e(1, 3), &e(3, 5)));
        assert!(overlaps(&e(2, 2), &e(2, 2)));
        assert!(overlaps(&e(3, 3), &e(1, 5)));
    }
}
