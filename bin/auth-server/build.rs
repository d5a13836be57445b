//! Records the git commit the binary is built from, for `--version` (and
//! `auth-server_build_info`-style reporting). Outside a git checkout (a
//! source tarball, a container build without `.git`) the commit comes from
//! `AUTH_SERVER_GIT_COMMIT` if set, else it is "unknown".

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-env-changed=AUTH_SERVER_GIT_COMMIT");
    let commit = std::env::var("AUTH_SERVER_GIT_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            // Rebuild when HEAD moves: HEAD itself (a checkout) and the
            // branch it points at (a commit).
            if let Some(dir) = git(&["rev-parse", "--git-dir"]) {
                println!("cargo:rerun-if-changed={dir}/HEAD");
                if let Some(r) = git(&["symbolic-ref", "-q", "HEAD"]) {
                    let common = git(&["rev-parse", "--git-common-dir"]).unwrap_or(dir);
                    println!("cargo:rerun-if-changed={common}/{r}");
                    println!("cargo:rerun-if-changed={common}/packed-refs");
                }
            }
            let mut c = git(&["rev-parse", "--short=12", "HEAD"])?;
            if git(&["status", "--porcelain", "--untracked-files=no"]).is_some() {
                c.push_str("-modified");
            }
            Some(c)
        })
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=AUTH_SERVER_GIT_COMMIT={commit}");
}
