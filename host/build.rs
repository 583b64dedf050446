//! Rebuilds the host when a file of the console (`host/console/`) is
//! added, changed or removed: the files are embedded in the binary, and
//! the embedding macro alone would not notice a new one.

fn main() {
    println!("cargo:rerun-if-changed=console");
}
