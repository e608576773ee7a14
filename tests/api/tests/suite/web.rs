//! The web component (route `/...`): web/dist as built, index.html for the
//! UI's own paths, 404 for a missing asset, the API's paths left to the
//! API, caching by ETag, gzip, and the security headers on everything.

use api_tests::{app, block_on, workspace_root, Reply, TestApp};
use std::io::{Read, Write};
use std::path::PathBuf;

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The JavaScript a first page load may fetch, gzipped (issue #18).
const JS_BUDGET: usize = 100 * 1024;

fn dist() -> PathBuf {
    workspace_root().join("web/dist")
}

/// `(URL path, bytes)` of every file of web/dist.
fn dist_files() -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &std::path::Path, files: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, files);
            } else {
                files.push(path);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&dist(), &mut paths);
    paths.sort();
    let root = dist();
    paths
        .into_iter()
        .map(|path| {
            let url: String = path
                .strip_prefix(&root)
                .unwrap()
                .components()
                .map(|c| format!("/{}", c.as_os_str().to_str().unwrap()))
                .collect();
            (url, std::fs::read(&path).unwrap())
        })
        .collect()
}

fn index_html() -> Vec<u8> {
    std::fs::read(dist().join("index.html")).expect("web/dist/index.html (scripts/build-web.sh)")
}

async fn get(app: &TestApp, path: &str) -> Reply {
    app.call("GET", path).send().await
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a gzip body");
    out
}

fn expected_content_type(path: &str) -> Option<&'static str> {
    Some(match path.rsplit('.').next()? {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => return None,
    })
}

#[track_caller]
fn assert_security_headers(reply: &Reply, what: &str) {
    assert_eq!(reply.header("content-security-policy"), Some(CSP), "{what}");
    assert_eq!(
        reply.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(
        reply.header("referrer-policy"),
        Some("no-referrer"),
        "{what}"
    );
    assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(reply.header("vary"), Some("Accept-Encoding"), "{what}");
}

#[test]
fn every_file_is_served_with_its_content_type_and_cache_policy() {
    block_on(async {
        let app = app().await;
        let files = dist_files();
        let mut seen = Vec::new();
        for (path, bytes) in &files {
            let reply = get(app, path).await;
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(
                reply.body,
                bytes.as_slice(),
                "{path}: the bytes of web/dist"
            );
            assert_eq!(reply.header("content-encoding"), None, "{path}");
            if let Some(want) = expected_content_type(path) {
                assert_eq!(reply.header("content-type"), Some(want), "{path}");
                seen.push(path.rsplit('.').next().unwrap().to_owned());
            }
            let cache = if path.starts_with("/assets/") {
                IMMUTABLE
            } else {
                "no-cache"
            };
            assert_eq!(reply.header("cache-control"), Some(cache), "{path}");
            let etag = reply.header("etag").unwrap_or_default();
            assert!(
                etag.len() > 2 && etag.starts_with('"') && etag.ends_with('"'),
                "{path}: a strong ETag, not {etag:?}"
            );
        }
        for ext in ["html", "js", "css", "svg"] {
            assert!(seen.iter().any(|e| e == ext), "web/dist has no .{ext}");
        }
        // The query is no part of the file's name.
        let (js, bytes) = files.iter().find(|(p, _)| p.ends_with(".js")).unwrap();
        let reply = get(app, &format!("{js}?v=1")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, bytes.as_slice());
        assert_eq!(reply.header("cache-control"), Some(IMMUTABLE));
    })
}

#[test]
fn the_uis_own_paths_get_index_html() {
    block_on(async {
        let app = app().await;
        let index = index_html();
        for path in [
            "/",
            "/index.html",
            "/login",
            "/customers",
            "/customers/0190f000-0000-7000-8000-000000000000",
            "/customers/0190f000-0000-7000-8000-000000000000?tab=audit",
            "/promotions/new/",
            "/assets",
        ] {
            let reply = get(app, path).await;
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(reply.body, index.as_slice(), "{path}");
            assert_eq!(
                reply.header("content-type"),
                Some("text/html; charset=utf-8"),
                "{path}"
            );
            assert_eq!(reply.header("cache-control"), Some("no-cache"), "{path}");
            assert!(reply.header("etag").is_some(), "{path}");
        }
    })
}

#[test]
fn a_missing_asset_is_a_404_never_html() {
    block_on(async {
        let app = app().await;
        for path in [
            "/assets/nope.js",
            "/assets/nope.css?v=2",
            "/assets/",
            "/assets/deeper/index.html",
        ] {
            let reply = get(app, path).await;
            let problem = reply.problem(404);
            assert_eq!(problem["type"], "https://spintemp.dev/problems/not-found");
            assert_security_headers(&reply, path);
        }
    })
}

#[test]
fn api_paths_stay_with_the_api() {
    block_on(async {
        let app = app().await;
        for path in ["/api/nope", "/api/customers/a/b", "/api/"] {
            let reply = get(app, path).await;
            let problem = reply.problem(404);
            assert_eq!(
                problem["type"], "https://spintemp.dev/problems/not-found",
                "{path}"
            );
            assert_eq!(reply.header("content-security-policy"), None, "{path}");
        }
        let reply = get(app, "/api/openapi.json").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-type"), Some("application/json"));
        assert_eq!(
            reply.json()["openapi"].as_str().map(|v| &v[..2]),
            Some("3.")
        );
    })
}

#[test]
fn every_etag_revalidates() {
    block_on(async {
        let app = app().await;
        for (path, _) in dist_files() {
            for encoding in [None, Some("gzip")] {
                let call = |tag: Option<&str>| {
                    let mut call = app.call("GET", &path);
                    if let Some(encoding) = encoding {
                        call = call.header("accept-encoding", encoding);
                    }
                    if let Some(tag) = tag {
                        call = call.header("if-none-match", tag);
                    }
                    call.send()
                };
                let first = call(None).await;
                assert_eq!(first.status, 200, "{path}");
                let etag = first.header("etag").expect("an ETag").to_owned();
                for tag in [
                    etag.clone(),
                    format!("W/{etag}"),
                    format!("\"something else\", {etag}"),
                    "*".to_owned(),
                ] {
                    let again = call(Some(tag.as_str())).await;
                    assert_eq!(again.status, 304, "{path} If-None-Match: {tag}");
                    assert!(again.body.is_empty(), "{path}: a 304 has no body");
                    assert_eq!(again.header("etag"), Some(etag.as_str()), "{path}");
                    assert_eq!(
                        again.header("cache-control"),
                        first.header("cache-control"),
                        "{path}"
                    );
                }
                for tag in ["\"something else\"", "\"\""] {
                    let other = call(Some(tag)).await;
                    assert_eq!(other.status, 200, "{path} If-None-Match: {tag}");
                    assert_eq!(other.body, first.body, "{path}");
                }
            }
        }
    })
}

#[test]
fn head_has_the_headers_and_no_body() {
    block_on(async {
        let app = app().await;
        let asset = dist_files()
            .into_iter()
            .find(|(p, _)| p.starts_with("/assets/"))
            .unwrap()
            .0;
        for path in ["/", "/customers", asset.as_str()] {
            let got = get(app, path).await;
            let head = app.call("HEAD", path).send().await;
            assert_eq!(head.status, 200, "{path}");
            assert!(head.body.is_empty(), "{path}: HEAD has no body");
            for name in ["content-type", "etag", "cache-control"] {
                assert_eq!(head.header(name), got.header(name), "{path}: {name}");
            }
            assert_security_headers(&head, path);
        }
    })
}

#[test]
fn other_methods_are_405() {
    block_on(async {
        let app = app().await;
        for (method, path) in [
            ("POST", "/"),
            ("POST", "/login"),
            ("PUT", "/index.html"),
            ("DELETE", "/assets/nope.js"),
            ("PATCH", "/customers/0190f000-0000-7000-8000-000000000000"),
            ("OPTIONS", "/"),
        ] {
            let reply = app.call(method, path).send().await;
            let problem = reply.problem(405);
            assert_eq!(
                problem["type"], "https://spintemp.dev/problems/method-not-allowed",
                "{method} {path}"
            );
            assert_eq!(reply.header("allow"), Some("GET, HEAD"), "{method} {path}");
            assert_security_headers(&reply, path);
        }
        // A caller's request id is kept, as the API keeps it.
        let reply = app
            .call("POST", "/")
            .header("x-request-id", "web-test-42")
            .send()
            .await;
        assert_eq!(reply.problem(405)["requestId"], "web-test-42");
    })
}

#[test]
fn gzip_when_the_client_takes_it() {
    block_on(async {
        let app = app().await;
        for (path, bytes) in dist_files() {
            let reply = app
                .call("GET", &path)
                .header("accept-encoding", "gzip, deflate, br")
                .send()
                .await;
            assert_eq!(reply.status, 200, "{path}");
            assert_eq!(reply.header("vary"), Some("Accept-Encoding"), "{path}");
            match reply.header("content-encoding") {
                Some("gzip") => {
                    assert!(reply.body.len() < bytes.len(), "{path}: gzip is smaller");
                    assert_eq!(gunzip(&reply.body), bytes, "{path}: gunzipped");
                }
                None => {
                    assert_eq!(reply.body, bytes.as_slice(), "{path}");
                    // Only what would not shrink goes uncompressed.
                    assert!(
                        !(path.ends_with(".js") || path.ends_with(".css")),
                        "{path} is not served gzipped"
                    );
                }
                Some(other) => panic!("{path}: content-encoding {other}"),
            }
            // A gzip copy has a tag of its own (strong ETags name bytes).
            let plain = get(app, &path).await;
            if reply.header("content-encoding").is_some() {
                assert_ne!(reply.header("etag"), plain.header("etag"), "{path}");
            }
            for refuses in ["gzip;q=0", "identity", "br", "gzip;q=0.000, *"] {
                let reply = app
                    .call("GET", &path)
                    .header("accept-encoding", refuses)
                    .send()
                    .await;
                assert_eq!(reply.header("content-encoding"), None, "{path} {refuses}");
                assert_eq!(reply.body, bytes.as_slice(), "{path} {refuses}");
            }
        }
        // `*` and a q above 0 take gzip too.
        let (css, bytes) = dist_files()
            .into_iter()
            .find(|(p, _)| p.ends_with(".css"))
            .unwrap();
        for takes in ["*", "GZIP;q=0.5", "br;q=1, gzip;q=0.1"] {
            let reply = app
                .call("GET", &css)
                .header("accept-encoding", takes)
                .send()
                .await;
            assert_eq!(reply.header("content-encoding"), Some("gzip"), "{takes}");
            assert_eq!(gunzip(&reply.body), bytes, "{takes}");
        }
    })
}

#[test]
fn security_headers_on_the_page_and_its_assets() {
    block_on(async {
        let app = app().await;
        for (path, _) in dist_files() {
            let reply = get(app, &path).await;
            assert_security_headers(&reply, &path);
        }
        let reply = get(app, "/customers/0190f000-0000-7000-8000-000000000000").await;
        assert_security_headers(&reply, "a deep link");
        // The CSP allows no inline script: the page has none.
        let index = String::from_utf8(index_html()).unwrap();
        for tag in tags(&index, "script") {
            assert!(
                attribute(tag, "src").is_some(),
                "an inline script, which the CSP refuses: <{tag}>"
            );
        }
    })
}

/// The JavaScript index.html makes the browser fetch (its scripts and
/// modulepreloads), gzipped as the component serves it, within budget.
#[test]
fn the_first_page_load_is_within_the_javascript_budget() {
    let index = String::from_utf8(index_html()).unwrap();
    let mut sources: Vec<String> = tags(&index, "script")
        .filter_map(|tag| attribute(tag, "src"))
        .collect();
    sources.extend(
        tags(&index, "link")
            .filter(|tag| attribute(tag, "rel").as_deref() == Some("modulepreload"))
            .filter_map(|tag| attribute(tag, "href")),
    );
    assert!(!sources.is_empty(), "index.html loads no script");
    let mut total = 0;
    for src in &sources {
        assert!(
            src.starts_with("/assets/"),
            "{src}: scripts come from /assets/ (self, immutable)"
        );
        let bytes = std::fs::read(dist().join(&src[1..])).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&bytes).unwrap();
        let size = gz.finish().unwrap().len();
        eprintln!("{src}: {size} bytes gzipped");
        total += size;
    }
    assert!(
        total <= JS_BUDGET,
        "the first page load fetches {total} bytes of gzipped JavaScript ({sources:?}); the budget is {JS_BUDGET}"
    );
}

/// The inside of every `<name …>` tag of `html`.
fn tags<'a>(html: &'a str, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    html.split('<').skip(1).filter_map(move |rest| {
        let tag = &rest[..rest.find('>')?];
        let after = tag
            .get(..name.len())
            .filter(|n| n.eq_ignore_ascii_case(name))
            .map(|_| &tag[name.len()..])?;
        after
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || c == '/')
            .then_some(tag)
    })
}

/// The value of attribute `name` in a tag's inside (quoted or not).
fn attribute(tag: &str, name: &str) -> Option<String> {
    let mut rest = tag;
    while let Some(at) = rest.find(name) {
        let before = rest[..at].chars().next_back();
        let after = rest[at + name.len()..].trim_start();
        rest = &rest[at + name.len()..];
        if !before.is_some_and(char::is_whitespace) {
            continue;
        }
        let Some(value) = after.strip_prefix('=') else {
            continue;
        };
        let value = value.trim_start();
        return Some(match value.chars().next()? {
            quote @ ('"' | '\'') => value[1..].split(quote).next()?.to_owned(),
            _ => value.split_whitespace().next()?.to_owned(),
        });
    }
    None
}
