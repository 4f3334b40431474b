//! The terminal prompt behind `ops::guard::Confirm`. The gate calls it only when stdin is a
//! TTY; anything but `y`/`yes` (including end of input) is "no".
use crate::error::{Error, Result};
use crate::ops::guard::Confirm;
use crate::output::Printer;
use std::io::BufRead;

pub struct TtyConfirm<'p> {
    pub printer: &'p Printer,
}

impl Confirm for TtyConfirm<'_> {
    fn confirm(&mut self, question: &str) -> Result<bool> {
        self.printer.prompt(question);
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| Error::io("read the answer from", std::path::Path::new("stdin"), &e))?;
        Ok(is_yes(&answer))
    }
}

fn is_yes(answer: &str) -> bool {
    matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes")
}

#[cfg(test)]
mod tests {
    use super::is_yes;

    #[test]
    fn only_y_or_yes_confirms() {
        for yes in ["y\n", "Y", " yes \n", "YES"] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in ["", "\n", "n", "no", "yep", "y es", "1"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }
}
