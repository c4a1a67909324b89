use breaker::circuit;

#[circuit]
fn refresh() {}

fn main() {
    refresh();
}
