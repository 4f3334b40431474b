//! Strict decoders for untrusted bytes: canonical unpadded base64url, JSON without
//! duplicate keys or surrounding whitespace, and serde error text that never echoes input
//! (a key file or token must not leak through an error message).
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::{self, DeserializeOwned, Deserializer, MapAccess, SeqAccess, Visitor};
use std::collections::HashSet;
use std::fmt;

/// Unpadded base64url; the one encoding autosd writes.
pub fn b64u_encode(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes unpadded base64url and accepts only the canonical spelling: no `=`, no
/// standard-alphabet characters, no whitespace, no non-zero trailing bits. Re-encoding
/// and comparing makes "one value, one string" hold whatever the decoder tolerates.
pub fn b64u_decode(text: &str) -> Option<Vec<u8>> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    (URL_SAFE_NO_PAD.encode(&bytes) == text).then_some(bytes)
}

/// Why strict JSON parsing failed; carries positions, never input text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonProblem(pub String);

impl fmt::Display for JsonProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses one JSON object strictly: exactly `{…}` with no surrounding whitespace, no
/// duplicate key at any depth, then into `T` (whose `deny_unknown_fields` rejects extras).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonProblem> {
    if bytes.first() != Some(&b'{') || bytes.last() != Some(&b'}') {
        return Err(JsonProblem(
            "not a single JSON object without surrounding whitespace".into(),
        ));
    }
    parse_json_lenient_ws(bytes)
}

/// Like [`parse_json`] but tolerates surrounding whitespace (files edited by hand end in
/// a newline); duplicates, unknown fields and trailing data are still refused.
pub fn parse_json_lenient_ws<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, JsonProblem> {
    serde_json::from_slice::<NoDuplicates>(bytes).map_err(|e| describe(&e))?;
    serde_json::from_slice::<T>(bytes).map_err(|e| describe(&e))
}

/// A serde_json error reduced to its category, position and, for the messages that name
/// a field (unknown, missing, duplicate), that field; values are never repeated.
pub fn describe(err: &serde_json::Error) -> JsonProblem {
    use serde_json::error::Category;
    let what = match err.classify() {
        Category::Io => "unreadable input".to_string(),
        Category::Syntax => "invalid JSON syntax".to_string(),
        Category::Eof => "truncated JSON".to_string(),
        Category::Data => {
            let text = err.to_string();
            if let Some(field) = quoted_field(&text, "unknown field `")
                .or_else(|| quoted_field(&text, "missing field `"))
                .or_else(|| quoted_field(&text, "duplicate field `"))
            {
                let kind = text.split('`').next().unwrap_or("").trim();
                format!("{kind} `{field}`")
            } else {
                "a value has the wrong type or range".to_string()
            }
        }
    };
    JsonProblem(format!("{what} at line {} column {}", err.line(), err.column()))
}

fn quoted_field(text: &str, prefix: &str) -> Option<String> {
    let rest = &text[text.find(prefix)? + prefix.len()..];
    let name = &rest[..rest.find('`')?];
    // Field names come from our own schemas or are attacker text; keep only safe ones.
    let safe = name.len() <= 40 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    Some(if safe {
        name.to_string()
    } else {
        "<invalid name>".to_string()
    })
}

/// Walks any JSON value and fails on the first object with a repeated key.
struct NoDuplicates;

impl<'de> de::Deserialize<'de> for NoDuplicates {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NoDupVisitor)
    }
}

struct NoDupVisitor;

impl<'de> Visitor<'de> for NoDupVisitor {
    type Value = NoDuplicates;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_i64<E>(self, _: i64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_u64<E>(self, _: u64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_f64<E>(self, _: f64) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_str<E>(self, _: &str) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }
    fn visit_unit<E>(self) -> Result<NoDuplicates, E> {
        Ok(NoDuplicates)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NoDuplicates, A::Error> {
        while seq.next_element::<NoDuplicates>()?.is_some() {}
        Ok(NoDuplicates)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NoDuplicates, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if seen.contains(&key) {
                return Err(de::Error::custom(format!("duplicate field `{key}`")));
            }
            seen.insert(key);
            map.next_value::<NoDuplicates>()?;
        }
        Ok(NoDuplicates)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct T {
        #[allow(dead_code)] // read by the deserializer only
        a: u32,
    }

    #[test]
    fn base64url_is_canonical_only() {
        let enc = b64u_encode(b"hi!?");
        assert_eq!(b64u_decode(&enc).as_deref(), Some(&b"hi!?"[..]));
        assert!(b64u_decode(&format!("{enc}==")).is_none(), "padding");
        assert!(b64u_decode("aGk+").is_none(), "standard alphabet");
        assert!(b64u_decode("aGl").is_none(), "non-zero trailing bits");
        assert!(b64u_decode("aG k").is_none(), "whitespace");
    }

    #[test]
    fn json_refuses_duplicates_unknown_fields_and_padding() {
        assert!(parse_json::<T>(br#"{"a":1}"#).is_ok());
        let dup = parse_json::<T>(br#"{"a":1,"a":2}"#).expect_err("dup");
        assert!(dup.0.contains("duplicate"), "{dup}");
        let unknown = parse_json::<T>(br#"{"a":1,"b":2}"#).expect_err("unknown");
        assert!(unknown.0.contains("unknown field `b`"), "{unknown}");
        assert!(parse_json::<T>(br#" {"a":1}"#).is_err());
        assert!(parse_json::<T>(br#"{"a":1}x"#).is_err());
        assert!(parse_json::<T>(br#"{"a":1}{"a":1}"#).is_err());
        assert!(
            parse_json::<T>(br#"{"x":{"y":1,"y":2},"a":1}"#).is_err(),
            "nested duplicate"
        );
    }

    #[test]
    fn problems_never_echo_values() {
        let err = parse_json::<T>(br#"{"a":"s3cr3t-value"}"#).expect_err("type");
        assert!(!err.0.contains("s3cr3t"), "{err}");
    }
}
