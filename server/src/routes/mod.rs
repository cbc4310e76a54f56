//! The REST API under /v1. Each resource module owns its handlers and returns its routes; the
//! OpenAPI document is collected from the handlers themselves. Handlers are thin: they parse the
//! request, check the caller's access and call one function of `services`.

mod accuracies;
mod architectures;
mod devices;
mod jobs;
mod measurements;
mod models;
mod plots;
mod predictions;
mod searches;
mod spaces;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Every route of /v1, with the OpenAPI document collected from the handlers.
pub fn all() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(architectures::routes())
        .merge(spaces::routes())
        .merge(devices::routes())
        .merge(jobs::routes())
        .merge(measurements::routes())
        .merge(accuracies::routes())
        .merge(models::routes())
        .merge(predictions::routes())
        .merge(searches::routes())
        .merge(plots::routes())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "FLASH co-design service",
        description = "Hardware-aware neural-architecture co-design: architectures and their topology metrics, devices and measurement jobs, fitted models and exact co-design search."
    ),
    modifiers(&SecurityAddon),
    components(schemas(flash_client::Problem)),
    tags(
        (name = "architectures"), (name = "spaces"), (name = "devices"), (name = "jobs"),
        (name = "measurements"), (name = "accuracies"), (name = "models"), (name = "searches")
    )
)]
pub struct ApiDoc;

struct SecurityAddon;

impl utoipa::Modify for SecurityAddon {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}
