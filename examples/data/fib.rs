// Prints the first N Fibonacci numbers (N from the first argument, default 10).
fn main() {
    let n: u32 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let (mut a, mut b) = (0u64, 1u64);
    for _ in 0..n {
        println!("{}", a);
        let next = a + b;
        a = b;
        b = next;
    }
}
