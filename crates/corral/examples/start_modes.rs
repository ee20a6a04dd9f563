//! The four start modes side by side: Default, Lazy, Atomic and Undispatched, each launched
//! and then cancelled right away, in a parent that prints when each body runs.

use corral::prelude::*;

#[corral::main]
async fn main(scope: CoroutineScope) {
    for start in [
        CoroutineStart::Default,
        CoroutineStart::Lazy,
        CoroutineStart::Atomic,
        CoroutineStart::Undispatched,
    ] {
        println!("-- {start:?}: launch, then cancel at once");
        let job = scope.launch_with(Context::new(), start, move |_| async move {
            println!("   {start:?}: body runs (is_active = {})", is_active());
            yield_now().await;
            println!("   {start:?}: after the first suspension");
        });
        println!("   after launch: {:?}", job.state());
        job.cancel();
        job.join().await;
        println!("   final: {:?}", job.state());
    }
    println!("-- Lazy: nothing runs until start()");
    let lazy = scope.launch_with(Context::new(), CoroutineStart::Lazy, |_| async {
        println!("   Lazy body runs once started");
    });
    yield_now().await;
    println!("   after a yield: {:?}", lazy.state());
    lazy.start();
    lazy.join().await;
    println!("   final: {:?}", lazy.state());
}
