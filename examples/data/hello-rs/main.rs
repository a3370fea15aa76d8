//! Greets every name given on the command line, one per line.
use std::env;

fn main() {
    let names: Vec<String> = env::args().skip(1).collect();
    if names.is_empty() {
        println!("hello, world");
    }
    for name in names {
        println!("hello, {name}");
    }
}
