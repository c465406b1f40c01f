//! Path templates such as `/access_tokens/{id}/regenerate_token`, and the
//! [`Router`] that finds the template a request path fits.

use std::collections::HashMap;

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

/// Finds the endpoint for a method and path in one walk down a tree of
/// path segments, so the cost grows with the number of segments in the path
/// (a handful), not with the number of templates (202 for the whole CMA).
///
/// A literal segment wins over a parameter (`GET /users/me` is not
/// `GET /users/{userId}` with id `me`); when the literal branch leads
/// nowhere, the parameter branch is tried. Paths are compared as
/// [`PathTemplate::matches`] compares them: one trailing slash tolerated, a
/// parameter never matches an empty segment.
#[derive(Debug, Default)]
pub struct Router {
    /// Per method, the root of its tree. Few methods, so a list.
    methods: Vec<(String, Node)>,
}

#[derive(Debug, Default)]
struct Node {
    literals: HashMap<String, Node>,
    param: Option<Box<Node>>,
    /// The value of the template that ends here.
    value: Option<usize>,
}

impl Router {
    /// Adds `template` for `method` with `value` (an endpoint index). A
    /// template with the same method and the same shape (parameter names
    /// aside) is already there: `Err` with its value.
    pub fn insert(
        &mut self,
        method: &str,
        template: &PathTemplate,
        value: usize,
    ) -> Result<(), usize> {
        let method = method.to_ascii_uppercase();
        let position = match self.methods.iter().position(|(m, _)| *m == method) {
            Some(position) => position,
            None => {
                self.methods.push((method, Node::default()));
                self.methods.len() - 1
            }
        };
        let mut node = &mut self.methods[position].1;
        for segment in &template.segments {
            node = match segment {
                Segment::Literal(literal) => node.literals.entry(literal.clone()).or_default(),
                Segment::Param(_) => node.param.get_or_insert_with(Box::default),
            };
        }
        match node.value {
            Some(existing) => Err(existing),
            None => {
                node.value = Some(value);
                Ok(())
            }
        }
    }

    /// The value of the template `path` (no query string) fits, for `method`
    /// in any letter case.
    pub fn lookup(&self, method: &str, path: &str) -> Option<usize> {
        let (_, root) = self
            .methods
            .iter()
            .find(|(m, _)| m.eq_ignore_ascii_case(method))?;
        // Templates have a handful of segments; a path with more fits none.
        let mut segments = [""; 16];
        let mut count = 0;
        for segment in split(path) {
            *segments.get_mut(count)? = segment;
            count += 1;
        }
        find(root, &segments[..count])
    }
}

fn find(node: &Node, segments: &[&str]) -> Option<usize> {
    let Some((first, rest)) = segments.split_first() else {
        return node.value;
    };
    if let Some(found) = node
        .literals
        .get(*first)
        .and_then(|child| find(child, rest))
    {
        return Some(found);
    }
    match &node.param {
        Some(param) if !first.is_empty() => find(param, rest),
        _ => None,
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

    fn router(templates: &[(&str, &str)]) -> Router {
        let mut router = Router::default();
        for (index, (method, template)) in templates.iter().enumerate() {
            router
                .insert(method, &PathTemplate::parse(template).unwrap(), index)
                .unwrap();
        }
        router
    }

    #[test]
    fn the_router_finds_what_the_templates_match() {
        let router = router(&[
            ("GET", "/access_tokens"),
            ("GET", "/access_tokens/{id}"),
            ("POST", "/access_tokens/{id}/regenerate_token"),
            ("delete", "/access_tokens/{id}"),
        ]);
        assert_eq!(router.lookup("GET", "/access_tokens"), Some(0));
        assert_eq!(router.lookup("get", "/access_tokens/"), Some(0));
        assert_eq!(router.lookup("GET", "/access_tokens/312"), Some(1));
        assert_eq!(router.lookup("GET", "/access_tokens/312/"), Some(1));
        assert_eq!(
            router.lookup("POST", "/access_tokens/312/regenerate_token"),
            Some(2)
        );
        assert_eq!(router.lookup("DELETE", "/access_tokens/312"), Some(3));
        for (method, path) in [
            ("GET", "/access_tokens//"),
            ("GET", "/access_tokens/312/regenerate_token"),
            ("POST", "/access_tokens/312"),
            ("PUT", "/access_tokens/312"),
            ("GET", "/"),
            ("GET", ""),
            (
                "GET",
                "/access_tokens/1/2/3/4/5/6/7/8/9/10/11/12/13/14/15/16/17",
            ),
        ] {
            assert_eq!(router.lookup(method, path), None, "{method} {path}");
        }
    }

    #[test]
    fn a_literal_segment_wins_and_a_dead_end_falls_back_to_the_parameter() {
        let router = router(&[
            ("GET", "/users/{userId}"),
            ("GET", "/users/me"),
            ("PUT", "/items/{itemId}/publish"),
            ("PUT", "/items/bulk/destroy"),
        ]);
        assert_eq!(router.lookup("GET", "/users/me"), Some(1));
        assert_eq!(router.lookup("GET", "/users/42"), Some(0));
        assert_eq!(router.lookup("PUT", "/items/bulk/destroy"), Some(3));
        // `bulk` is a literal branch, but it has no `publish`: the id branch answers.
        assert_eq!(router.lookup("PUT", "/items/bulk/publish"), Some(2));
        assert_eq!(router.lookup("PUT", "/items/bulk"), None);
    }

    #[test]
    fn the_same_method_and_shape_twice_is_refused() {
        let mut router = router(&[("GET", "/roles/{roleId}")]);
        let again = PathTemplate::parse("/roles/{id}").unwrap();
        assert_eq!(router.insert("get", &again, 7), Err(0));
        assert_eq!(router.insert("DELETE", &again, 7), Ok(()));
    }

    /// The generated contract's 202 templates: each path built from a
    /// template routes back to that template.
    #[test]
    fn every_generated_template_routes_to_itself() {
        let manifest: serde_json::Value =
            serde_json::from_str(include_str!("../../schemas/cma/manifest.json")).unwrap();
        let endpoints = manifest["endpoints"].as_array().unwrap();
        let mut router = Router::default();
        let mut templates = Vec::new();
        for (index, endpoint) in endpoints.iter().enumerate() {
            let method = endpoint["method"].as_str().unwrap();
            let template = PathTemplate::parse(endpoint["path"].as_str().unwrap()).unwrap();
            router.insert(method, &template, index).unwrap();
            templates.push((method, template));
        }
        assert_eq!(templates.len(), 202);
        for (index, (method, template)) in templates.iter().enumerate() {
            let path: String = template
                .segments
                .iter()
                .map(|segment| match segment {
                    Segment::Literal(literal) => format!("/{literal}"),
                    Segment::Param(_) => "/a1B2".to_owned(),
                })
                .collect();
            assert_eq!(
                router.lookup(method, &path),
                Some(index),
                "{method} {path} ({})",
                endpoints[index]["id"]
            );
            assert!(template.matches(&path));
        }
    }

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
