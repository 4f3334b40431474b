//! Shared by `job-id` and `step-id`: the id syntax GitHub accepts. Owns no rule.

/// A job or step id: starts with a letter or `_`, then letters, digits, `-` or `_`.
pub fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    #[test]
    fn id_syntax() {
        assert!(super::is_valid_id("build_1-x") && super::is_valid_id("_a"));
        assert!(!super::is_valid_id("1st") && !super::is_valid_id("a.b") && !super::is_valid_id(""));
    }
}
