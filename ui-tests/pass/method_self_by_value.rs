//! Methods taking `self`, `mut self` and `self: Box<Self>` by value.

use breaker::circuit;

struct Request {
    body: Vec<u8>,
}

impl Request {
    #[circuit]
    fn into_body(self) -> Result<Vec<u8>, std::io::Error> {
        Ok(self.body)
    }

    #[circuit]
    fn with_byte(mut self, byte: u8) -> Result<Self, std::io::Error> {
        self.body.push(byte);
        Ok(self)
    }

    #[circuit]
    fn boxed_len(self: Box<Self>) -> Result<usize, std::io::Error> {
        Ok(self.body.len())
    }
}

pub fn main() {
    let request = Request { body: vec![1] };
    let request = request
        .with_byte(2)
        .ok()
        .unwrap_or(Request { body: Vec::new() });
    assert_eq!(
        Box::new(Request { body: vec![0; 3] }).boxed_len().ok(),
        Some(3)
    );
    assert_eq!(request.into_body().ok(), Some(vec![1, 2]));
}
