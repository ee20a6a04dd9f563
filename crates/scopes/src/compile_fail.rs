//! Programs the scope API must reject: the soundness half of "children that run in parallel
//! cannot borrow from their parent" (docs/semantics.md). Each is a `compile_fail` doctest next to
//! the accepted form.
//!
//! A launched coroutine cannot borrow from the caller's stack:
//!
//! ```compile_fail
//! use corral_scopes::run_blocking;
//! let mut local = vec![1, 2, 3];
//! run_blocking(|scope| async move {
//!     scope.launch(|_| async { local.push(4) });
//! })
//! .unwrap();
//! ```
//!
//! ```compile_fail
//! use corral_scopes::run_blocking;
//! run_blocking(|scope| async move {
//!     let local = String::from("on the stack");
//!     let borrowed: &String = &local;
//!     scope.launch(move |_| async move { println!("{borrowed}") });
//! })
//! .unwrap();
//! ```
//!
//! `with_context` runs its block on another dispatcher, so it cannot borrow either:
//!
//! ```compile_fail
//! use corral_scopes::{run_blocking, with_context};
//! use corral_dispatchers::Dispatchers;
//! run_blocking(|_| async move {
//!     let local = String::from("on the stack");
//!     let borrowed: &String = &local;
//!     with_context(Dispatchers::io(), move |_| async move { borrowed.len() }).await
//! })
//! .unwrap();
//! ```
//!
//! `coroutine_scope` runs its block in place, so it may borrow (this one compiles):
//!
//! ```
//! use corral_scopes::{coroutine_scope, run_blocking};
//! let mut local = vec![1, 2, 3];
//! run_blocking(|_| async {
//!     coroutine_scope(|_| async { local.push(4) }).await.unwrap();
//! })
//! .unwrap();
//! assert_eq!(local.len(), 4);
//! ```
