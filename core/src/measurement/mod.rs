//! What agents and the service exchange: device descriptors, measurement protocols and results.
//! Plain data with validation; the agent produces it, the server stores it.

mod device;
mod energy;
mod protocol;
mod result;
mod stats;

pub use device::{DeviceDescriptor, GpuInfo, RuntimeInfo};
pub use energy::{Energy, EnergyMethod};
pub use protocol::{Protocol, ReferenceNetwork};
pub use result::{
    Environment, MeasurementResult, REFERENCE_HISTORY, ReferenceTiming, reference_latency,
};
pub use stats::{LatencyStats, RatioStats, median};
