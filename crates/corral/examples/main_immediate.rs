//! `Dispatchers::main().immediate()` does not dispatch when already on the main loop: the
//! immediate coroutine runs before the dispatched one, although it was launched after it.

use corral::prelude::*;

fn main() -> Result<(), JobError> {
    run_main_loop(|scope| async move {
        let main = Dispatchers::main();
        scope.launch_with(main.clone(), CoroutineStart::Default, |_| async {
            println!("2. Dispatchers.Main: dispatched, runs when the loop gets to it");
        });
        scope.launch_with(main.immediate(), CoroutineStart::Default, |_| async {
            println!("1. Dispatchers.Main.immediate: already on main, runs right away");
        });
        println!("(the launching coroutine continues after both launch calls)");
    })
}
