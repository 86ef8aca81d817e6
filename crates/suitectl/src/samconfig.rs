//! Recording a template parameter where `sam deploy` reads it: the `parameter_overrides` of one
//! configuration environment of samconfig.toml. The file keeps its comments and layout; only that
//! one entry changes.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use toml_edit::{Array, DocumentMut, Item, Value};

/// Sets `key=value` in `[<env>.deploy.parameters] parameter_overrides`, replacing an earlier
/// value of `key`, after checking that the environment deploys `stack_name`.
pub fn record_parameter_override(
    path: &Path,
    env: &str,
    stack_name: &str,
    key: &str,
    value: &str,
) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut document: DocumentMut = text
        .parse()
        .map_err(|e| anyhow!("{} is not valid TOML: {e}", path.display()))?;
    let configured = ["deploy", "global"].iter().find_map(|command| {
        document
            .get(env)?
            .get(command)?
            .get("parameters")?
            .get("stack_name")?
            .as_str()
    });
    match configured {
        Some(name) if name == stack_name => {}
        Some(name) => bail!(
            "config environment {env} of {} deploys stack {name}, not {stack_name}: \
             pass the --config-env that deploys {stack_name}",
            path.display()
        ),
        None => bail!(
            "{} has no stack_name in config environment {env}",
            path.display()
        ),
    }
    let parameters = document
        .get_mut(env)
        .and_then(|e| e.get_mut("deploy"))
        .and_then(|d| d.get_mut("parameters"))
        .and_then(Item::as_table_like_mut)
        .ok_or_else(|| anyhow!("{} has no [{env}.deploy.parameters]", path.display()))?;
    let entries = match parameters.get("parameter_overrides") {
        None => Vec::new(),
        Some(item) => match item.as_value() {
            Some(Value::Array(array)) => array
                .iter()
                .map(|v| {
                    v.as_str().map(str::to_owned).ok_or_else(|| {
                        anyhow!(
                            "{env}.deploy.parameters.parameter_overrides in {} holds a non-string",
                            path.display()
                        )
                    })
                })
                .collect::<Result<_>>()?,
            Some(Value::String(text)) => split_overrides(text.value())?,
            _ => bail!(
                "{env}.deploy.parameters.parameter_overrides in {} is neither a string nor a list",
                path.display()
            ),
        },
    };
    let prefix = format!("{key}=");
    let mut array: Array = entries
        .iter()
        .filter(|entry| !entry.starts_with(&prefix))
        .collect();
    array.push(format!("{key}={value}"));
    for entry in array.iter_mut() {
        entry.decor_mut().set_prefix("\n  ");
    }
    array.set_trailing("\n");
    array.set_trailing_comma(true);
    parameters.insert("parameter_overrides", Item::Value(Value::Array(array)));
    std::fs::write(path, document.to_string())
        .with_context(|| format!("writing {}", path.display()))
}

/// SAM's string form, `A=1 B="two words"`, as entries `A=1`, `B="two words"` (SAM accepts the
/// same entries as a list, which is what this module writes back).
fn split_overrides(text: &str) -> Result<Vec<String>> {
    let mut entries = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in text.chars() {
        match c {
            _ if escaped => {
                current.push(c);
                escaped = false;
            }
            '\\' if quoted => {
                current.push(c);
                escaped = true;
            }
            '"' => {
                current.push(c);
                quoted = !quoted;
            }
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    entries.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if quoted {
        bail!("parameter_overrides has an unterminated quote");
    }
    if !current.is_empty() {
        entries.push(current);
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str, text: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("suitectl-samconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    const CONFIG: &str = r#"version = 0.1
# kept
[default.global.parameters]
stack_name = "s"

[default.deploy.parameters]
capabilities = "CAPABILITY_IAM" # kept too
parameter_overrides = []

[lab.global.parameters]
stack_name = "lab"

[lab.deploy.parameters]
parameter_overrides = 'Stage=dev TableName="Multi Tenant" LoadTestUserName=old'
"#;

    #[test]
    fn records_into_a_list_and_keeps_the_rest_of_the_file() {
        let path = scratch("list.toml", CONFIG);
        record_parameter_override(&path, "default", "s", "LoadTestUserName", "AQID+/==").unwrap();
        record_parameter_override(&path, "default", "s", "LoadTestUserName", "AQIE").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.contains("# kept\n") && text.contains("# kept too"),
            "{text}"
        );
        let document: DocumentMut = text.parse().unwrap();
        let overrides = document["default"]["deploy"]["parameters"]["parameter_overrides"]
            .as_array()
            .unwrap();
        let entries: Vec<_> = overrides.iter().filter_map(|v| v.as_str()).collect();
        assert_eq!(entries, ["LoadTestUserName=AQIE"]);
        // The other environment is untouched.
        assert!(text.contains("LoadTestUserName=old'"), "{text}");
    }

    #[test]
    fn sams_string_form_becomes_a_list_with_the_same_entries() {
        let path = scratch("string.toml", CONFIG);
        record_parameter_override(&path, "lab", "lab", "LoadTestUserName", "new").unwrap();
        let document: DocumentMut = std::fs::read_to_string(&path).unwrap().parse().unwrap();
        let entries: Vec<_> = document["lab"]["deploy"]["parameters"]["parameter_overrides"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            entries,
            [
                "Stage=dev",
                "TableName=\"Multi Tenant\"",
                "LoadTestUserName=new"
            ]
        );
    }

    #[test]
    fn refuses_an_environment_of_another_stack_or_none() {
        let path = scratch("other.toml", CONFIG);
        let error = record_parameter_override(&path, "lab", "s", "K", "v")
            .unwrap_err()
            .to_string();
        assert!(error.contains("deploys stack lab, not s"), "{error}");
        let error = record_parameter_override(&path, "prod", "s", "K", "v")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("no stack_name in config environment prod"),
            "{error}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), CONFIG);
    }

    #[test]
    fn splits_quoted_values_with_spaces_and_escapes() {
        assert_eq!(
            split_overrides(r#" A=1  B="two words" C="a \"q\"" "#).unwrap(),
            ["A=1", "B=\"two words\"", r#"C="a \"q\"""#]
        );
        assert!(split_overrides(r#"A="open"#).is_err());
    }
}
