fn main() {
    println!("outpost: not yet");
}
