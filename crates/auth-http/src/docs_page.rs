//! The API reference page at `/docs` (see docs/reference/operations.md#api-reference-page):
//! Swagger UI rendering `/openapi.json`, the document the server serves.
//! Swagger UI's files are compiled into the binary (the vendored
//! distribution of `utoipa-swagger-ui`), so the page fetches nothing from
//! anywhere but this server: no CDN, and no online validator badge.

use std::sync::{Arc, OnceLock};

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use utoipa_swagger_ui::Config;

/// Swagger UI's settings: where the document is, relative to the page's
/// base (`/docs/`), so the page also works under a path prefix.
fn config() -> Arc<Config<'static>> {
    static CONFIG: OnceLock<Arc<Config<'static>>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            Arc::new(
                Config::new(["../openapi.json"])
                    // Swagger UI would otherwise send the document to an
                    // online validator for its badge.
                    .validator_url("none")
                    .try_it_out_enabled(false)
                    // No top bar with a box to load other documents: the
                    // page shows this server's API only.
                    .use_base_layout(),
            )
        })
        .clone()
}

fn file(name: &str) -> Option<(Vec<u8>, String)> {
    match utoipa_swagger_ui::serve(name, config()) {
        Ok(Some(f)) => Some((f.bytes.into_owned(), f.content_type)),
        Ok(None) => None,
        Err(e) => {
            tracing::error!(error = %e, file = %name.escape_debug(), "the API reference page cannot be served");
            None
        }
    }
}

/// The API reference page (Swagger UI) for this document.
#[utoipa::path(get, path = "/docs", tag = "operations",
    responses((status = 200, description = "The API reference page (HTML)", content_type = "text/html")))]
pub async fn page() -> HttpResponse {
    let Some((bytes, _)) = file("index.html") else {
        return HttpResponse::NotFound().finish();
    };
    // The page's links are relative (`./swagger-ui.css`); served at `/docs`
    // without a trailing slash they would resolve to `/swagger-ui.css`.
    let html = String::from_utf8_lossy(&bytes)
        .replacen("<head>", "<head>\n    <base href=\"docs/\" />", 1)
        .replacen(
            "<title>Swagger UI</title>",
            "<title>auth-server API reference</title>",
            1,
        );
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(html)
}

/// A file of the API reference page (scripts, styles, icons).
#[utoipa::path(get, path = "/docs/{file}", tag = "operations",
    params(("file" = String, Path, description = "A file name of the page, such as swagger-ui-bundle.js")),
    responses(
        (status = 200, description = "The file"),
        (status = 404, description = "No such file"),
    ))]
pub async fn asset(name: web::Path<String>) -> HttpResponse {
    match file(&name) {
        Some((bytes, content_type)) => HttpResponse::Ok()
            .content_type(content_type)
            .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
            .body(bytes),
        None => HttpResponse::NotFound().finish(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_scripts_are_in_the_binary() {
        for name in [
            "index.html",
            "swagger-ui.css",
            "swagger-ui-bundle.js",
            "swagger-initializer.js",
        ] {
            assert!(file(name).is_some(), "{name} is missing");
        }
        assert!(file("no-such-file.js").is_none());
    }

    #[test]
    fn the_page_reads_this_servers_document_and_nothing_online() {
        let (init, _) = file("swagger-initializer.js").unwrap();
        let init = String::from_utf8(init).unwrap();
        assert!(init.contains("../openapi.json"), "{init}");
        assert!(!init.contains("petstore"), "{init}");
        assert!(init.contains("\"validatorUrl\": \"none\""), "{init}");
        let (index, _) = file("index.html").unwrap();
        assert!(!String::from_utf8(index).unwrap().contains("http"));
    }
}
