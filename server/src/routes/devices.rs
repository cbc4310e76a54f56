//! Devices: registration (upsert) by agents or operators, heartbeats, fleet listing.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use flash_client::{DeviceReferences, ListPage};

use flash_core::measurement::DeviceDescriptor;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, AuthProblems, BodyProblems, NotFoundProblem, QueryProblems};
use crate::extract::{Access, ApiJson, ApiQuery, Caller, Paging};
use crate::services::validation::{check_device_name, check_name};
use crate::state::AppState;
use crate::store::{Device, DeviceFilter, ReferencePoint};

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_devices))
        .routes(routes!(put_device, get_device))
        .routes(routes!(heartbeat_device))
        .routes(routes!(list_device_references))
        .routes(routes!(list_reference_latencies))
}

/// The device's reference networks and its current reference latency with each.
#[utoipa::path(
    get, path = "/v1/devices/{name}/references", tag = "devices",
    params(("name" = String, Path, description = "Device name")),
    responses((status = 200, description = "The device's reference latencies", body = DeviceReferences), AuthProblems, NotFoundProblem),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn list_device_references(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<DeviceReferences>> {
    caller.require(Access::Read, &state)?;
    state.store.device(&name).await?;
    Ok(axum::Json(DeviceReferences {
        items: state.store.device_references(&name).await?,
        device: name,
    }))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ReferenceQuery {
    /// Items per page, 1..=1000 (default 100).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only timings of this reference architecture.
    reference: Option<String>,
}

/// The device's speed history: the reference network's latency in every paired measurement,
/// oldest first. A slow-down or throttling shows as a rise, dated by `created_at`.
#[utoipa::path(
    get, path = "/v1/devices/{name}/reference-latencies", tag = "devices",
    params(("name" = String, Path, description = "Device name"), ReferenceQuery),
    responses((status = 200, description = "A page of reference timings", body = ListPage<ReferencePoint>), AuthProblems, NotFoundProblem, QueryProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn list_reference_latencies(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<ReferenceQuery>,
) -> ApiResult<axum::Json<ListPage<ReferencePoint>>> {
    caller.require(Access::Read, &state)?;
    let (cursor, limit) = Paging {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    state.store.device(&name).await?;
    Ok(axum::Json(
        state
            .store
            .reference_history(&name, q.reference.as_deref(), cursor, limit)
            .await?,
    ))
}

/// Register or update a device.
#[utoipa::path(
    put, path = "/v1/devices/{name}", tag = "devices",
    params(("name" = String, Path, description = "Device name")),
    request_body = DeviceDescriptor,
    responses(
        (status = 201, description = "Registered", body = Device),
        (status = 200, description = "Updated", body = Device),
        AuthProblems, BodyProblems
    ),
    security(("bearer" = ["write", "agent", "admin"]))
)]
async fn put_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiJson(descriptor): ApiJson<DeviceDescriptor>,
) -> ApiResult<(StatusCode, axum::Json<Device>)> {
    caller.require(Access::WriteOrAgent, &state)?;
    caller.require_device(&name)?;
    check_device_name(&name)?;
    check_name("profile", &descriptor.profile)?;
    let (device, created) = state.store.put_device(&name, &descriptor).await?;
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, axum::Json(device)))
}

/// Get a device, with its online state.
#[utoipa::path(
    get, path = "/v1/devices/{name}", tag = "devices",
    params(("name" = String, Path, description = "Device name")),
    responses((status = 200, description = "The device", body = Device), AuthProblems, NotFoundProblem),
    security(("bearer" = ["read", "write", "agent", "admin"]))
)]
async fn get_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Device>> {
    caller.require(Access::ReadOrAgent, &state)?;
    caller.require_device(&name)?;
    Ok(axum::Json(state.store.device(&name).await?))
}

/// Record that a device is alive.
#[utoipa::path(
    post, path = "/v1/devices/{name}/heartbeat", tag = "devices",
    params(("name" = String, Path, description = "Device name")),
    responses((status = 200, description = "The device", body = Device), AuthProblems, NotFoundProblem),
    security(("bearer" = ["write", "agent", "admin"]))
)]
async fn heartbeat_device(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<axum::Json<Device>> {
    caller.require(Access::WriteOrAgent, &state)?;
    caller.require_device(&name)?;
    Ok(axum::Json(state.store.heartbeat_device(&name).await?))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct DeviceQuery {
    /// Items per page, 1..=1000 (default 100).
    limit: Option<i64>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Only devices with this profile.
    profile: Option<String>,
}

/// List devices (the fleet).
#[utoipa::path(
    get, path = "/v1/devices", tag = "devices",
    params(DeviceQuery),
    responses((status = 200, description = "A page of devices", body = ListPage<Device>), AuthProblems, QueryProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn list_devices(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<DeviceQuery>,
) -> ApiResult<axum::Json<ListPage<Device>>> {
    caller.require(Access::Read, &state)?;
    let (cursor, limit) = Paging {
        limit: q.limit,
        cursor: q.cursor,
    }
    .parse()?;
    let filter = DeviceFilter { profile: q.profile };
    Ok(axum::Json(
        state.store.list_devices(&filter, cursor, limit).await?,
    ))
}
