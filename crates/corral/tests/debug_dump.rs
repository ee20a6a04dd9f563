//! `corral::debug`: the dump's tree, its lines and JSON, creation locations through the
//! builders, and coroutines leaving the dump when they finish.

use std::panic::Location;

use corral::prelude::*;

/// Whether `line` of a dump's text is the one of coroutine `id`.
fn line_of(text: &str, id: u64) -> &str {
    let needle = format!(" id={id} ");
    text.lines()
        .find(|line| line.contains(&needle))
        .unwrap_or_else(|| panic!("no line for id {id} in\n{text}"))
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

#[test]
fn the_dump_is_the_live_tree_with_states_and_locations() {
    corral::debug::install();
    corral::debug::install(); // idempotent
    let gate = Job::new();
    let scope = CoroutineScope::new(Dispatchers::default());
    let parent_gate = gate.clone();
    let here = Location::caller().line() + 1;
    let parent = scope.launch_with(
        CoroutineName::new("parent"),
        CoroutineStart::Default,
        move |scope| async move {
            let child_gate = parent_gate.clone();
            scope.launch(move |_| async move { child_gate.join().await });
            parent_gate.join().await;
        },
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    // Until both are suspended on the gate (the child polled once).
    let dump = loop {
        let dump = corral::debug::dump();
        let children = parent.children();
        let settled = children
            .first()
            .and_then(|child| dump.get(child.id()))
            .is_some_and(|child| {
                child.polls == 1 && child.run_state == corral::debug::RunState::Suspended
            })
            && dump
                .get(parent.id())
                .is_some_and(|p| p.run_state == corral::debug::RunState::Suspended);
        if settled {
            break dump;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never settled:\n{dump}"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    };
    let ids = (parent.id(), parent.children()[0].id());
    let (parent, child) = ids;
    let text = dump.to_string();
    let parent_line = line_of(&text, parent);
    let child_line = line_of(&text, child);
    assert!(parent_line.contains("- parent "), "{text}");
    assert!(
        child_line.contains(&format!("- parent id={child} ")),
        "the name is inherited through the context, as in kotlinx: {text}"
    );
    assert!(indent(child_line) > indent(parent_line), "{text}");
    assert!(
        parent_line.contains("Active")
            && parent_line.contains("Suspended")
            && parent_line.contains("Dispatchers.Default")
            && parent_line.contains(&format!("debug_dump.rs:{here}:"))
            && parent_line.contains("polls=1"),
        "{text}"
    );
    let info = dump.get(child).expect("the child is in the dump");
    assert_eq!(info.parent, Some(parent));
    assert!(info.location.file().ends_with("debug_dump.rs"), "{info:?}");

    let json = dump.to_json();
    let parent_at = json
        .find(&format!("{{\"id\":{parent},\"name\":\"parent\""))
        .expect(&json);
    let child_at = json
        .find(&format!("{{\"id\":{child},\"name\":\"parent\""))
        .expect(&json);
    assert!(parent_at < child_at, "{json}");
    assert!(
        json[parent_at..child_at].contains("\"children\":["),
        "the child is nested: {json}"
    );
    for key in [
        "\"state\":\"Active\"",
        "\"dispatcher\":\"Dispatchers.Default\"",
        "\"location\":\"",
    ] {
        assert!(json.contains(key), "{key} in {json}");
    }

    gate.complete();
    let join = scope.job();
    join.complete();
    run_blocking(|_| async move { join.join().await }).unwrap();
    // Finished coroutines leave the dump.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let after = corral::debug::dump();
        if after.get(parent).is_none() && after.get(child).is_none() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still dumped:\n{after}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn json_escapes_names_and_an_unnamed_coroutine_is_coroutine_hash_id() {
    corral::debug::install();
    let job = GlobalScope::launch_with(
        CoroutineName::new("quote \" and \\ and \n"),
        CoroutineStart::Lazy,
        |_| async {},
    );
    let json = corral::debug::dump().to_json();
    assert!(
        json.contains(r#""name":"quote \" and \\ and \n""#),
        "{json}"
    );
    let unnamed = GlobalScope::launch_with(Context::new(), CoroutineStart::Lazy, |_| async {});
    let text = corral::debug::dump().to_string();
    assert!(
        line_of(&text, unnamed.id()).contains(&format!("- coroutine#{} ", unnamed.id())),
        "{text}"
    );
    assert!(
        json.contains(&format!("{{\"id\":{},\"name\":\"quote", job.id())),
        "{json}"
    );
    let unnamed_json = corral::debug::dump().to_json();
    assert!(
        unnamed_json.contains(&format!(
            "{{\"id\":{0},\"name\":\"coroutine#{0}\",\"named\":false",
            unnamed.id()
        )),
        "{unnamed_json}"
    );
    job.cancel();
    unnamed.cancel();
    let after = corral::debug::dump();
    assert!(
        after.get(job.id()).is_none() && after.get(unnamed.id()).is_none(),
        "{after}"
    );
}
