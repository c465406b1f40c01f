//! Issue 12, the upstream side of the proxy: exchanges whose client goes
//! away (A2), stale kept-alive upstream connections (C13), request targets
//! a reverse proxy must refuse or reinterpret (C14), and the framing headers
//! of bodiless responses, forwarded and recorded (B8).

mod bodiless;
mod orphaned;
mod stale;
mod targets;
mod wire;
