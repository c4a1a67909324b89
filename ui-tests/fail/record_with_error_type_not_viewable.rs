use breaker::circuit;

// With `record`/`ignore` the breaker must look at the error as a `dyn Error`; this error type
// converts from `breaker::Error` but is not an error type itself.
#[derive(Debug)]
enum AppError {
    Circuit(breaker::Error),
}

impl From<breaker::Error> for AppError {
    fn from(error: breaker::Error) -> Self {
        AppError::Circuit(error)
    }
}

#[circuit(record = [std::io::Error])]
fn fetch() -> Result<u32, AppError> {
    Ok(1)
}

fn main() {
    let _ = fetch();
}
