use breaker::circuit;

struct Client;

impl Client {
    async fn stale(&self, _id: u32) -> Option<u32> {
        None
    }

    // With `fallback_on = "any"` too, a fallback that returns another type is pointed at.
    #[circuit(fallback = Self::stale, fallback_on = "any")]
    async fn fetch(&self, id: u32) -> Result<u32, std::io::Error> {
        Ok(id)
    }
}

fn main() {}
