//! Sampling: architectures of a space to measure or train, uniform, stratified or informative
//! (what the newest model learns most from), stored so that jobs and accuracies can name them.

use flash_client::{
    AccuracyModelRecord, HardwareModelRecord, Purpose, SampleRequest, SampleResponse, SampleScore,
    Strategy,
};
use flash_core::features::{Counts, Feature, FeatureVector};
use flash_core::fit::CostMetric;
use flash_core::sampling::{Design, Proposals, propose};
use flash_core::{ArchSpec, Space};

use super::blocking;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::NewArchitecture;

/// Samples `req.n` architectures of `space` and stores them.
pub async fn sample(
    state: &AppState,
    space: &'static Space,
    req: SampleRequest,
) -> ApiResult<SampleResponse> {
    let strategy = match (req.strategy, req.stratified) {
        (None, stratified) => {
            if stratified {
                Strategy::Stratified
            } else {
                Strategy::Uniform
            }
        }
        (Some(s), true) if s != Strategy::Stratified => {
            return Err(ApiError::field(
                "stratified",
                "contradicts `strategy`; give only `strategy`",
            ));
        }
        (Some(s), _) => s,
    };
    let max = if strategy == Strategy::Informative {
        200
    } else {
        10_000
    };
    if !(1..=max).contains(&req.n) {
        return Err(ApiError::field("n", format!("must be in 1..={max}")));
    }
    let (n, seed) = (req.n, req.seed);
    let informed = match strategy {
        Strategy::Informative => Some(informative(state, space, &req).await?),
        _ => None,
    };
    let (specs, scores, model_id, pool) = match informed {
        Some(i) => (i.specs, Some(i.scores), Some(i.model_id), Some(i.pool)),
        None => {
            let specs = blocking(move || match strategy {
                Strategy::Stratified => space.sample_stratified(n, seed),
                _ => space.sample_uniform(n, seed),
            })
            .await?;
            (specs, None, None, None)
        }
    };
    let new = blocking(move || {
        specs
            .into_iter()
            .map(NewArchitecture::from_spec)
            .collect::<Vec<_>>()
    })
    .await?;
    let items = state.store.put_architectures(new).await?;
    Ok(SampleResponse {
        space: space.name.to_string(),
        seed,
        stratified: strategy == Strategy::Stratified,
        purpose: req.purpose,
        strategy,
        model_id,
        scores,
        pool,
        items,
    })
}

struct Informed {
    specs: Vec<ArchSpec>,
    scores: Vec<SampleScore>,
    model_id: String,
    pool: usize,
}

impl Informed {
    fn new(p: Proposals, scores: Vec<SampleScore>, model_id: String) -> Informed {
        Informed {
            pool: p.pool,
            specs: p.items.into_iter().map(|i| i.spec).collect(),
            scores,
            model_id,
        }
    }
}

/// The informative sample for `req`'s purpose, from the newest model it names.
async fn informative(
    state: &AppState,
    space: &'static Space,
    req: &SampleRequest,
) -> ApiResult<Informed> {
    let (n, seed) = (req.n, req.seed);
    let missing = |what: String| ApiError::Unprocessable(what, vec![]);
    match req.purpose {
        Purpose::Measure => {
            let device = req.device.clone().ok_or_else(|| {
                ApiError::field("device", "informative measure sampling needs the device")
            })?;
            let stored = state
                .store
                .latest_model::<HardwareModelRecord>(&device, Some(<&str>::from(CostMetric::Latency)))
                .await?
                .ok_or_else(|| {
                    missing(format!(
                        "device {device:?} has no latency model yet: measure a first sample                          and fit one with POST /v1/hardware-models {{\"device\": {device:?}, \
                         \"metric\": \"latency\"}}, then ask again"
                    ))
                })?;
            let record = stored;
            let ids: Vec<String> = record
                .samples
                .iter()
                .map(|s| s.architecture_id.clone())
                .collect();
            let archs = state.store.architectures_by_ids(&ids).await?;
            let features = record.fit.model.features.clone();
            let training: Vec<Vec<f64>> = ids
                .iter()
                .filter_map(|id| archs.get(id))
                .map(|a| select(&FeatureVector::from_metrics(&a.metrics), &features))
                .collect();
            let names: Vec<String> = features.iter().map(|f| format!("{f:?}")).collect();
            let (model_id, trained) = (record.id.clone(), training.len());
            blocking(move || {
                let design = Design::from_rows(&training).ok_or_else(|| {
                    missing("the latency model's training set could not be rebuilt".into())
                })?;
                let row = |s: &ArchSpec| select(&FeatureVector::of_spec(s), &features);
                let p = propose(space, design, row, n, seed);
                let scores = explain(
                    &p,
                    &model_id,
                    "latency",
                    trained,
                    "measured",
                    |_| None,
                    &names,
                );
                Ok(Informed::new(p, scores, model_id))
            })
            .await?
        }
        Purpose::Train => {
            let dataset = req.dataset.clone().ok_or_else(|| {
                ApiError::field("dataset", "informative train sampling needs the data set")
            })?;
            let stored = state
                .store
                .latest_model::<AccuracyModelRecord>(&dataset, None)
                .await?
                .ok_or_else(|| {
                    missing(format!(
                        "data set {dataset:?} has no accuracy model yet: train a first sample, \
                         record its accuracies and fit one with POST /v1/accuracy-models \
                         {{\"dataset\": {dataset:?}}}, then ask again"
                    ))
                })?;
            let record = stored;
            let model = record.fit.model;
            let form = model.form;
            let (model_id, trained) = (record.id, record.fit.n);
            blocking(move || {
                let design =
                    Design::from_inverse_gram(model.inverse_gram.clone(), form.coefficients())
                        .ok_or_else(|| {
                            missing("the accuracy model has no usable information matrix".into())
                        })?;
                let row = |s: &ArchSpec| {
                    let (counts, nn_degree) = Counts::and_degree(s);
                    form.row(nn_degree, counts.params as f64)
                };
                let p = propose(space, design, row, n, seed);
                let std = |h: f64| Some(model.residual_std * (1.0 + h).sqrt());
                let scores = explain(
                    &p,
                    &model_id,
                    "accuracy",
                    trained,
                    "trained",
                    std,
                    &[form.to_string()],
                );
                Ok(Informed::new(p, scores, model_id))
            })
            .await?
        }
    }
}

fn select(x: &FeatureVector, features: &[Feature]) -> Vec<f64> {
    features.iter().map(|f| x.get(*f)).collect()
}

/// A score and a sentence for each proposal.
fn explain(
    p: &Proposals,
    model_id: &str,
    target: &str,
    trained: usize,
    done: &str,
    predictive_std: impl Fn(f64) -> Option<f64>,
    regressors: &[String],
) -> Vec<SampleScore> {
    p.items
        .iter()
        .enumerate()
        .map(|(k, item)| {
            let ratio = item.leverage / p.pool_median_leverage.max(f64::MIN_POSITIVE);
            SampleScore {
                architecture_id: item.spec.id(),
                leverage: item.leverage,
                predictive_std: predictive_std(item.leverage),
                why: format!(
                    "leverage {:.3} under {target} model {model_id}, {ratio:.1}x the median of \
                     {} uniform candidates: its regressors ({}) lie far from the {trained} \
                     {done} architectures{}, so a {} value here constrains the fit most",
                    item.leverage,
                    p.pool,
                    regressors.join(", "),
                    if k == 0 {
                        String::new()
                    } else {
                        format!(" and the {k} earlier picks")
                    },
                    done,
                ),
            }
        })
        .collect()
}
