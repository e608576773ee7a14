// `sqlx::migrate!` embeds the migration files at compile time but does not
// tell cargo about files added later; watching the folder rebuilds on a new one.
fn main() {
    println!("cargo:rerun-if-changed=../../infra/migrations/audit");
}
