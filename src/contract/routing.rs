//! Path templates such as `/access_tokens/{id}/regenerate_token`.

/// A parsed template. `{name}` matches exactly one non-empty segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathTemplate {
    text: String,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

impl PathTemplate {
    pub fn parse(text: &str) -> Result<Self, String> {
        if !text.starts_with('/') {
            return Err(format!("path template `{text}` must start with `/`"));
        }
        let segments = split(text)
            .map(
                |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    Some("") => Err(format!(
                        "path template `{text}` has an unnamed parameter `{{}}`"
                    )),
                    Some(name) => Ok(Segment::Param(name.to_owned())),
                    None => Ok(Segment::Literal(segment.to_owned())),
                },
            )
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            segments,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The index of the segment that holds parameter `name`.
    pub fn param_index(&self, name: &str) -> Option<usize> {
        self.segments
            .iter()
            .position(|segment| matches!(segment, Segment::Param(param) if param == name))
    }

    /// True when `path` (no query string) fits the template. One trailing
    /// slash is tolerated.
    pub fn matches(&self, path: &str) -> bool {
        let mut actual = split(path);
        for expected in &self.segments {
            match (expected, actual.next()) {
                (_, None) => return false,
                (Segment::Literal(literal), Some(segment)) if literal != segment => return false,
                (Segment::Param(_), Some("")) => return false,
                _ => {}
            }
        }
        actual.next().is_none()
    }

    /// The raw text of segment `index` of `path`.
    pub fn segment<'p>(&self, path: &'p str, index: usize) -> Option<&'p str> {
        split(path).nth(index)
    }
}

fn split(path: &str) -> impl Iterator<Item = &str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    let trimmed = trimmed.strip_suffix('/').unwrap_or(trimmed);
    trimmed.split('/').filter(move |_| !trimmed.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_match_whole_paths_only() {
        let find = PathTemplate::parse("/access_tokens/{id}").unwrap();
        assert!(find.matches("/access_tokens/312"));
        assert!(find.matches("/access_tokens/312/"));
        assert!(!find.matches("/access_tokens"));
        assert!(!find.matches("/access_tokens/312/regenerate_token"));
        assert!(!find.matches("/access_tokens//"));
        let list = PathTemplate::parse("/access_tokens").unwrap();
        assert!(list.matches("/access_tokens"));
        assert!(!list.matches("/"));
        assert_eq!(find.segment("/access_tokens/312", 1), Some("312"));
        assert_eq!(find.param_index("id"), Some(1));
    }
}
