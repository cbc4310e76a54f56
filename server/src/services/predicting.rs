//! Predictions: accuracy, latency and energy of many architectures at once under the newest
//! fits, each naming the fit it came from.

use flash_client::{PredictionItem, PredictionRequest, PredictionResponse};
use flash_core::features::{Counts, FeatureVector};
use flash_core::fit::{HardwareModel, INTERVAL_LEVEL, Interval, predict_batch};
use flash_core::metrics::Metrics;
use flash_core::{ArchSpec, FieldError};

use super::blocking;
use super::fitting::{Fits, newest_fits};
use super::validation::none_failed;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// Most architectures in one request.
pub const MAX_BATCH: usize = 200_000;

/// What each requested architecture is: a spec to predict from, or a stored architecture
/// known by its metrics only (imported ONNX).
enum Subject {
    Spec(ArchSpec),
    Metrics(String, Box<Metrics>),
}

/// Predicts for every architecture of `req` (ids or specs), in order.
pub async fn predict(state: &AppState, req: PredictionRequest) -> ApiResult<PredictionResponse> {
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
    let subjects = subjects(state, &req.architectures).await?;
    let fits = newest_fits(state, req.dataset.as_deref(), req.device.as_deref(), false).await?;
    blocking(move || predict_all(&subjects, fits)).await
}

/// The requested architectures: specs parsed in place, ids looked up in one query.
async fn subjects(state: &AppState, values: &[serde_json::Value]) -> ApiResult<Vec<Subject>> {
    // Specs parsed now; ids (`Err`) looked up below, all in one query.
    let mut parsed: Vec<Result<ArchSpec, &str>> = Vec::with_capacity(values.len());
    let mut errors = Vec::new();
    for (i, value) in values.iter().enumerate() {
        match value {
            serde_json::Value::String(id) => parsed.push(Err(id)),
            serde_json::Value::Object(_) => match ArchSpec::from_value(value) {
                Ok(spec) => parsed.push(Ok(spec)),
                Err(e) => errors.extend(e.0.into_iter().map(|f| {
                    FieldError::new(format!("architectures[{i}].{}", f.field), f.message)
                })),
            },
            _ => errors.push(FieldError::new(
                format!("architectures[{i}]"),
                "must be an id (string) or a spec (object)",
            )),
        }
        if errors.len() >= 100 {
            break;
        }
    }
    none_failed(errors)?;
    let ids: Vec<String> = parsed
        .iter()
        .filter_map(|p| p.as_ref().err().map(|id| id.to_string()))
        .collect();
    let stored = state.store.architectures_by_ids(&ids).await?;
    parsed
        .into_iter()
        .enumerate()
        .map(|(i, p)| match p {
            Ok(spec) => Ok(Subject::Spec(spec)),
            Err(id) => {
                let arch = stored.get(id).ok_or_else(|| {
                    ApiError::field(&format!("architectures[{i}]"), "no such architecture")
                })?;
                Ok(match &arch.spec {
                    Some(spec) => Subject::Spec(spec.clone()),
                    None => Subject::Metrics(arch.id.clone(), Box::new(arch.metrics.clone())),
                })
            }
        })
        .collect()
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

/// `what: feature = value is outside the fitted range [..]` for each prediction of `subject`
/// that extrapolates beyond the data its fit was fitted on.
fn extrapolations(subject: &Subject, fits: &Fits, hardware: &[HardwareModel]) -> Vec<String> {
    let ranged = fits
        .accuracy
        .as_ref()
        .is_some_and(|a| a.fitted_nn_degree.is_some() || a.fitted_params.is_some())
        || hardware.iter().any(|h| !h.fitted_ranges.is_empty());
    if !ranged {
        return Vec::new();
    }
    let (nn_degree, params, x) = match subject {
        Subject::Spec(spec) => {
            let (counts, nn_degree) = Counts::and_degree(spec);
            (nn_degree, counts.params, counts.features(1.0))
        }
        Subject::Metrics(_, m) => (m.nn_degree, m.params, FeatureVector::from_metrics(m)),
    };
    let accuracy = fits
        .accuracy
        .iter()
        .flat_map(|a| a.extrapolations(nn_degree, params as f64))
        .map(|e| format!("accuracy: {e}"));
    let costs = hardware.iter().flat_map(|h| {
        h.extrapolations(&x)
            .into_iter()
            .map(move |e| format!("{}: {e}", h.metric))
    });
    accuracy.chain(costs).collect()
}

fn predict_all(subjects: &[Subject], fits: Fits) -> PredictionResponse {
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
    let batch: Vec<ArchSpec> = subjects
        .iter()
        .filter_map(|s| match s {
            Subject::Spec(spec) => Some(spec.clone()),
            Subject::Metrics(..) => None,
        })
        .collect();
    let mut predicted = predict_batch(&batch, fits.accuracy.as_ref(), &hardware).into_iter();
    let mut batch_ids = batch.iter().map(ArchSpec::id);
    let items = subjects
        .iter()
        .map(|subject| {
            let (id, accuracy, costs) = match subject {
                Subject::Metrics(id, m) => (
                    id.clone(),
                    fits.accuracy
                        .as_ref()
                        .map(|a| a.predict(m.nn_degree, m.params as f64)),
                    hardware
                        .iter()
                        .map(|h| h.predict_metrics(m))
                        .collect::<Vec<_>>(),
                ),
                Subject::Spec(_) => {
                    let p = predicted.next().expect("one prediction per spec");
                    (
                        batch_ids.next().expect("one id per spec"),
                        p.accuracy,
                        p.costs,
                    )
                }
            };
            let warnings = extrapolations(subject, &fits, &hardware);
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
                warnings,
            }
        })
        .collect();
    PredictionResponse {
        fits: fits.used,
        items,
    }
}
