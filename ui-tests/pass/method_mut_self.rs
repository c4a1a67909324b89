//! A method taking `&mut self`, mutating state and returning a mutable borrow of it.

use breaker::circuit;

#[derive(Default)]
struct Counter {
    hits: u32,
}

impl Counter {
    #[circuit]
    fn bump(&mut self) -> Result<u32, std::io::Error> {
        self.hits += 1;
        Ok(self.hits)
    }

    #[circuit]
    fn hits_mut(&mut self) -> Result<&mut u32, std::io::Error> {
        Ok(&mut self.hits)
    }
}

pub fn main() {
    let mut counter = Counter::default();
    assert_eq!(counter.bump().ok(), Some(1));
    if let Ok(hits) = counter.hits_mut() {
        *hits = 10;
    }
    assert_eq!(counter.bump().ok(), Some(11));
}
