//! `cron-schedule`: `on.schedule[].cron` is a valid five-field POSIX cron expression, and
//! does not ask for runs more often than the 5-minute minimum GitHub enforces.
use crate::lint::LintContext;
use crate::lint::finding::{Finding, Severity};
use crate::lint::rule::{Applies, Rule, RuleMeta};

pub struct CronSchedule;

static META: RuleMeta = RuleMeta {
    id: "cron-schedule",
    severity: Severity::Error,
    summary: "Checks `schedule` cron syntax and the 5-minute minimum interval.",
    applies: Applies::Workflows,
    fixable: false,
};

const FIELDS: [(&str, u32, u32, &[&str]); 5] = [
    ("minute", 0, 59, &[]),
    ("hour", 0, 23, &[]),
    ("day of month", 1, 31, &[]),
    (
        "month",
        1,
        12,
        &[
            "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
        ],
    ),
    (
        "day of week",
        0,
        6,
        &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    ),
];

impl Rule for CronSchedule {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn check(&self, cx: &LintContext<'_>, out: &mut Vec<Finding>) {
        let Some(wf) = cx.workflow() else { return };
        let Some((_, Some(schedule))) = wf.event("schedule") else {
            return;
        };
        for item in schedule.items() {
            let Some(cron) = item.get("cron") else { continue };
            let Some(text) = cron.as_str() else { continue };
            match parse_cron(text) {
                Err(msg) => out.push(
                    cx.finding(
                        &META,
                        cron.span,
                        format!("invalid cron expression `{text}`: {msg}"),
                    )
                    .help("five fields: minute hour day-of-month month day-of-week, e.g. `30 5 * * 1-5`"),
                ),
                Ok(minutes) => {
                    if let Some(gap) = min_gap(&minutes)
                        && gap < 5
                    {
                        out.push(
                            cx.finding(&META, cron.span, format!("`{text}` asks for a run every {gap} minute(s); GitHub runs schedules at most every 5 minutes"))
                                .help("use an interval of 5 minutes or more, e.g. `*/5`")
                                .severity(Severity::Warning),
                        );
                    }
                }
            }
        }
    }
}

/// Parses a cron expression; returns the set of minutes of the hour it fires at.
pub fn parse_cron(text: &str) -> Result<Vec<bool>, String> {
    let fields: Vec<&str> = text.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!("expected 5 fields, found {}", fields.len()));
    }
    let mut minutes = Vec::new();
    for (i, (field, (name, lo, hi, names))) in fields.iter().zip(FIELDS).enumerate() {
        let set = parse_field(field, lo, hi, names).map_err(|e| format!("{name} field `{field}`: {e}"))?;
        if i == 0 {
            minutes = set;
        }
    }
    Ok(minutes)
}

fn parse_field(field: &str, lo: u32, hi: u32, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut set = vec![false; hi as usize + 1];
    for part in field.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => {
                let step: u32 = s.parse().map_err(|_| format!("step `{s}` is not a number"))?;
                if step == 0 {
                    return Err("a step of 0 never fires".into());
                }
                (r, step)
            }
            None => (part, 1),
        };
        let (start, end) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, lo, hi, names)?, value(b, lo, hi, names)?)
        } else {
            let v = value(range, lo, hi, names)?;
            // `5/15` means "from 5 to the end, every 15".
            (v, if part.contains('/') { hi } else { v })
        };
        if start > end {
            return Err(format!("range {start}-{end} runs backwards"));
        }
        let mut v = start;
        while v <= end {
            set[v as usize] = true;
            v += step;
        }
    }
    Ok(set)
}

fn value(text: &str, lo: u32, hi: u32, names: &[&str]) -> Result<u32, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(i as u32 + lo);
    }
    let v: u32 = text.parse().map_err(|_| format!("`{text}` is not a number"))?;
    if v < lo || v > hi {
        return Err(format!("{v} is outside {lo}-{hi}"));
    }
    Ok(v)
}

/// The smallest distance between two firing minutes, around the hour. `None` when it fires
/// once an hour or less.
fn min_gap(minutes: &[bool]) -> Option<u32> {
    let on: Vec<u32> = minutes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b)
        .map(|(i, _)| i as u32)
        .collect();
    if on.len() < 2 {
        return None;
    }
    let mut gap = 60 - on[on.len() - 1] + on[0];
    for w in on.windows(2) {
        gap = gap.min(w[1] - w[0]);
    }
    Some(gap)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::testing::lint;

    #[test]
    fn cron_syntax() {
        assert!(parse_cron("30 5 * * 1-5").is_ok());
        assert!(parse_cron("0 0 1 JAN,JUL SUN").is_ok());
        assert!(parse_cron("*/15 * * * *").is_ok());
        assert!(parse_cron("0 24 * * *").is_err());
        assert!(parse_cron("0 0 * *").is_err());
        assert!(parse_cron("0 0 * * 7").is_err());
        assert_eq!(min_gap(&parse_cron("*/2 * * * *").expect("ok")), Some(2));
        assert_eq!(min_gap(&parse_cron("0,30 * * * *").expect("ok")), Some(30));
    }

    #[test]
    fn findings_with_positions() {
        let src = "on:\n  schedule:\n    - cron: '61 * * * *'\n    - cron: '* * * * *'\n    - cron: '0 3 * * 1'\njobs: {}\n";
        let found = lint("w.yml", src, "cron-schedule");
        assert_eq!(found.len(), 2, "{found:?}");
        assert_eq!((found[0].0, found[0].1), (3, 13));
        assert!(found[1].2.contains("every 1 minute"));
    }
}
