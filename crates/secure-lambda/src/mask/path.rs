//! A JSONPath subset for masking rules: `$.a.b`, `$.users[*].email`, `$.items[0].card`,
//! `$['odd key']`, `$.*`, and recursive `$..password` (or `..password`).

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Child(String),
    AnyChild,
    Index(usize),
    AnyIndex,
    Descendant(String),
}

/// A parsed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
}

/// A step of the location of a value inside a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Why a path did not parse; `position` is a character offset.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path `{path}` at character {position}: {reason}")]
pub struct PathError {
    pub path: String,
    pub position: usize,
    pub reason: &'static str,
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-' || c == '$' || c == '@'
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let chars: Vec<char> = text.trim().chars().collect();
        let error = |position: usize, reason: &'static str| PathError {
            path: text.to_owned(),
            position,
            reason,
        };
        let mut i = 0;
        if chars.first() == Some(&'$') {
            i = 1;
        } else if !(chars.first() == Some(&'.') && chars.get(1) == Some(&'.')) {
            return Err(error(
                0,
                "a path starts with `$` (or `..` for a recursive name)",
            ));
        }
        let read_name = |from: usize| {
            let mut j = from;
            while j < chars.len() && is_name_char(chars[j]) {
                j += 1;
            }
            (chars[from..j].iter().collect::<String>(), j)
        };
        let mut segments = Vec::new();
        while i < chars.len() {
            match chars[i] {
                '.' if chars.get(i + 1) == Some(&'.') => {
                    let (name, next) = read_name(i + 2);
                    if name.is_empty() {
                        return Err(error(i + 2, "`..` must be followed by a field name"));
                    }
                    segments.push(Segment::Descendant(name));
                    i = next;
                }
                '.' if chars.get(i + 1) == Some(&'*') => {
                    segments.push(Segment::AnyChild);
                    i += 2;
                }
                '.' => {
                    let (name, next) = read_name(i + 1);
                    if name.is_empty() {
                        return Err(error(i + 1, "`.` must be followed by a field name or `*`"));
                    }
                    segments.push(Segment::Child(name));
                    i = next;
                }
                '[' => {
                    let close = chars[i..]
                        .iter()
                        .position(|&c| c == ']')
                        .map(|p| i + p)
                        .ok_or_else(|| error(i, "unclosed `[`"))?;
                    let inner: String = chars[i + 1..close].iter().collect();
                    let inner = inner.trim();
                    let segment = if inner == "*" {
                        Segment::AnyIndex
                    } else if let Ok(index) = inner.parse::<usize>() {
                        Segment::Index(index)
                    } else if inner.len() >= 2
                        && ((inner.starts_with('\'') && inner.ends_with('\''))
                            || (inner.starts_with('"') && inner.ends_with('"')))
                    {
                        Segment::Child(inner[1..inner.len() - 1].to_owned())
                    } else {
                        return Err(error(
                            i + 1,
                            "brackets hold `*`, an index, or a quoted name",
                        ));
                    };
                    segments.push(segment);
                    i = close + 1;
                }
                _ => return Err(error(i, "expected `.`, `..` or `[`")),
            }
        }
        if segments.len() > 32 {
            return Err(error(0, "more than 32 steps"));
        }
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// True when the path selects at most one value in a document: names and indices only.
    pub fn is_singular(&self) -> bool {
        self.segments
            .iter()
            .all(|segment| matches!(segment, Segment::Child(_) | Segment::Index(_)))
    }

    /// True when the path selects the value at `location` exactly.
    pub fn matches(&self, location: &[Step<'_>]) -> bool {
        let end = location
            .iter()
            .fold(self.start(), |state, step| self.step(state, *step));
        self.accepts(end)
    }

    /// The automaton's state at the document's root.
    pub fn start(&self) -> PathState {
        PathState(1)
    }

    /// The state after one more step down the document.
    ///
    /// The path runs as a nondeterministic automaton whose states are "the first `i` segments
    /// matched" (at most 33 of them, one bit each): a step costs O(segments) whatever the depth
    /// and however many `..` the path has, so masking a document costs O(nodes x segments) per
    /// rule, where matching by backtracking costs exponential time on `$..a..a..a`.
    #[inline]
    pub fn step(&self, state: PathState, step: Step<'_>) -> PathState {
        // Most of a document lies off every rule's path: nothing below a dead state matches.
        if state.0 == 0 {
            return state;
        }
        self.step_live(state, step)
    }

    fn step_live(&self, state: PathState, step: Step<'_>) -> PathState {
        let mut next = 0u64;
        let mut bits = state.0;
        while bits != 0 {
            let i = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let Some(segment) = self.segments.get(i) else {
                // All segments matched: a deeper step leaves the path.
                continue;
            };
            let advance = match (segment, step) {
                (Segment::Descendant(name), step) => {
                    // `..name`: any number of steps, then `name`.
                    next |= 1 << i;
                    step == Step::Key(name)
                }
                (Segment::Child(name), Step::Key(key)) => name == key,
                (Segment::AnyChild, _) => true,
                (Segment::AnyIndex, Step::Index(_)) => true,
                (Segment::Index(expected), Step::Index(index)) => *expected == index,
                _ => false,
            };
            if advance {
                next |= 1 << (i + 1);
            }
        }
        PathState(next)
    }

    /// True when the path selects the value reached in `state`.
    pub fn accepts(&self, state: PathState) -> bool {
        state.0 & (1 << self.segments.len()) != 0
    }
}

/// Where a document walk stands in a path's automaton (see [`JsonPath::step`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PathState(u64);

#[cfg(test)]
mod tests {
    use super::*;
    use Step::{Index, Key};

    #[test]
    fn paths_match_what_they_say() {
        let p = |s: &str| JsonPath::parse(s).unwrap();
        assert!(p("$.a.b").matches(&[Key("a"), Key("b")]));
        assert!(!p("$.a.b").matches(&[Key("a")]));
        assert!(p("$.users[*].email").matches(&[Key("users"), Index(3), Key("email")]));
        assert!(!p("$.users[*].email").matches(&[Key("users"), Key("x"), Key("email")]));
        assert!(p("$.users[1].email").matches(&[Key("users"), Index(1), Key("email")]));
        assert!(!p("$.users[1].email").matches(&[Key("users"), Index(2), Key("email")]));
        assert!(p("$..password").matches(&[Key("a"), Index(0), Key("password")]));
        assert!(p("..password").matches(&[Key("password")]));
        assert!(p("$['odd key'].x").matches(&[Key("odd key"), Key("x")]));
        assert!(p("$.*").matches(&[Key("anything")]));
        assert!(p("$").matches(&[]));
    }

    #[test]
    fn recursive_paths_cost_linear_time() {
        // 16 `..a` steps against a 32-deep chain of `a`: exponential by backtracking (22 s),
        // a few hundred bit operations here.
        let text = format!("${}", "..a".repeat(16));
        let path = JsonPath::parse(&text).unwrap();
        let location: Vec<Step<'_>> = (0..32).map(|_| Key("a")).collect();
        let started = std::time::Instant::now();
        for depth in 0..=32 {
            assert_eq!(path.matches(&location[..depth]), depth >= 16, "{depth}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(1),
            "took {:?}",
            started.elapsed()
        );
    }

    #[test]
    fn bad_paths_say_where() {
        for (text, position) in [
            ("a.b", 0),
            ("$.", 2),
            ("$[1", 1),
            ("$..", 3),
            ("$x", 1),
            ("$[abc]", 2),
        ] {
            let err = JsonPath::parse(text).unwrap_err();
            assert_eq!(err.position, position, "{text}: {err}");
        }
    }
}
