fn main() {
    eprintln!("about to fail");
    panic!("boom");
}
