use breaker::circuit;

// Only `{param}` placeholders: the macro matches them with the parameters.
#[circuit(name = "http:{}")]
fn fetch(host: &str) -> std::io::Result<usize> {
    Ok(host.len())
}

fn main() {}
