//! Every request and response body of `/v1`, one module per resource.

mod accuracies;
mod architectures;
mod devices;
mod jobs;
mod measurements;
mod models;
mod page;
mod predictions;
mod refinement;
mod searches;
mod spaces;

pub use accuracies::{Accuracy, AccuracyUpload};
pub use architectures::{Architecture, Source};
pub use devices::{Device, DeviceReference, DeviceReferences, ReferencePoint};
pub use jobs::{
    AttemptRequest, ClaimRequest, ClaimedJob, CompleteRequest, FailRequest, Job, JobRequest,
    JobState, JobsCreated,
};
pub use measurements::{Measurement, MeasurementUpload};
pub use models::{
    AccuracyModelRecord, AccuracyModelRequest, FitSample, HardwareModelRecord, HardwareModelRequest,
};
pub use page::{ListPage, Problem};
pub use predictions::{FitsUsed, PredictionItem, PredictionRequest, PredictionResponse};
pub use refinement::{Refinement, RefinementRound, RefinementState, RoundCheck};
pub use searches::{
    AnalyticCheck, DeviceConstraint, DeviceFits, SearchFits, SearchRecord, SearchRequest,
    Verification, VerifyRequest,
};
pub use spaces::{
    Purpose, SampleRequest, SampleResponse, SampleScore, SpaceList, SpaceView, Strategy,
};
