//! A small, forgiving reader of POSIX-shell `run:` scripts for the security rules: it splits a
//! script into pipelines of simple commands, with words, output redirections and here-document
//! bodies, each carrying byte ranges into the script. It is not a shell parser and never fails:
//! anything it does not understand becomes plain words, so callers must treat its answers as
//! evidence, not proof. It owns no rule and emits no finding.
use std::ops::Range;

/// One word of a command, as written (quotes kept), with its byte range in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub raw: String,
    pub range: Range<usize>,
}

impl Word {
    /// The word with one level of quoting removed; good enough to name a program or a flag.
    pub fn unquoted(&self) -> String {
        let mut out = String::with_capacity(self.raw.len());
        let mut quote: Option<char> = None;
        let mut chars = self.raw.chars().peekable();
        while let Some(c) = chars.next() {
            match (quote, c) {
                (None, '\'' | '"') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (None, '\\') | (Some('"'), '\\') => {
                    if let Some(next) = chars.next() {
                        out.push(next);
                    }
                }
                _ => out.push(c),
            }
        }
        out
    }
}

/// One simple command: its words (assignments and redirections removed), where its standard
/// output goes, and the body of a here-document fed to it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Command {
    /// Leading `NAME=value` words.
    pub assignments: Vec<Word>,
    pub words: Vec<Word>,
    /// Standard output goes to a file (`>`, `>>`, `&>`), not to the log.
    pub stdout_to_file: bool,
    /// The here-document or here-string (`<<<`) content fed to this command.
    pub stdin_text: Vec<Range<usize>>,
    /// The byte range of the whole command, for positions.
    pub range: Range<usize>,
}

impl Command {
    /// The program run, skipping wrappers such as `sudo` or `env` and their options.
    pub fn program(&self) -> Option<String> {
        self.program_index().map(|i| base_name(&self.words[i].unquoted()))
    }

    /// Index into `words` of the program (see [`Command::program`]).
    pub fn program_index(&self) -> Option<usize> {
        let mut i = 0;
        while let Some(word) = self.words.get(i) {
            let text = word.unquoted();
            if WRAPPERS.contains(&text.as_str()) {
                i += 1;
                while self.words.get(i).is_some_and(|w| {
                    let t = w.unquoted();
                    t.starts_with('-') || is_assignment(&t)
                }) {
                    i += 1;
                }
                continue;
            }
            return Some(i);
        }
        None
    }

    /// The arguments after the program.
    pub fn args(&self) -> &[Word] {
        match self.program_index() {
            Some(i) => &self.words[i + 1..],
            None => &[],
        }
    }
}

/// Commands connected by `|`; the last one's output is the pipeline's output.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pipeline {
    pub commands: Vec<Command>,
    /// Read from a `$( … )` or `<( … )` substitution: its output is captured, not logged.
    pub captured: bool,
}

const WRAPPERS: &[&str] = &[
    "sudo", "env", "time", "exec", "command", "nohup", "nice", "builtin",
];

/// Words that start or continue a compound command; the command proper follows them.
const KEYWORDS: &[&str] = &[
    "if", "then", "else", "elif", "fi", "do", "done", "while", "until", "!", "{", "}", "esac",
];

fn base_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

/// `NAME=value` at the start of a command.
pub fn is_assignment(word: &str) -> bool {
    match word.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name
                    .chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// Splits `script` into pipelines. Command substitutions `$( … )` and backquotes stay inside
/// their word; [`substitutions`] finds them so callers can read them as scripts too.
pub fn pipelines(script: &str) -> Vec<Pipeline> {
    Reader::new(script).read()
}

/// Byte ranges of the inner text of `$( … )` substitutions in `text` (not nested ones).
pub fn substitutions(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_single = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' => in_single = !in_single,
            b'$' | b'<' | b'>'
                if !in_single && bytes.get(i + 1) == Some(&b'(') && bytes.get(i + 2) != Some(&b'(') =>
            {
                let start = i + 2;
                let mut depth = 1usize;
                let mut j = start;
                while j < bytes.len() {
                    match bytes[j] {
                        b'(' => depth += 1,
                        b')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                out.push(start..j.min(bytes.len()));
                i = j;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Every pipeline of a script, then those inside its `$( … )` substitutions (to a small
/// depth), all with ranges into `script`.
pub fn all_pipelines(script: &str) -> Vec<Pipeline> {
    let mut out = Vec::new();
    collect_pipelines(script, 0, &mut out, 0);
    out
}

/// Every simple command of [`all_pipelines`].
pub fn commands(script: &str) -> Vec<Command> {
    all_pipelines(script)
        .into_iter()
        .flat_map(|p| p.commands)
        .collect()
}

fn collect_pipelines(script: &str, base: usize, out: &mut Vec<Pipeline>, depth: usize) {
    for mut pipeline in pipelines(script) {
        let mut nested = Vec::new();
        for command in &mut pipeline.commands {
            for word in command.words.iter().chain(command.assignments.iter()) {
                for sub in substitutions(&word.raw) {
                    nested.push(word.range.start + sub.start..word.range.start + sub.end);
                }
            }
            shift(command, base);
        }
        pipeline.captured = depth > 0;
        out.push(pipeline);
        if depth < 4 {
            for range in nested {
                if let Some(inner) = script.get(range.clone()) {
                    collect_pipelines(inner, base + range.start, out, depth + 1);
                }
            }
        }
    }
}

fn shift(command: &mut Command, by: usize) {
    let moved = |r: &Range<usize>| r.start + by..r.end + by;
    command.range = moved(&command.range);
    for word in command.words.iter_mut().chain(command.assignments.iter_mut()) {
        word.range = moved(&word.range);
    }
    for text in &mut command.stdin_text {
        *text = moved(text);
    }
}

struct Reader<'a> {
    src: &'a str,
    bytes: &'a [u8],
    pos: usize,
    pipelines: Vec<Pipeline>,
    pipeline: Pipeline,
    command: Command,
    /// Here-document delimiters waiting for the end of the line, with the command they feed.
    pending_heredocs: Vec<(String, usize)>,
}

impl<'a> Reader<'a> {
    fn new(src: &'a str) -> Self {
        Reader {
            src,
            bytes: src.as_bytes(),
            pos: 0,
            pipelines: Vec::new(),
            pipeline: Pipeline::default(),
            command: Command::default(),
            pending_heredocs: Vec::new(),
        }
    }

    fn read(mut self) -> Vec<Pipeline> {
        while self.pos < self.bytes.len() {
            let b = self.bytes[self.pos];
            match b {
                b' ' | b'\t' | b'\r' => self.pos += 1,
                b'\\' if self.bytes.get(self.pos + 1) == Some(&b'\n') => self.pos += 2,
                b'\n' => {
                    self.pos += 1;
                    self.end_pipeline();
                    self.read_heredoc_bodies();
                }
                b'#' => self.skip_comment(),
                b';' | b'(' | b')' => {
                    self.pos += 1;
                    self.end_pipeline();
                }
                b'&' => {
                    if self.bytes.get(self.pos + 1) == Some(&b'>') {
                        self.read_redirection();
                    } else {
                        self.pos += if self.bytes.get(self.pos + 1) == Some(&b'&') {
                            2
                        } else {
                            1
                        };
                        self.end_pipeline();
                    }
                }
                b'|' => {
                    if self.bytes.get(self.pos + 1) == Some(&b'|') {
                        self.pos += 2;
                        self.end_pipeline();
                    } else {
                        self.pos += if self.bytes.get(self.pos + 1) == Some(&b'&') {
                            2
                        } else {
                            1
                        };
                        self.end_command();
                    }
                }
                b'>' | b'<' if self.bytes.get(self.pos + 1) == Some(&b'(') => {
                    let word = self.read_word();
                    self.push_word(word);
                }
                b'>' | b'<' => self.read_redirection(),
                b'0'..=b'9' if self.is_fd_redirection() => self.read_redirection(),
                _ => {
                    let word = self.read_word();
                    self.push_word(word);
                }
            }
        }
        self.end_pipeline();
        self.pipelines
    }

    fn skip_comment(&mut self) {
        while self.pos < self.bytes.len() && self.bytes[self.pos] != b'\n' {
            self.pos += 1;
        }
    }

    fn is_fd_redirection(&self) -> bool {
        let mut i = self.pos;
        while i < self.bytes.len() && self.bytes[i].is_ascii_digit() {
            i += 1;
        }
        matches!(self.bytes.get(i), Some(b'>' | b'<'))
    }

    fn push_word(&mut self, word: Word) {
        if word.raw.is_empty() {
            return;
        }
        if self.command.words.is_empty() {
            if self.command.assignments.is_empty() && KEYWORDS.contains(&word.raw.as_str()) {
                return;
            }
            if is_assignment(&word.raw) {
                self.command.range = self.command_start(word.range.start)..word.range.end;
                self.command.assignments.push(word);
                return;
            }
        }
        self.command.range = self.command_start(word.range.start)..word.range.end;
        self.command.words.push(word);
    }

    fn command_start(&self, fallback: usize) -> usize {
        if self.command.words.is_empty() && self.command.assignments.is_empty() {
            fallback
        } else {
            self.command.range.start
        }
    }

    /// Reads one word: quotes, `${ … }`, `${{ … }}`, `$( … )` and backquotes stay whole.
    fn read_word(&mut self) -> Word {
        let start = self.pos;
        let mut depth_paren = 0usize;
        let mut depth_brace = 0usize;
        while self.pos < self.bytes.len() {
            let b = self.bytes[self.pos];
            match b {
                b'\'' if depth_brace == 0 => self.skip_until(b'\''),
                b'"' => self.skip_double_quoted(),
                b'`' => self.skip_until(b'`'),
                b'\\' => self.pos = (self.pos + 2).min(self.bytes.len()),
                b'$' | b'<' | b'>' if self.bytes.get(self.pos + 1) == Some(&b'(') => {
                    depth_paren += 1;
                    self.pos += 2;
                }
                b'$' if self.bytes.get(self.pos + 1) == Some(&b'{') => {
                    depth_brace += 1;
                    self.pos += 2;
                }
                b'(' if depth_paren > 0 => {
                    depth_paren += 1;
                    self.pos += 1;
                }
                b')' if depth_paren > 0 => {
                    depth_paren -= 1;
                    self.pos += 1;
                }
                b'{' if depth_brace > 0 => {
                    depth_brace += 1;
                    self.pos += 1;
                }
                b'}' if depth_brace > 0 => {
                    depth_brace -= 1;
                    self.pos += 1;
                }
                _ if depth_paren > 0 || depth_brace > 0 => self.pos += 1,
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' => break,
                _ => self.pos += 1,
            }
        }
        let end = self.pos.min(self.bytes.len());
        Word {
            raw: self.src.get(start..end).unwrap_or_default().to_string(),
            range: start..end,
        }
    }

    /// Moves past the closing `quote`, starting on the opening one.
    fn skip_until(&mut self, quote: u8) {
        self.pos += 1;
        while self.pos < self.bytes.len() && self.bytes[self.pos] != quote {
            self.pos += 1;
        }
        self.pos = (self.pos + 1).min(self.bytes.len());
    }

    fn skip_double_quoted(&mut self) {
        self.pos += 1;
        let mut depth = 0usize;
        while self.pos < self.bytes.len() {
            match self.bytes[self.pos] {
                b'\\' => self.pos += 1,
                b'$' if self.bytes.get(self.pos + 1) == Some(&b'(') => {
                    depth += 1;
                    self.pos += 1;
                }
                b')' if depth > 0 => depth -= 1,
                b'"' if depth == 0 => break,
                _ => {}
            }
            self.pos += 1;
        }
        self.pos = (self.pos + 1).min(self.bytes.len());
    }

    fn read_redirection(&mut self) {
        let start = self.pos;
        let mut fd = String::new();
        while self.pos < self.bytes.len() && self.bytes[self.pos].is_ascii_digit() {
            fd.push(self.bytes[self.pos] as char);
            self.pos += 1;
        }
        let op_start = self.pos;
        while self.pos < self.bytes.len() && matches!(self.bytes[self.pos], b'>' | b'<' | b'&' | b'|' | b'-')
        {
            // `>&2` and `<<-` belong to the operator; stop before `&&`.
            if self.bytes[self.pos] == b'&' && self.bytes.get(self.pos + 1) == Some(&b'&') {
                break;
            }
            self.pos += 1;
            if self.pos - op_start >= 3 {
                break;
            }
        }
        let op = self.src.get(op_start..self.pos).unwrap_or_default().to_string();
        if self.command.words.is_empty() && self.command.assignments.is_empty() {
            self.command.range = start..self.pos;
        }
        // `>&2` names its target inside the operator when followed by a digit.
        let mut target = String::new();
        if op.ends_with('&') {
            while self.pos < self.bytes.len()
                && (self.bytes[self.pos].is_ascii_digit() || self.bytes[self.pos] == b'-')
            {
                target.push(self.bytes[self.pos] as char);
                self.pos += 1;
            }
        }
        let target_word = if target.is_empty() {
            while self.pos < self.bytes.len() && matches!(self.bytes[self.pos], b' ' | b'\t') {
                self.pos += 1;
            }
            let word = self.read_word();
            target = word.unquoted();
            Some(word)
        } else {
            None
        };
        if let Some(word) = &target_word {
            self.command.range.end = self.command.range.end.max(word.range.end);
        }
        match op.as_str() {
            "<<" | "<<-" => {
                let delimiter = target.trim().to_string();
                if !delimiter.is_empty() {
                    self.pending_heredocs
                        .push((delimiter, self.pipeline.commands.len()));
                }
            }
            "<<<" => {
                if let Some(word) = target_word {
                    self.command.stdin_text.push(word.range);
                }
            }
            _ if op.starts_with('>') || op.starts_with("&>") => {
                let writes_stdout = fd.is_empty() || fd == "1" || op.starts_with('&');
                let to_log = matches!(
                    target.as_str(),
                    "&2" | "2" | "1" | "/dev/stderr" | "/dev/stdout" | "/dev/tty"
                );
                if writes_stdout && !to_log {
                    self.command.stdout_to_file = true;
                }
            }
            _ => {}
        }
    }

    /// After a newline: the bodies of pending here-documents, up to their delimiter lines.
    fn read_heredoc_bodies(&mut self) {
        let pending = std::mem::take(&mut self.pending_heredocs);
        for (delimiter, index) in pending {
            let body_start = self.pos;
            let mut body_end = self.bytes.len();
            while self.pos < self.bytes.len() {
                let line_end = self.src[self.pos..]
                    .find('\n')
                    .map_or(self.bytes.len(), |n| self.pos + n);
                let line = self.src.get(self.pos..line_end).unwrap_or_default();
                let next = (line_end + 1).min(self.bytes.len());
                if line.trim() == delimiter {
                    body_end = self.pos;
                    self.pos = next;
                    break;
                }
                self.pos = next;
            }
            let body = body_start..body_end.max(body_start);
            // The pipeline ended at the newline; attach the body to the command it was read for.
            if let Some(pipeline) = self.pipelines.last_mut()
                && let Some(command) = pipeline.commands.get_mut(index)
            {
                command.stdin_text.push(body);
            }
        }
    }

    fn end_command(&mut self) {
        let command = std::mem::take(&mut self.command);
        if !command.words.is_empty() || !command.assignments.is_empty() {
            self.pipeline.commands.push(command);
        }
    }

    fn end_pipeline(&mut self) {
        self.end_command();
        let pipeline = std::mem::take(&mut self.pipeline);
        if !pipeline.commands.is_empty() {
            self.pipelines.push(pipeline);
        } else if !self.pending_heredocs.is_empty() {
            // Keep indices valid for a here-document whose command was empty.
            self.pending_heredocs.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn programs(script: &str) -> Vec<Vec<String>> {
        pipelines(script)
            .iter()
            .map(|p| p.commands.iter().filter_map(Command::program).collect())
            .collect()
    }

    #[test]
    fn splits_lists_and_pipelines() {
        let got = programs("echo a | base64 -d && make; FOO=1 sudo -E ./x.sh || true\n# c\nls");
        assert_eq!(
            got,
            vec![
                vec!["echo", "base64"],
                vec!["make"],
                vec!["x.sh"],
                vec!["true"],
                vec!["ls"]
            ]
        );
    }

    #[test]
    fn keeps_expressions_quotes_and_substitutions_whole() {
        let p = pipelines("echo \"${{ a || b }}\" '$(x | y)' $(curl -s | jq) ${X:-a b}");
        assert_eq!(p.len(), 1);
        let words: Vec<_> = p[0].commands[0].words.iter().map(|w| w.raw.as_str()).collect();
        assert_eq!(
            words,
            vec![
                "echo",
                "\"${{ a || b }}\"",
                "'$(x | y)'",
                "$(curl -s | jq)",
                "${X:-a b}"
            ]
        );
    }

    #[test]
    fn unquoted_expression_in_word_splits_on_spaces_only_outside_braces() {
        let p = pipelines("echo ${{ secrets.A }} done");
        let words: Vec<_> = p[0].commands[0].words.iter().map(|w| w.raw.as_str()).collect();
        assert_eq!(words, vec!["echo", "${{ secrets.A }}", "done"]);
    }

    #[test]
    fn redirections_decide_where_output_goes() {
        let p = pipelines(
            "echo a > f\necho b >&2\necho c 2>/dev/null\necho d >> \"$GITHUB_OUTPUT\"\necho e &> log",
        );
        let to_file: Vec<_> = p.iter().map(|p| p.commands[0].stdout_to_file).collect();
        assert_eq!(to_file, vec![true, false, false, true, true]);
        assert_eq!(p[1].commands[0].words.len(), 2);
    }

    #[test]
    fn heredoc_bodies_are_stdin_not_commands() {
        let src = "cat <<EOF > out\nrm -rf /\nEOF\nls\ncat <<-'X'\n\tbody\n\tX\n";
        let p = pipelines(src);
        let got: Vec<_> = p.iter().map(|p| p.commands[0].program()).collect();
        assert_eq!(
            got,
            vec![Some("cat".into()), Some("ls".into()), Some("cat".into())]
        );
        assert_eq!(&src[p[0].commands[0].stdin_text[0].clone()], "rm -rf /\n");
        assert!(p[0].commands[0].stdout_to_file);
        assert_eq!(&src[p[2].commands[0].stdin_text[0].clone()], "\tbody\n");
    }

    #[test]
    fn here_strings_and_keywords() {
        let p = pipelines("if [ -n \"$A\" ]; then tr a b <<< \"$A\"; fi");
        let programs: Vec<_> = p.iter().filter_map(|p| p.commands.first()?.program()).collect();
        assert_eq!(programs, vec!["[", "tr"]);
        assert_eq!(p[1].commands[0].stdin_text.len(), 1);
    }

    #[test]
    fn substitutions_are_found() {
        let text = "x=$(curl -H \"a\" $(inner)) y $((1+2))";
        let subs = substitutions(text);
        assert_eq!(subs.len(), 1);
        assert_eq!(&text[subs[0].clone()], "curl -H \"a\" $(inner)");
    }

    #[test]
    fn substitution_commands_have_absolute_ranges() {
        let src = "echo \"x=$(curl -H \"$T\" u)\" >> f";
        let all = commands(src);
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].program().as_deref(), Some("curl"));
        assert_eq!(&src[all[1].words[2].range.clone()], "\"$T\"");
        assert_eq!(&src[all[1].range.clone()], "curl -H \"$T\" u");
    }

    #[test]
    fn process_substitutions_stay_in_their_word_and_are_captured() {
        let src = "sign --file=<(echo $K | base64 -d) --out x";
        let all = all_pipelines(src);
        assert_eq!(all.len(), 2, "{all:?}");
        assert_eq!(all[0].commands[0].words.len(), 4);
        assert!(!all[0].captured && all[1].captured);
        assert_eq!(all[1].commands[1].program().as_deref(), Some("base64"));
    }

    proptest::proptest! {
        /// Any text, including broken quoting and multi-byte characters: no panic, and every
        /// range the reader hands out slices the script on character boundaries.
        #[test]
        fn ranges_always_slice_the_script(script in "[a-z$(){}<>|&;'\"\\# \n\t=é-]{0,80}") {
            for command in commands(&script) {
                proptest::prop_assert!(script.get(command.range.clone()).is_some());
                for word in command.words.iter().chain(command.assignments.iter()) {
                    proptest::prop_assert!(script.get(word.range.clone()).is_some());
                    let _ = word.unquoted();
                }
                for text in &command.stdin_text {
                    proptest::prop_assert!(script.get(text.clone()).is_some());
                }
                let _ = command.program();
            }
            let _ = crate::lint::rules::security::secret_refs(&script);
            let _ = crate::lint::rules::security::secret_in_expression(&script);
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        for src in [
            "\"unterminated",
            "'x",
            "$(",
            "${",
            "<<",
            "2>",
            "a\\",
            "é > ü | ß",
            ">&",
            "cat <<E\nno end",
        ] {
            let _ = pipelines(src);
            let _ = substitutions(src);
        }
    }
}
