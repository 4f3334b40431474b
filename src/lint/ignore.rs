//! Inline suppressions: `# autosd-lint: ignore[rule-id]` (several ids separated by commas)
//! silences those rules on the comment's own line and on the line below it.
use super::finding::LineIndex;
use std::collections::HashMap;

const MARKER: &str = "autosd-lint:";

/// The ignore comments of one file: line → rule ids suppressed there.
#[derive(Debug, Default)]
pub struct Ignores {
    by_line: HashMap<u32, Vec<String>>,
}

impl Ignores {
    pub fn scan(source: &str, lines: &LineIndex) -> Ignores {
        let mut out = Ignores::default();
        if !source.contains(MARKER) {
            return out;
        }
        for line_no in 1..=lines.line_count() as u32 {
            let line = &source[lines.line_range(source, line_no)];
            let Some(hash) = line.find('#') else { continue };
            let comment = line[hash + 1..].trim_start();
            let Some(rest) = comment.strip_prefix(MARKER) else {
                continue;
            };
            let Some(list) = rest.trim_start().strip_prefix("ignore[") else {
                continue;
            };
            let Some(end) = list.find(']') else { continue };
            let ids: Vec<String> = list[..end]
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            for target in [line_no, line_no + 1] {
                out.by_line.entry(target).or_default().extend(ids.iter().cloned());
            }
        }
        out
    }

    /// Is `rule` ignored for a finding starting on `line`?
    pub fn suppresses(&self, rule: &str, line: u32) -> bool {
        self.by_line
            .get(&line)
            .is_some_and(|ids| ids.iter().any(|id| id == rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_covers_its_line_and_the_next() {
        let src = "a: 1 # autosd-lint: ignore[x, y]\nb: 2\nc: 3\n# autosd-lint: ignore[z]\n";
        let ig = Ignores::scan(src, &LineIndex::new(src));
        assert!(ig.suppresses("x", 1) && ig.suppresses("y", 2));
        assert!(!ig.suppresses("x", 3));
        assert!(ig.suppresses("z", 5) && !ig.suppresses("q", 4));
    }
}
