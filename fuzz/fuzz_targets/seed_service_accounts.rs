//! The service-accounts seed file (see docs/reference/seed-files.md#the-service-accounts-file): any text parses or yields
//! errors that render one per line and name the file, never a panic.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) =
        auth_seed::parse_service_accounts_str(Path::new("service-accounts.yaml"), text)
    {
        let shown = errors.to_string();
        assert_eq!(shown.lines().count(), errors.len());
        assert!(shown.contains("service-accounts.yaml"));
    }
});
