//! corral-scheduler: the work-stealing pool shared by `Dispatchers::default()` and `Dispatchers::io()`.
