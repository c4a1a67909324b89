use breaker::circuit;

#[circuit]
fn lookup(id: u32) -> Option<u32> {
    Some(id)
}

fn main() {
    let _ = lookup(1);
}
