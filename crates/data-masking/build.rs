fn main() {
    lambda_link::release_link_args();
}
