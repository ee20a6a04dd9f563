//! corral-scopes: the scope functions of corral.
