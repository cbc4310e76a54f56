//! The typed calls of `/v1`: one method per endpoint that an agent, a notebook in Rust, the
//! demo or a test uses.

use flash_core::measurement::{DeviceDescriptor, MeasurementResult};
use flash_core::space::ArchSpec;
use serde::Serialize;

use super::{Ack, Client, ClientError, MAX_MODEL_BYTES, method, read_json, refused};
use crate::types::{
    Accuracy, AccuracyModelRecord, AccuracyModelRequest, AccuracyUpload, Architecture,
    AttemptRequest, ClaimRequest, ClaimedJob, CompleteRequest, Device, FailRequest,
    HardwareModelRecord, HardwareModelRequest, Job, JobRequest, JobsCreated, Measurement,
    MeasurementUpload, PredictionRequest, PredictionResponse, SampleRequest, SampleResponse,
    SearchRecord, SearchRequest, VerifyRequest,
};

impl Client {
    /// Sends `body` and checks only that it was taken: an agent depends on no more of the
    /// reply than that, so a server that adds to the device record never breaks it.
    fn taken(&self, method: &str, path: &str, body: &impl Serialize) -> Result<(), ClientError> {
        let resp = self.send_json(method, path, Some(body))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(refused(resp))
        }
    }

    /// `PUT /v1/devices/{name}`: registers or updates a device.
    pub fn register(&self, name: &str, descriptor: &DeviceDescriptor) -> Result<(), ClientError> {
        self.taken(method::PUT, &format!("/v1/devices/{name}"), descriptor)
    }

    /// `GET /v1/devices/{name}`.
    pub fn device(&self, name: &str) -> Result<Device, ClientError> {
        self.get(&format!("/v1/devices/{name}"))
    }

    /// `POST /v1/devices/{name}/heartbeat`.
    pub fn device_heartbeat(&self, name: &str) -> Result<(), ClientError> {
        let path = format!("/v1/devices/{name}/heartbeat");
        self.taken(method::POST, &path, &serde_json::json!({}))
    }

    /// `POST /v1/jobs/claim`: the next job of `device`, or none.
    pub fn claim(&self, device: &str) -> Result<Option<ClaimedJob>, ClientError> {
        let body = ClaimRequest {
            device: device.to_string(),
        };
        let resp = self.send_json(method::POST, "/v1/jobs/claim", Some(&body))?;
        match resp.status().as_u16() {
            204 => Ok(None),
            200 => read_json(resp).map(Some),
            _ => Err(refused(resp)),
        }
    }

    /// `GET /v1/architectures/{id}/onnx`: the model's bytes.
    pub fn model(&self, architecture_id: &str) -> Result<Vec<u8>, ClientError> {
        let path = format!("/v1/architectures/{architecture_id}/onnx");
        let mut resp = self.send(method::GET, &path, None)?;
        if !resp.status().is_success() {
            return Err(refused(resp));
        }
        resp.body_mut()
            .with_config()
            .limit(MAX_MODEL_BYTES)
            .read_to_vec()
            .map_err(|e| ClientError::Unavailable(format!("reading the model: {e}")))
    }

    /// A fenced report: 404 and 409 say the attempt lost its lease.
    fn fenced(&self, path: String, body: &impl Serialize) -> Result<Ack, ClientError> {
        let resp = self.send_json(method::POST, &path, Some(body))?;
        match resp.status().as_u16() {
            200..=299 => Ok(Ack::Accepted),
            404 | 409 => Ok(Ack::LeaseLost),
            _ => Err(refused(resp)),
        }
    }

    /// `POST /v1/jobs/{id}/heartbeat`: extends the attempt's lease.
    pub fn job_heartbeat(&self, id: &str, attempt: i64) -> Result<Ack, ClientError> {
        self.fenced(
            format!("/v1/jobs/{id}/heartbeat"),
            &AttemptRequest { attempt },
        )
    }

    /// `POST /v1/jobs/{id}/complete`: the attempt's measurement.
    pub fn complete(
        &self,
        id: &str,
        attempt: i64,
        result: &MeasurementResult,
    ) -> Result<Ack, ClientError> {
        let body = CompleteRequest {
            attempt,
            result: result.clone(),
        };
        self.fenced(format!("/v1/jobs/{id}/complete"), &body)
    }

    /// `POST /v1/jobs/{id}/fail`: the attempt failed with `error`.
    pub fn fail(&self, id: &str, attempt: i64, error: &str) -> Result<Ack, ClientError> {
        let body = FailRequest {
            attempt,
            error: error.to_string(),
        };
        self.fenced(format!("/v1/jobs/{id}/fail"), &body)
    }

    // Users: architectures, measurements, models, searches.

    /// `POST /v1/architectures` with a spec (an existing architecture comes back as it is).
    pub fn put_architecture(&self, spec: &ArchSpec) -> Result<Architecture, ClientError> {
        self.post("/v1/architectures", spec)
    }

    /// `POST /v1/spaces/{space}/samples`.
    pub fn sample(&self, space: &str, req: &SampleRequest) -> Result<SampleResponse, ClientError> {
        self.post(&format!("/v1/spaces/{space}/samples"), req)
    }

    /// `POST /v1/accuracies`.
    pub fn record_accuracy(&self, upload: &AccuracyUpload) -> Result<Accuracy, ClientError> {
        self.post("/v1/accuracies", upload)
    }

    /// Every accuracy record of `dataset`.
    pub fn accuracies(&self, dataset: &str) -> Result<Vec<Accuracy>, ClientError> {
        self.all(&format!("/v1/accuracies?dataset={dataset}"))
    }

    /// `POST /v1/jobs`.
    pub fn queue_jobs(&self, req: &JobRequest) -> Result<JobsCreated, ClientError> {
        self.post("/v1/jobs", req)
    }

    /// `GET /v1/jobs/{id}`.
    pub fn job(&self, id: &str) -> Result<Job, ClientError> {
        self.get(&format!("/v1/jobs/{id}"))
    }

    /// `POST /v1/measurements`: a measurement made elsewhere.
    pub fn upload_measurement(
        &self,
        upload: &MeasurementUpload,
    ) -> Result<Measurement, ClientError> {
        self.post("/v1/measurements", upload)
    }

    /// Every measurement on `device`.
    pub fn measurements(&self, device: &str) -> Result<Vec<Measurement>, ClientError> {
        self.all(&format!("/v1/measurements?device={device}"))
    }

    /// `POST /v1/hardware-models`: fits and stores a hardware model.
    pub fn fit_hardware_model(
        &self,
        req: &HardwareModelRequest,
    ) -> Result<HardwareModelRecord, ClientError> {
        self.post("/v1/hardware-models", req)
    }

    /// `POST /v1/accuracy-models`: fits and stores an accuracy predictor.
    pub fn fit_accuracy_model(
        &self,
        req: &AccuracyModelRequest,
    ) -> Result<AccuracyModelRecord, ClientError> {
        self.post("/v1/accuracy-models", req)
    }

    /// `POST /v1/predictions`.
    pub fn predict(&self, req: &PredictionRequest) -> Result<PredictionResponse, ClientError> {
        self.post("/v1/predictions", req)
    }

    /// `POST /v1/searches`: searches and stores the search.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchRecord, ClientError> {
        self.post("/v1/searches", req)
    }

    /// `GET /v1/searches/{id}`.
    pub fn get_search(&self, id: &str) -> Result<SearchRecord, ClientError> {
        self.get(&format!("/v1/searches/{id}"))
    }

    /// `POST /v1/searches/{id}/verify`: queues the winners' measurements.
    pub fn verify(&self, id: &str, req: &VerifyRequest) -> Result<SearchRecord, ClientError> {
        self.post(&format!("/v1/searches/{id}/verify"), req)
    }
}
