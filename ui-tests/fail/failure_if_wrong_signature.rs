use breaker::circuit;

struct Response {
    status: u16,
}

fn is_server_error(status: u16) -> bool {
    status >= 500
}

// `failure_if` takes `&T`, the `Ok` value.
#[circuit(failure_if = is_server_error)]
fn fetch() -> std::io::Result<Response> {
    Ok(Response { status: 200 })
}

fn main() {
    let _ = fetch().map(|r| r.status);
}
