use breaker::circuit;

// Problems in the arguments and in the function are all reported in one compile.
#[circuit(max_failures = 0, coldown = "1s", cooldown = "5x")]
const fn fetch() -> u32 {
    1
}

fn main() {
    let _ = fetch();
}
