use std::future::Future;

use breaker::circuit;

#[circuit]
fn fetch() -> impl Future<Output = Result<(), std::io::Error>> {
    async { Ok(()) }
}

fn main() {
    drop(fetch());
}
