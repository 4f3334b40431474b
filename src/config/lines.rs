//! The line of every mapping key in the project file, by dotted path from the root
//! (`environments.prod.target.update.parallelism`; sequence items by index). Target settings
//! are validated long after the file was read, from plain values: this map lets their
//! problems name the line of the very key that is wrong.
use saphyr_parser::{Event, Parser};
use std::collections::BTreeMap;

enum Frame {
    /// A mapping; `key` is the key whose value comes next (None: a key comes next).
    Map {
        key: Option<String>,
    },
    Seq {
        index: usize,
    },
}

/// Maps each key path to its 1-based line. A text that does not parse gives what was read
/// before the error (the file has been validated by then anyway).
pub fn key_lines(text: &str) -> BTreeMap<String, u64> {
    let mut lines = BTreeMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut parser = Parser::new_from_str(text);
    while let Some(Ok((event, span))) = parser.next_event() {
        let is_key = matches!(stack.last(), Some(Frame::Map { key: None }));
        match event {
            Event::Scalar(value, ..) if is_key => {
                path.push(value.to_string());
                lines.insert(path.join("."), span.start.line() as u64);
                if let Some(Frame::Map { key }) = stack.last_mut() {
                    *key = Some(value.to_string());
                }
            }
            Event::Scalar(..) | Event::Alias(_) => {
                if let Some(Frame::Seq { index }) = stack.last() {
                    lines.insert(item_path(&path, *index), span.start.line() as u64);
                }
                value_done(&mut stack, &mut path)
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if let Some(Frame::Seq { index }) = stack.last() {
                    lines.insert(item_path(&path, *index), span.start.line() as u64);
                    path.push(index.to_string());
                }
                stack.push(match event {
                    Event::MappingStart(..) => Frame::Map { key: None },
                    _ => Frame::Seq { index: 0 },
                });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                if matches!(stack.last(), Some(Frame::Seq { .. })) {
                    path.pop();
                }
                value_done(&mut stack, &mut path);
            }
            _ => {}
        }
    }
    lines
}

fn item_path(path: &[String], index: usize) -> String {
    let mut full = path.to_vec();
    full.push(index.to_string());
    full.join(".")
}

/// A value (scalar or whole collection) ended: a mapping waits for its next key, a
/// sequence moves to its next index.
fn value_done(stack: &mut [Frame], path: &mut Vec<String>) {
    match stack.last_mut() {
        Some(Frame::Map { key }) if key.is_some() => {
            *key = None;
            path.pop();
        }
        Some(Frame::Seq { index }) => *index += 1,
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_has_its_line() {
        let text = "version: 1\nenvironments:\n  prod:\n    target:\n      kind: swarm\n      update:\n        parallelism: 0\n      ports: [\"80:80\"]\n      list:\n        - name: a\n          x: 1\n        - name: b\n";
        let lines = key_lines(text);
        assert_eq!(lines["version"], 1);
        assert_eq!(lines["environments.prod.target"], 4);
        assert_eq!(lines["environments.prod.target.update.parallelism"], 7);
        assert_eq!(lines["environments.prod.target.ports"], 8);
        assert_eq!(lines["environments.prod.target.ports.0"], 8);
        assert_eq!(lines["environments.prod.target.list.1"], 12);
        assert_eq!(lines["environments.prod.target.list.0.x"], 11);
        assert_eq!(lines["environments.prod.target.list.1.name"], 12);
    }

    #[test]
    fn broken_text_gives_what_was_read() {
        let lines = key_lines("a: 1\nb: [\n");
        assert_eq!(lines.get("a"), Some(&1));
    }
}
