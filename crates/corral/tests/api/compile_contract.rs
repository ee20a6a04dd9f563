//! API contract: Compile-level contract: launch bodies that only panic or loop forever, try_launch
//! error types.

use std::error::Error as StdError;

use corral::prelude::*;

use crate::helpers::*;

#[test]
fn launch_bodies_that_diverge_type_check_and_behave() {
    run_blocking(|_| async {
        let recorder = Recorder::default();
        let handler = recorder.handler();
        supervisor_scope(|scope| async move {
            // Output = () exactly: a body that only panics infers.
            let panics = scope.launch_with(handler.clone(), CoroutineStart::Default, |_| async {
                panic!("only panics")
            });
            // A body that loops forever infers too.
            let loops = scope.launch(|_| async {
                loop {
                    yield_now().await;
                }
            });
            let loops_on_cpu =
                scope.launch_with(Dispatchers::default(), CoroutineStart::Default, |_| {
                    async {
                        loop {
                            std::hint::spin_loop();
                            if !is_active() {
                                // Stays diverging: park on a future that never resolves.
                                std::future::pending::<()>().await;
                            }
                        }
                    }
                });
            let pending = scope.launch(|_| std::future::pending());
            panics.join().await;
            assert!(panics.is_cancelled());
            delay(ms(5)).await;
            for job in [&loops, &loops_on_cpu, &pending] {
                assert!(job.is_active());
                job.cancel_and_join().await;
                assert!(job.is_cancelled() && job.is_completed());
            }
        })
        .await
        .unwrap();
        assert_eq!(recorder.messages(), ["only panics"]);

        // try_launch accepts Result<(), E> for any E: Into<Box<dyn Error + Send + Sync>>.
        let recorder = Recorder::default();
        let handler = recorder.handler();
        supervisor_scope(|scope| async move {
            let jobs = [
                scope.try_launch_with(handler.clone(), CoroutineStart::Default, |_| async {
                    Err::<(), std::io::Error>(std::io::Error::new(
                        std::io::ErrorKind::NotFound,
                        "io::Error",
                    ))
                }),
                scope.try_launch_with(handler.clone(), CoroutineStart::Default, |_| async {
                    Err::<(), String>("String".to_owned())
                }),
                scope.try_launch_with(handler.clone(), CoroutineStart::Default, |_| async {
                    Err::<(), &'static str>("&'static str")
                }),
                scope.try_launch_with(handler.clone(), CoroutineStart::Default, |_| async {
                    Err::<(), Box<dyn StdError + Send + Sync>>("boxed".into())
                }),
                scope.try_launch(|_| async { Ok::<(), &'static str>(()) }),
            ];
            for job in &jobs {
                job.join().await;
            }
            assert_eq!(
                jobs.iter().map(Job::is_cancelled).collect::<Vec<_>>(),
                [true, true, true, true, false]
            );
        })
        .await
        .unwrap();
        let mut got = recorder.messages();
        got.sort();
        assert_eq!(got, ["&'static str", "String", "boxed", "io::Error"]);
    })
    .unwrap();
}
