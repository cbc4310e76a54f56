//! Predictions: accuracy, latency and energy of many architectures at once, each naming the fit
//! it came from.

use flash_client::*;
use std::collections::HashMap;

use axum::extract::State;
use axum::http::HeaderMap;
use bytes::Bytes;
use flash_core::fit::{
    AccuracyModel, CostMetric, HardwareModel, INTERVAL_LEVEL, Interval, predict_batch,
};
use flash_core::{ArchSpec, FieldError};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, AuthProblems, BodyProblems};
use crate::extract::{Access, Caller, json_body};
use crate::state::AppState;

pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_predictions))
}

/// Most architectures in one request.
pub const MAX_BATCH: usize = 200_000;

/// The newest fits for the request, and which they are.
pub struct Fits {
    pub used: FitsUsed,
    pub accuracy: Option<AccuracyModel>,
    pub latency: Option<HardwareModel>,
    pub energy: Option<HardwareModel>,
    pub area: Option<HardwareModel>,
}

/// Loads the newest accuracy fit of `dataset` and latency/energy fits of `device`; a named
/// dataset or device with no fit is a 422 that says what to fit first.
pub async fn newest_fits(
    state: &AppState,
    dataset: Option<&str>,
    device: Option<&str>,
    need_latency: bool,
) -> ApiResult<Fits> {
    let mut fits = Fits {
        used: FitsUsed::default(),
        accuracy: None,
        latency: None,
        energy: None,
        area: None,
    };
    if let Some(dataset) = dataset {
        let stored = state
            .store
            .latest_model::<AccuracyModelRecord>(dataset, None)
            .await?
            .ok_or_else(|| {
                ApiError::field(
                    "dataset",
                    format!(
                        "no accuracy model for {dataset:?}: fit one with POST /v1/accuracy-models"
                    ),
                )
            })?;
        let record = stored;
        fits.used.accuracy_model = Some(record.id);
        fits.accuracy = Some(record.fit.model);
    }
    if let Some(device) = device {
        for metric in [CostMetric::Latency, CostMetric::Energy, CostMetric::Area] {
            let Some(stored) = state
                .store
                .latest_model::<HardwareModelRecord>(device, Some(<&str>::from(metric)))
                .await?
            else {
                continue;
            };
            let record = stored;
            match metric {
                CostMetric::Latency => {
                    fits.used.latency_model = Some(record.id);
                    fits.latency = Some(record.fit.model);
                }
                CostMetric::Energy => {
                    fits.used.energy_model = Some(record.id);
                    fits.energy = Some(record.fit.model);
                }
                CostMetric::Area => {
                    fits.used.area_model = Some(record.id);
                    fits.area = Some(record.fit.model);
                }
            }
        }
        if need_latency && fits.latency.is_none() {
            return Err(ApiError::field(
                "device",
                format!(
                    "no latency model for device {device:?}: fit one with POST /v1/hardware-models"
                ),
            ));
        }
    }
    Ok(fits)
}

/// A prediction with its 95% interval from a model's `factors` (none without them).
fn with_interval(factors: Option<(f64, f64)>, value: Option<f64>) -> Option<Interval> {
    let ((lower, upper), value) = (factors?, value?);
    Some(Interval {
        value,
        lower: value * lower,
        upper: value * upper,
    })
}

/// A model's interval factors at the 95% level, computed once for a whole batch.
fn factors(model: Option<&HardwareModel>) -> Option<(f64, f64)> {
    Some(model?.interval?.factors(INTERVAL_LEVEL))
}

/// Predict accuracy, latency and energy of architectures (ids or specs); up to 200,000 a call.
#[utoipa::path(
    post, path = "/v1/predictions", tag = "models",
    request_body = PredictionRequest,
    responses((status = 200, description = "One prediction per architecture, in order", body = PredictionResponse), AuthProblems, BodyProblems),
    security(("bearer" = ["read", "write", "admin"]))
)]
async fn create_predictions(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> ApiResult<axum::Json<PredictionResponse>> {
    caller.require(Access::Read, &state)?;
    let req: PredictionRequest = json_body(&headers, body, state.config.batch_body_limit)?;
    if req.architectures.is_empty() || req.architectures.len() > MAX_BATCH {
        return Err(ApiError::field(
            "architectures",
            format!("must list 1 to {MAX_BATCH} architectures"),
        ));
    }
    if req.device.is_none() && req.dataset.is_none() {
        return Err(ApiError::field(
            "device",
            "name a device, a dataset, or both",
        ));
    }
    // Specs in place; ids looked up.
    let mut specs: Vec<Option<ArchSpec>> = Vec::with_capacity(req.architectures.len());
    let mut ids: Vec<String> = Vec::new();
    let mut errors = Vec::new();
    for (i, value) in req.architectures.iter().enumerate() {
        match value {
            serde_json::Value::String(id) => {
                ids.push(id.clone());
                specs.push(None);
            }
            serde_json::Value::Object(_) => match ArchSpec::from_value(value) {
                Ok(spec) => specs.push(Some(spec)),
                Err(e) => {
                    errors.extend(e.0.into_iter().map(|f| {
                        FieldError::new(format!("architectures[{i}].{}", f.field), f.message)
                    }));
                    specs.push(None);
                }
            },
            _ => {
                errors.push(FieldError::new(
                    format!("architectures[{i}]"),
                    "must be an id (string) or a spec (object)",
                ));
                specs.push(None);
            }
        }
        if errors.len() >= 100 {
            break;
        }
    }
    if !errors.is_empty() {
        return Err(ApiError::invalid(errors));
    }
    let stored = state.store.architectures_by_ids(&ids).await?;
    let mut metrics_only = HashMap::new();
    for (i, value) in req.architectures.iter().enumerate() {
        if let serde_json::Value::String(id) = value {
            let arch = stored.get(id).ok_or_else(|| {
                ApiError::field(&format!("architectures[{i}]"), "no such architecture")
            })?;
            match &arch.spec {
                Some(spec) => specs[i] = Some(spec.clone()),
                None => {
                    metrics_only.insert(i, (arch.id.clone(), arch.metrics.clone()));
                }
            }
        }
    }
    let fits = newest_fits(&state, req.dataset.as_deref(), req.device.as_deref(), false).await?;
    let items = tokio::task::spawn_blocking(move || {
        let hardware: Vec<HardwareModel> = fits
            .latency
            .iter()
            .chain(fits.energy.iter())
            .chain(fits.area.iter())
            .cloned()
            .collect();
        let (latency_factors, energy_factors) = (
            factors(fits.latency.as_ref()),
            factors(fits.energy.as_ref()),
        );
        let batch: Vec<ArchSpec> = specs.iter().flatten().cloned().collect();
        let mut predicted = predict_batch(&batch, fits.accuracy.as_ref(), &hardware).into_iter();
        let mut batch_ids = batch.iter().map(ArchSpec::id);
        let items: Vec<PredictionItem> = (0..specs.len())
            .map(|i| {
                let (id, accuracy, costs) = match metrics_only.get(&i) {
                    Some((id, m)) => (
                        id.clone(),
                        fits.accuracy
                            .as_ref()
                            .map(|a| a.predict(m.nn_degree, m.params as f64)),
                        hardware
                            .iter()
                            .map(|h| h.predict_metrics(m))
                            .collect::<Vec<_>>(),
                    ),
                    None => {
                        let p = predicted.next().expect("one prediction per spec");
                        (
                            batch_ids.next().expect("one id per spec"),
                            p.accuracy,
                            p.costs,
                        )
                    }
                };
                let mut costs = costs.into_iter();
                let latency_ms = fits.latency.as_ref().and_then(|_| costs.next());
                let energy_mj = fits.energy.as_ref().and_then(|_| costs.next());
                PredictionItem {
                    architecture_id: id,
                    accuracy,
                    latency: with_interval(latency_factors, latency_ms),
                    energy: with_interval(energy_factors, energy_mj),
                    latency_ms,
                    energy_mj,
                    area_mm2: fits.area.as_ref().and_then(|_| costs.next()),
                }
            })
            .collect();
        PredictionResponse {
            fits: fits.used,
            items,
        }
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(axum::Json(items))
}
