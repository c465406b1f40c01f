//! The README and `docs/` as a newcomer follows them: every relative link
//! leads to a file of the repository (and to a heading there, when it names
//! one), and no page sends the reader to a path outside the repository.

use crate::support::repo_path;
use pulldown_cmark::{Event, Parser, Tag, TagEnd};
use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// README.md and every page under docs/.
fn pages() -> Vec<PathBuf> {
    let mut pages = vec![repo_path("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo_path("docs"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 8, "docs/ lost its pages: {docs:?}");
    pages.extend(docs);
    pages
}

/// Each link target of a Markdown text, as written.
fn links(markdown: &str) -> Vec<String> {
    Parser::new(markdown)
        .filter_map(|event| match event {
            Event::Start(Tag::Link { dest_url, .. } | Tag::Image { dest_url, .. }) => {
                Some(dest_url.into_string())
            }
            _ => None,
        })
        .collect()
}

/// The anchors GitHub gives a page's headings: lowercase, punctuation
/// dropped, spaces to hyphens, repeats numbered `-1`, `-2` ….
fn anchors(markdown: &str) -> HashSet<String> {
    let mut anchors = HashSet::new();
    let mut heading: Option<String> = None;
    for event in Parser::new(markdown) {
        match event {
            Event::Start(Tag::Heading { .. }) => heading = Some(String::new()),
            Event::Text(text) | Event::Code(text) => {
                if let Some(heading) = heading.as_mut() {
                    heading.push_str(&text);
                }
            }
            Event::End(TagEnd::Heading(_)) => {
                let text = heading.take().unwrap();
                let slug: String = text
                    .trim()
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect();
                let mut unique = slug.clone();
                let mut n = 0;
                while !anchors.insert(unique.clone()) {
                    n += 1;
                    unique = format!("{slug}-{n}");
                }
            }
            _ => {}
        }
    }
    anchors
}

/// `path` with `.` and `..` resolved lexically; `None` when it climbs out
/// of the repository.
fn inside_repo(path: &Path) -> Option<PathBuf> {
    let root = repo_path("");
    let relative = path.strip_prefix(&root).ok()?;
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for component in relative.components() {
        match component {
            Component::Normal(part) => parts.push(part),
            Component::CurDir => {}
            Component::ParentDir => {
                parts.pop()?;
            }
            _ => return None,
        }
    }
    Some(parts.iter().fold(root, |path, part| path.join(part)))
}

/// Every broken relative link of `page`: missing file, a path outside the
/// repository, or a `#heading` the target does not have.
fn broken_links(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut broken = Vec::new();
    for link in links(&text) {
        if link.contains("://") || link.starts_with("mailto:") {
            continue;
        }
        let (file, fragment) = match link.split_once('#') {
            Some((file, fragment)) => (file, Some(fragment)),
            None => (link.as_str(), None),
        };
        let target = if file.is_empty() {
            Some(page.to_owned())
        } else {
            inside_repo(&page.parent().unwrap().join(file))
        };
        let Some(target) = target else {
            broken.push(format!("{link}: leaves the repository"));
            continue;
        };
        if !target.exists() {
            broken.push(format!("{link}: no such file"));
            continue;
        }
        if let Some(fragment) = fragment
            && target.extension().is_some_and(|ext| ext == "md")
            && !anchors(&std::fs::read_to_string(&target).unwrap()).contains(fragment)
        {
            broken.push(format!("{link}: no heading #{fragment}"));
        }
    }
    broken
}

#[test]
fn every_relative_link_in_readme_and_docs_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in pages() {
        checked += links(&std::fs::read_to_string(&page).unwrap()).len();
        for problem in broken_links(&page) {
            broken.push(format!("{}: {problem}", page.display()));
        }
    }
    assert!(
        checked > 10,
        "only {checked} links found: is the parser reading the pages?"
    );
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

#[test]
fn the_link_check_reports_each_kind_of_broken_link() {
    let dir = tempfile::tempdir_in(repo_path("target")).unwrap();
    std::fs::write(dir.path().join("there.md"), "# A heading\n").unwrap();
    let page = dir.path().join("page.md");
    std::fs::write(
        &page,
        "[ok](there.md) [ok](there.md#a-heading) [ok](#top) [web](https://example.com/x)\n\
         [gone](missing.md) [anchor](there.md#no-such) [out](../../../../outside.md)\n\n# Top\n",
    )
    .unwrap();
    let broken = broken_links(&page);
    assert_eq!(broken.len(), 3, "{broken:?}");
    assert!(
        broken[0].starts_with("missing.md: no such file"),
        "{broken:?}"
    );
    assert!(broken[1].contains("no heading #no-such"), "{broken:?}");
    assert!(broken[2].contains("leaves the repository"), "{broken:?}");
}

#[test]
fn no_page_names_a_path_outside_the_repository() {
    // The ways a page could point outside: the sibling folder CI provides,
    // and absolute paths of the machines datovcr was built on.
    let outside = [
        "../",
        "shared/reference",
        "shared/real-traffic",
        "/work/",
        "/tmp/",
        "/home/",
    ];
    let mut found = Vec::new();
    for page in pages() {
        let text = std::fs::read_to_string(&page).unwrap();
        for (number, line) in text.lines().enumerate() {
            for pattern in outside {
                if line.contains(pattern) {
                    found.push(format!("{}:{}: {line}", page.display(), number + 1));
                    break;
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "pages naming paths outside the repository:\n{}",
        found.join("\n")
    );
}
