use breaker::circuit;

#[derive(Debug)]
enum AppError {
    NotFound,
}

#[circuit]
fn fetch(id: u32) -> Result<u32, AppError> {
    if id == 0 {
        Err(AppError::NotFound)
    } else {
        Ok(id)
    }
}

fn main() {
    let _ = fetch(1);
}
