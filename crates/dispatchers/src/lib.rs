//! corral-dispatchers: the dispatchers of corral.
