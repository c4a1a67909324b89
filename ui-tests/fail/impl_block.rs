use breaker::circuit;

struct Client;

#[circuit]
impl Client {
    fn fetch(&self) -> Result<(), std::io::Error> {
        Ok(())
    }
}

fn main() {
    let _ = Client.fetch();
}
