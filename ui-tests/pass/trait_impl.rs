//! A trait-impl method, and two types with a same-named method in one module: their default
//! names come from `Self`, so they get separate breakers.

use breaker::circuit;

trait Store {
    fn load(&self, key: u32) -> Result<u32, std::io::Error>;
}

struct Primary;
struct Replica;

impl Store for Primary {
    #[circuit(max_failures = 1)]
    fn load(&self, key: u32) -> Result<u32, std::io::Error> {
        if key == 0 {
            Err(std::io::Error::other("down"))
        } else {
            Ok(key)
        }
    }
}

impl Store for Replica {
    #[circuit(max_failures = 1)]
    fn load(&self, key: u32) -> Result<u32, std::io::Error> {
        Ok(key + 1)
    }
}

pub fn main() {
    assert!(Primary.load(0).is_err());
    // Primary's breaker is open now; Replica's is a different breaker and still closed.
    assert!(Primary.load(1).is_err());
    assert_eq!(Replica.load(1).ok(), Some(2));
}
