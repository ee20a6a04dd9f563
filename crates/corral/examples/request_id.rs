//! A request id that follows each request's coroutines across threads: the id is a
//! `ContextValue` (read with `Context::value`), and a `ThreadContextElement` copies it into a
//! thread-local before every poll, so a plain logging function that knows nothing about
//! coroutines prints the right id on whatever worker thread the coroutine runs.

use std::cell::Cell;
use std::time::Duration;

use corral::prelude::*;
use corral::{current_context, ThreadContextElement, ThreadElement};

thread_local! {
    /// What a logging library would read: the request id of the code running on this thread.
    static REQUEST_ID: Cell<Option<u64>> = const { Cell::new(None) };
}

/// A logging function of the kind that knows only thread-locals.
fn log(message: &str) {
    let id = REQUEST_ID.with(Cell::get);
    let thread = std::thread::current();
    let thread = thread.name().unwrap_or("?");
    match id {
        Some(id) => println!("[request {id}] {message:<28} on {thread}"),
        None => println!("[no request] {message:<28} on {thread}"),
    }
}

/// Installs its id in `REQUEST_ID` for each poll, and puts the previous one back after it.
struct RequestId(u64);

impl ThreadContextElement for RequestId {
    type State = Option<u64>;

    fn update_thread_context(&self) -> Option<u64> {
        REQUEST_ID.with(|id| id.replace(Some(self.0)))
    }

    fn restore_thread_context(&self, old: Option<u64>) {
        REQUEST_ID.with(|id| id.set(old));
    }
}

/// The user who made a request: a plain value in the context, read back by type.
struct User(&'static str);

async fn handle(name: &'static str) {
    let user = current_context()
        .and_then(|context| context.value::<User>().map(|user| user.0))
        .unwrap_or("nobody");
    log(&format!("{name}: start for {user}"));
    delay(Duration::from_millis(20)).await;
    // A blocking step on IO: the id goes along with the block.
    with_context(Dispatchers::io(), |_| async { log("reading from disk") })
        .await
        .expect("the IO block does not fail");
    coroutine_scope(|scope| async move {
        scope.launch(|_| async { log("child coroutine") });
    })
    .await
    .expect("the child does not fail");
    log(&format!("{name}: done"));
}

#[corral::main]
async fn main(scope: CoroutineScope) {
    log("main starts");
    for (id, name, user) in [(1, "GET /a", "ann"), (2, "GET /b", "bob")] {
        scope.launch_with(
            Dispatchers::default()
                + ThreadElement::new(RequestId(id))
                + ContextValue::new(User(user)),
            CoroutineStart::Default,
            move |_| handle(name),
        );
    }
    // Everything above is a child of main: run_blocking returns once both requests are done.
    log("main launched both requests");
}
