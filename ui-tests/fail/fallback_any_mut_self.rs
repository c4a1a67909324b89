use breaker::circuit;

struct Client;

impl Client {
    fn cached(&mut self) -> std::io::Result<u32> {
        Ok(0)
    }

    // The arguments are cloned for a fallback after a failure; `&mut self` cannot be.
    #[circuit(fallback = Self::cached, fallback_on = "any")]
    fn fetch(&mut self) -> std::io::Result<u32> {
        Ok(1)
    }
}

fn main() {}
