//! The `nmr` binary: hands the command line to [`nmr::cli`].

fn main() {
    std::process::exit(nmr::cli::main(std::env::args().skip(1).collect()));
}
