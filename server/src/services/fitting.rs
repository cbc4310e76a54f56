//! Fitting: hardware models on a device's measurements (or an analytic profile's values) and
//! accuracy predictors on a data set's trained accuracies; and which fits a request uses.

use flash_client::{
    AccuracyModelRecord, AccuracyModelRequest, FitSample, FitsUsed, HardwareModelRecord,
    HardwareModelRequest,
};
use flash_core::features::FeatureVector;
use flash_core::fit::{
    AccuracyModel, AccuracyRecord, CostMetric, FitError, HardwareModel, fit_accuracy, fit_hardware,
};
use flash_core::measurement::median;
use flash_core::profile::CrossbarModel;
use flash_core::{ArchSpec, Space};
use std::sync::Arc;

use super::blocking;
use super::validation::{check_name, found};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::ModelRecord;

/// The fits a request uses, and which they are.
#[derive(Default)]
pub struct Fits {
    pub used: FitsUsed,
    pub accuracy: Option<AccuracyModel>,
    pub latency: Option<HardwareModel>,
    pub energy: Option<HardwareModel>,
    pub area: Option<HardwareModel>,
}

/// Loads the newest accuracy fit of `dataset` and latency/energy/area fits of `device`; a named
/// dataset with no fit (or device with no latency fit, when `need_latency`) is a 422 that says
/// what to fit first. One query per name finds the newest ids; the models come from the cache.
pub async fn newest_fits(
    state: &AppState,
    dataset: Option<&str>,
    device: Option<&str>,
    need_latency: bool,
) -> ApiResult<Fits> {
    let mut fits = Fits::default();
    if let Some(dataset) = dataset {
        let ids = state
            .store
            .latest_model_ids::<AccuracyModelRecord>(dataset)
            .await?;
        let Some((_, id)) = ids.first() else {
            return Err(ApiError::field(
                "dataset",
                format!("no accuracy model for {dataset:?}: fit one with POST /v1/accuracy-models"),
            ));
        };
        fits.set_accuracy(&*cached_model::<AccuracyModelRecord>(state, id).await?);
    }
    if let Some(device) = device {
        let ids = state
            .store
            .latest_model_ids::<HardwareModelRecord>(device)
            .await?;
        for (_, id) in &ids {
            fits.set_hardware(&*cached_model::<HardwareModelRecord>(state, id).await?);
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

/// A stored model by id, decoded once per process.
async fn cached_model<T>(state: &AppState, id: &str) -> ApiResult<Arc<T>>
where
    T: ModelRecord + Send + Sync + 'static,
{
    if let Some(record) = state.models.get::<T>(id) {
        return Ok(record);
    }
    let record = Arc::new(state.store.model::<T>(id).await?);
    state.models.insert(id, record.clone());
    Ok(record)
}

impl Fits {
    /// Uses `record` for its metric in place of whatever was there.
    pub fn set_hardware(&mut self, record: &HardwareModelRecord) {
        let (id, model) = (Some(record.id.clone()), Some(record.fit.model.clone()));
        match record.metric {
            CostMetric::Latency => (self.used.latency_model, self.latency) = (id, model),
            CostMetric::Energy => (self.used.energy_model, self.energy) = (id, model),
            CostMetric::Area => (self.used.area_model, self.area) = (id, model),
        }
    }

    /// Uses `record` as the accuracy fit in place of whatever was there.
    pub fn set_accuracy(&mut self, record: &AccuracyModelRecord) {
        self.used.accuracy_model = Some(record.id.clone());
        self.accuracy = Some(record.fit.model.clone());
    }
}

/// A hardware model named in a request's `field`, checked to be `device`'s model of `metric`.
pub async fn pinned_hardware_model(
    state: &AppState,
    field: &str,
    id: &str,
    device: &str,
    metric: CostMetric,
) -> ApiResult<HardwareModelRecord> {
    let m = found(
        state.store.model::<HardwareModelRecord>(id).await,
        field,
        "no such hardware model",
    )?;
    if m.device != device || m.metric != metric {
        return Err(ApiError::field(
            field,
            format!(
                "is a {} model of device {:?}",
                <&str>::from(m.metric),
                m.device
            ),
        ));
    }
    Ok(m)
}

/// An accuracy model named in a request's `field`, checked to be a model of `dataset`.
pub async fn pinned_accuracy_model(
    state: &AppState,
    field: &str,
    id: &str,
    dataset: &str,
) -> ApiResult<AccuracyModelRecord> {
    let m = found(
        state.store.model::<AccuracyModelRecord>(id).await,
        field,
        "no such accuracy model",
    )?;
    if m.dataset != dataset {
        return Err(ApiError::field(
            field,
            format!("is a model of data set {:?}", m.dataset),
        ));
    }
    Ok(m)
}

fn fit_error(e: FitError) -> ApiError {
    match e {
        FitError::NotEnoughSamples { .. } => ApiError::Unprocessable(e.to_string(), vec![]),
        other => ApiError::Unprocessable(format!("the data cannot be fitted: {other}"), vec![]),
    }
}

/// Fits and stores a hardware model of `req.device`: on its measurements, or for an analytic
/// device on its crossbar model's values.
pub async fn fit_hardware_model(
    state: &AppState,
    req: &HardwareModelRequest,
) -> ApiResult<HardwareModelRecord> {
    let device = found(
        state.store.device(&req.device).await,
        "device",
        "no such device",
    )?;
    let crossbar = crate::profiles::shipped(&device.profile).and_then(|p| p.crossbar().cloned());
    let samples = match crossbar {
        Some(crossbar) => analytic_samples(state, crossbar, &device.profile, req).await?,
        None => measured_samples(state, req).await?,
    };
    let Samples {
        points,
        ids,
        value_source,
    } = samples;
    let actuals: Vec<f64> = points.iter().map(|(_, y)| *y).collect();
    let (metric, sets) = (req.metric, req.feature_sets.clone());
    let fit = blocking(move || fit_hardware(metric, &points, &sets))
        .await?
        .map_err(fit_error)?;
    let samples = ids
        .into_iter()
        .zip(actuals)
        .zip(&fit.loo_predictions)
        .map(|((architecture_id, actual), loo)| FitSample {
            architecture_id,
            actual,
            loo_predicted: *loo,
        })
        .collect();
    Ok(state
        .store
        .put_hardware_model(&req.device, &fit, value_source, samples)
        .await?)
}

/// What a hardware model is fitted on: features and value per architecture, and where the
/// values came from.
struct Samples {
    points: Vec<(FeatureVector, f64)>,
    ids: Vec<String>,
    value_source: String,
}

/// The device's measurements: each architecture's median normalized latency or energy.
async fn measured_samples(state: &AppState, req: &HardwareModelRequest) -> ApiResult<Samples> {
    if req.metric == CostMetric::Area {
        return Err(ApiError::field(
            "metric",
            "area is not measured by agents; it comes from an analytic profile",
        ));
    }
    let mut measured = state.store.measured_on(&req.device).await?;
    if let Some(ids) = &req.fit_on {
        for (i, id) in ids.iter().enumerate() {
            if !measured.iter().any(|m| &m.architecture_id == id) {
                return Err(ApiError::field(
                    &format!("fit_on[{i}]"),
                    "not measured on this device",
                ));
            }
        }
        measured.retain(|m| ids.contains(&m.architecture_id));
    }
    let mut methods: Vec<String> = Vec::new();
    let (mut points, mut ids) = (Vec::new(), Vec::new());
    for m in measured {
        let value = match req.metric {
            CostMetric::Latency => median(&m.latencies_ms),
            _ if m.energies_mj.is_empty() => continue,
            _ => {
                for method in &m.energy_methods {
                    if !methods.contains(method) {
                        methods.push(method.clone());
                    }
                }
                median(&m.energies_mj)
            }
        };
        points.push((FeatureVector::from_metrics(&m.metrics), value));
        ids.push(m.architecture_id);
    }
    let value_source = match req.metric {
        CostMetric::Latency => "normalized latency (raw p50 where unpaired)".to_string(),
        _ if methods.is_empty() => {
            return Err(ApiError::Unprocessable(
                "no measurement on this device has energy".into(),
                vec![],
            ));
        }
        _ => methods.join(", "),
    };
    Ok(Samples {
        points,
        ids,
        value_source,
    })
}

/// Architectures an analytic surrogate is fitted on when none are named.
const ANALYTIC_SAMPLES: usize = 200;

/// An analytic device's values from its crossbar model, on the named architectures (with
/// specs) or on a stratified sample of the default space: the fitted model is a linear
/// surrogate of the crossbar model that the search can use, and its figures say how close it is.
async fn analytic_samples(
    state: &AppState,
    crossbar: CrossbarModel,
    profile: &str,
    req: &HardwareModelRequest,
) -> ApiResult<Samples> {
    let specs: Vec<ArchSpec> = match &req.fit_on {
        Some(ids) => {
            let found = state.store.architectures_by_ids(ids).await?;
            ids.iter()
                .enumerate()
                .map(|(i, id)| {
                    found.get(id).and_then(|a| a.spec.clone()).ok_or_else(|| {
                        ApiError::field(&format!("fit_on[{i}]"), "no such architecture with a spec")
                    })
                })
                .collect::<ApiResult<_>>()?
        }
        None => Space::default_space().sample_stratified(ANALYTIC_SAMPLES, 0),
    };
    let metric = req.metric;
    let values = blocking(move || {
        specs
            .iter()
            .map(|spec| {
                let e = crossbar.evaluate(&spec.to_graph());
                let value = match metric {
                    CostMetric::Latency => e.latency_ms,
                    CostMetric::Energy => e.energy_mj,
                    CostMetric::Area => e.area_mm2,
                };
                (spec.id(), (FeatureVector::of_spec(spec), value))
            })
            .collect::<Vec<_>>()
    })
    .await?;
    let (ids, points) = values.into_iter().unzip();
    Ok(Samples {
        points,
        ids,
        value_source: format!("analytic crossbar model of profile {profile} (not a measurement)"),
    })
}

/// Fits and stores an accuracy predictor on `req.dataset`'s trained accuracies.
pub async fn fit_accuracy_model(
    state: &AppState,
    req: &AccuracyModelRequest,
) -> ApiResult<AccuracyModelRecord> {
    check_name("dataset", &req.dataset)?;
    let rows = state
        .store
        .accuracy_records(&req.dataset, req.space.as_deref())
        .await?;
    if rows.is_empty() {
        return Err(ApiError::field(
            "dataset",
            "no accuracy records for this data set",
        ));
    }
    let records: Vec<AccuracyRecord> = rows
        .iter()
        .map(|(_, m, acc)| AccuracyRecord::from_metrics(m, *acc))
        .collect();
    let forms = req.forms.clone();
    let fit = blocking(move || fit_accuracy(&records, &forms))
        .await?
        .map_err(fit_error)?;
    let samples: Vec<FitSample> = rows
        .iter()
        .zip(&fit.loo_predictions)
        .map(|((id, _, acc), loo)| FitSample {
            architecture_id: id.clone(),
            actual: *acc,
            loo_predicted: *loo,
        })
        .collect();
    Ok(state
        .store
        .put_accuracy_model(&req.dataset, req.space.as_deref(), &fit, &samples)
        .await?)
}
