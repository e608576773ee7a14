// `sqlx::migrate!` embeds the migration files at compile time but does not
// tell cargo about files added later; watching the folders rebuilds the relay,
// its benchmark and its tests (which embed the app migrations) on a new one.
fn main() {
    println!("cargo:rerun-if-changed=../../infra/migrations/app");
    println!("cargo:rerun-if-changed=../../infra/migrations/audit");
}
