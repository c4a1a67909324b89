use breaker::circuit;

trait Store {
    #[circuit]
    fn load(&self) -> Result<u32, std::io::Error>;
}

fn main() {}
