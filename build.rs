//! Build script: embeds the vendored SchemaStore schemas (`schemas/vendor/github-*.json`)
//! without their documentation prose and minified, so the linter parses about a third of
//! the text at start-up (the schema compile dominates a single-file run). The vendored
//! files themselves stay byte-identical to upstream.
#![allow(clippy::disallowed_methods)] // a build script reads cargo's environment directly
use serde_json::Value;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("OUT_DIR is not set")?);
    for name in ["github-workflow.json", "github-action.json"] {
        let src = format!("schemas/vendor/{name}");
        println!("cargo:rerun-if-changed={src}");
        let mut schema: Value = serde_json::from_str(&std::fs::read_to_string(&src)?)?;
        strip_docs(&mut schema);
        std::fs::write(out.join(name), serde_json::to_string(&schema)?)?;
    }
    println!("cargo:rerun-if-changed=build.rs");
    Ok(())
}

/// Drops prose (`description`, `markdownDescription`, `$comment`) the validator never reads,
/// but only where it is documentation, not where it names a property.
fn strip_docs(value: &mut Value) {
    match value {
        Value::Object(map) => {
            let is_schema = !map.contains_key("description") || !map["description"].is_object();
            if is_schema {
                map.remove("markdownDescription");
                map.remove("$comment");
                if map.get("description").is_some_and(Value::is_string) {
                    map.remove("description");
                }
            }
            for (key, v) in map.iter_mut() {
                if key != "enum" && key != "const" && key != "default" && key != "examples" {
                    strip_docs(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_docs),
        _ => {}
    }
}
