//! The two request forms AWS documents, decoded from their form-style query strings
//! (`+` is a space, `%2F` a slash), into what to fetch.

use std::fmt;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// `GET /secretsmanager/get?secretId=…[&versionId=…|&versionStage=…]`.
    Secret(SecretRequest),
    /// `GET /systemsmanager/parameters/get[/]?name=…[&version=…|&label=…][&withDecryption=…]`.
    Parameter(ParameterRequest),
}

/// A `GetSecretValue` request. Identifiers are names or ARNs, not values.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SecretRequest {
    pub secret_id: String,
    pub version_id: Option<String>,
    pub version_stage: Option<String>,
}

/// Which version of a parameter, written after the name as `name:3` or `name:label`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Selector {
    Version(u64),
    Label(String),
}

/// A `GetParameter` request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ParameterRequest {
    pub name: String,
    pub selector: Option<Selector>,
    pub with_decryption: bool,
}

impl ParameterRequest {
    /// The name passed to `GetParameter`, selector included (`/app/db:2`).
    pub fn qualified_name(&self) -> String {
        match &self.selector {
            None => self.name.clone(),
            Some(Selector::Version(v)) => format!("{}:{v}", self.name),
            Some(Selector::Label(l)) => format!("{}:{l}", self.name),
        }
    }
}

/// Why a request could not be understood; names the path or query field at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// The path is neither of the two documented routes.
    UnknownPath,
    /// A required field is absent or empty.
    Missing(&'static str),
    /// A field is present twice.
    Repeated(&'static str),
    /// A field's value is not of its type (`version` a positive whole number,
    /// `withDecryption` true or false).
    Invalid(&'static str),
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownPath => f.write_str("unknown path"),
            Self::Missing(field) => write!(f, "missing query parameter: {field}"),
            Self::Repeated(field) => write!(f, "repeated query parameter: {field}"),
            Self::Invalid(field) => write!(f, "invalid query parameter: {field}"),
        }
    }
}

impl std::error::Error for QueryError {}

/// Parses a request target's path and query (the part after `?`, without it).
pub fn parse(path: &str, query: &str) -> Result<Request, QueryError> {
    match path {
        "/secretsmanager/get" => parse_secret(query).map(Request::Secret),
        "/systemsmanager/parameters/get" | "/systemsmanager/parameters/get/" => {
            parse_parameter(query).map(Request::Parameter)
        }
        _ => Err(QueryError::UnknownPath),
    }
}

/// Keeps one value per known field, refusing repeats; unknown fields are ignored as AWS's
/// layer does.
fn single(query: &str, fields: &[&'static str]) -> Result<Vec<(&'static str, String)>, QueryError> {
    let mut found: Vec<(&'static str, String)> = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if let Some(field) = fields.iter().find(|f| **f == key) {
            if found.iter().any(|(seen, _)| seen == field) {
                return Err(QueryError::Repeated(field));
            }
            found.push((field, value.into_owned()));
        }
    }
    Ok(found)
}

/// `refreshNow` (`true`/`false`/`1`/`0`, AWS's open-source agent's spelling); absent is false.
pub fn refresh_now(query: &str) -> Result<bool, QueryError> {
    let found = single(query, &["refreshNow"])?;
    match take(&found, "refreshNow").as_deref() {
        None => Ok(false),
        Some(v) if v.eq_ignore_ascii_case("true") || v == "1" => Ok(true),
        Some(v) if v.eq_ignore_ascii_case("false") || v == "0" => Ok(false),
        Some(_) => Err(QueryError::Invalid("refreshNow")),
    }
}

fn take(found: &[(&'static str, String)], field: &str) -> Option<String> {
    found
        .iter()
        .find(|(name, _)| *name == field)
        .map(|(_, value)| value.clone())
}

fn parse_secret(query: &str) -> Result<SecretRequest, QueryError> {
    let found = single(query, &["secretId", "versionId", "versionStage"])?;
    let secret_id = take(&found, "secretId")
        .filter(|v| !v.is_empty())
        .ok_or(QueryError::Missing("secretId"))?;
    let non_empty = |field: &'static str| match take(&found, field) {
        Some(v) if v.is_empty() => Err(QueryError::Invalid(field)),
        other => Ok(other),
    };
    Ok(SecretRequest {
        secret_id,
        version_id: non_empty("versionId")?,
        version_stage: non_empty("versionStage")?,
    })
}

fn parse_parameter(query: &str) -> Result<ParameterRequest, QueryError> {
    let found = single(query, &["name", "version", "label", "withDecryption"])?;
    let name = take(&found, "name")
        .filter(|v| !v.is_empty())
        .ok_or(QueryError::Missing("name"))?;
    // AWS: with both version and label, the one placed first after `?` is used.
    let selector = found.iter().find_map(|(field, value)| match *field {
        "version" => Some(
            value
                .parse::<u64>()
                .ok()
                .filter(|v| *v > 0)
                .map(Selector::Version)
                .ok_or(QueryError::Invalid("version")),
        ),
        "label" if value.is_empty() => Some(Err(QueryError::Invalid("label"))),
        "label" => Some(Ok(Selector::Label(value.clone()))),
        _ => None,
    });
    let with_decryption = match take(&found, "withDecryption") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(_) => return Err(QueryError::Invalid("withDecryption")),
    };
    Ok(ParameterRequest {
        name,
        selector: selector.transpose()?,
        with_decryption,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_with_encoded_arn_and_stage() {
        let req = parse(
            "/secretsmanager/get",
            "secretId=arn%3Aaws%3Asecretsmanager%3Aeu-west-1%3A1%3Asecret%3Aa%2Fb+c&versionStage=AWSPREVIOUS",
        );
        assert_eq!(
            req,
            Ok(Request::Secret(SecretRequest {
                secret_id: "arn:aws:secretsmanager:eu-west-1:1:secret:a/b c".into(),
                version_id: None,
                version_stage: Some("AWSPREVIOUS".into()),
            }))
        );
    }

    #[test]
    fn secret_id_missing_empty_or_repeated() {
        assert_eq!(
            parse("/secretsmanager/get", ""),
            Err(QueryError::Missing("secretId"))
        );
        assert_eq!(
            parse("/secretsmanager/get", "secretId="),
            Err(QueryError::Missing("secretId"))
        );
        assert_eq!(
            parse("/secretsmanager/get", "secretId=a&secretId=b"),
            Err(QueryError::Repeated("secretId"))
        );
        assert_eq!(
            parse("/secretsmanager/get", "secretId=a&versionId="),
            Err(QueryError::Invalid("versionId"))
        );
    }

    #[test]
    fn parameter_on_both_paths_with_decryption() {
        for path in [
            "/systemsmanager/parameters/get",
            "/systemsmanager/parameters/get/",
        ] {
            let req = parse(path, "name=%2Fapp%2Fdb&withDecryption=true");
            assert_eq!(
                req,
                Ok(Request::Parameter(ParameterRequest {
                    name: "/app/db".into(),
                    selector: None,
                    with_decryption: true,
                })),
                "{path}"
            );
        }
    }

    #[test]
    fn first_of_version_and_label_wins() {
        let p = |q| match parse("/systemsmanager/parameters/get", q) {
            Ok(Request::Parameter(p)) => p.qualified_name(),
            other => format!("{other:?}"),
        };
        assert_eq!(p("name=/a&version=3&label=dev"), "/a:3");
        assert_eq!(p("label=dev&name=/a&version=3"), "/a:dev");
    }

    #[test]
    fn bad_parameter_fields_are_named() {
        let path = "/systemsmanager/parameters/get";
        assert_eq!(parse(path, "version=1"), Err(QueryError::Missing("name")));
        assert_eq!(
            parse(path, "name=/a&version=x"),
            Err(QueryError::Invalid("version"))
        );
        assert_eq!(
            parse(path, "name=/a&version=0"),
            Err(QueryError::Invalid("version"))
        );
        assert_eq!(
            parse(path, "name=/a&withDecryption=yes"),
            Err(QueryError::Invalid("withDecryption"))
        );
        assert_eq!(
            parse("/secretsmanager/get/x", "secretId=a"),
            Err(QueryError::UnknownPath)
        );
    }
}
