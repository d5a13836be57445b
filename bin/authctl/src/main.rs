//! `authctl`: see `authctl --help` and docs/authctl.md.

fn main() {
    let env = |k: &str| std::env::var(k).ok();
    let code = authctl::run(
        std::env::args_os().collect(),
        authctl::Io {
            env: &env,
            stdin: &mut std::io::stdin(),
            out: &mut std::io::stdout(),
            err: &mut std::io::stderr(),
        },
    );
    std::process::exit(code);
}
