//! Embeds every file of web/dist (scripts/build-web.sh makes it): for each,
//! its URL path, content type, a strong ETag (SHA-256 of the bytes) and, when
//! it is smaller, a gzip copy made here with the best compression, so that
//! the component does no work per request but pick one.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let dist = manifest_dir.join("../../web/dist");
    println!("cargo:rerun-if-changed={}", dist.display());
    println!("cargo:rerun-if-changed=build.rs");
    if !dist.join("index.html").is_file() {
        panic!(
            "\n\n{} has no index.html: build the web UI first with `bash scripts/build-web.sh` \
             (spin build and the API tests run it through the web component's build command)\n\n",
            dist.display()
        );
    }
    let dist = dist.canonicalize().unwrap();
    let mut files = Vec::new();
    walk(&dist, &mut files);
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
    let gz_dir = out_dir.join("gz");
    let _ = std::fs::remove_dir_all(&gz_dir);
    std::fs::create_dir_all(&gz_dir).unwrap();

    let mut entries = Vec::new();
    for (n, file) in files.iter().enumerate() {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file.strip_prefix(&dist).unwrap();
        let path: String = relative
            .components()
            .map(|c| format!("/{}", c.as_os_str().to_str().expect("a UTF-8 file name")))
            .collect();
        let bytes = std::fs::read(file).unwrap();
        let hash = etag_hash(&bytes);
        let gzip = gzip(&bytes).filter(|gz| gz.len() < bytes.len()).map(|gz| {
            let gz_file = gz_dir.join(format!("{n}.gz"));
            std::fs::write(&gz_file, &gz).unwrap();
            (gz_file, etag_hash(&gz))
        });
        entries.push((path, content_type(file), file.clone(), hash, gzip));
    }
    // Sorted by path, for a binary search.
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let mut code = String::from("/// web/dist, sorted by path.\nstatic FILES: &[File] = &[\n");
    for (path, content_type, file, hash, gzip) in &entries {
        let gzip = match gzip {
            Some((gz_file, gz_hash)) => format!(
                "Some(Body {{ bytes: include_bytes!({:?}), etag: \"\\\"{gz_hash}\\\"\" }})",
                gz_file.to_str().unwrap()
            ),
            None => "None".to_owned(),
        };
        writeln!(
            code,
            "    File {{ path: {path:?}, content_type: {content_type:?}, \
             identity: Body {{ bytes: include_bytes!({:?}), etag: \"\\\"{hash}\\\"\" }}, \
             gzip: {gzip} }},",
            file.to_str().unwrap()
        )
        .unwrap();
    }
    code.push_str("];\n");
    std::fs::write(out_dir.join("files.rs"), code).unwrap();
}

/// Every file under `dir`, in a stable order.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            println!("cargo:rerun-if-changed={}", path.display());
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// 128 bits of SHA-256, in hex: the ETag's opaque tag.
fn etag_hash(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn gzip(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(bytes).ok()?;
    encoder.finish().ok()
}

fn content_type(file: &Path) -> &'static str {
    let extension = file
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match extension.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        _ => "application/octet-stream",
    }
}
