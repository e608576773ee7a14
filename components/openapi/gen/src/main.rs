//! `cargo run -p openapi-gen` writes the OpenAPI document the `openapi`
//! component serves; `--check` only says whether the committed one is
//! what it would write (the tests check the same).

fn main() {
    let path = openapi_gen::document_path();
    let generated = openapi_gen::render();
    if std::env::args().any(|a| a == "--check") {
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        if committed != generated {
            eprintln!(
                "{} is out of date: run `cargo run -p openapi-gen`",
                path.display()
            );
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = std::fs::write(&path, generated) {
        eprintln!("cannot write {}: {e}", path.display());
        std::process::exit(1);
    }
    println!("wrote {}", path.display());
}
