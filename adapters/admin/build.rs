// `sqlx::migrate!` embeds the migration files it finds at compile time but
// does not tell cargo about files added later; watching the directories makes
// a new migration rebuild this crate.
fn main() {
    println!("cargo:rerun-if-changed=../../infra/migrations/app");
    println!("cargo:rerun-if-changed=../../infra/migrations/audit");
}
