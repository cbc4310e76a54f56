//! What a job asks the agent to do: the measurement protocol and the reference network to pair
//! with.

use serde::{Deserialize, Serialize};

use crate::space::FieldError;

/// How to measure. Every field is optional: the agent fills what is missing from its profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Protocol {
    /// Intra-op threads of the ONNX Runtime session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
    /// Execution provider: `cpu` or `cuda`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    /// Target half-width of the 95% confidence interval of the median, relative (0.01 = +-1%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_relative_ci: Option<f64>,
    /// Most seconds of timed runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_budget_s: Option<f64>,
    /// Fewest timed runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_runs: Option<u32>,
    /// Most warm-up runs (warm-up stops earlier once latency is stable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_warmup_runs: Option<u32>,
    /// Time every run alternately with the device's reference network and report the
    /// run-by-run ratio (the default in every profile); `false` reports raw latency only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paired: Option<bool>,
}

impl Protocol {
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let f = |name: &str| format!("{prefix}{name}");
        if let Some(t) = self.threads
            && !(1..=1024).contains(&t)
        {
            errors.push(FieldError::new(f("threads"), "must be in 1..=1024"));
        }
        if let Some(p) = &self.provider
            && !["cpu", "cuda"].contains(&p.as_str())
        {
            errors.push(FieldError::new(
                f("provider"),
                "must be \"cpu\" or \"cuda\"",
            ));
        }
        if let Some(c) = self.target_relative_ci
            && !(c.is_finite() && c > 0.0 && c < 1.0)
        {
            errors.push(FieldError::new(
                f("target_relative_ci"),
                "must be in (0, 1)",
            ));
        }
        if let Some(b) = self.time_budget_s
            && !(b.is_finite() && b > 0.0 && b <= 3600.0)
        {
            errors.push(FieldError::new(f("time_budget_s"), "must be in (0, 3600]"));
        }
        if let Some(m) = self.min_runs
            && !(1..=1_000_000).contains(&m)
        {
            errors.push(FieldError::new(f("min_runs"), "must be in 1..=1000000"));
        }
        if let Some(m) = self.max_warmup_runs
            && m > 100_000
        {
            errors.push(FieldError::new(f("max_warmup_runs"), "must be <= 100000"));
        }
        errors
    }
}

/// The reference network a job is paired with, as the server hands it to the agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReferenceNetwork {
    pub architecture_id: String,
    /// Its spec: the agent exports the model from it (the same bytes the server would send).
    pub spec: crate::space::ArchSpec,
}
