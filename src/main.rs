fn main() {
    std::process::exit(datovcr::cli::run());
}
