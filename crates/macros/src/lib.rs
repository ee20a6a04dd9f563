//! corral-macros: the attribute macros of corral, used through the facade as
//! `#[corral::test]` and `#[corral::main]`.
//!
//! The generated code names the facade by its absolute path `::corral` (the library name of the
//! `corral-rt` package), so it works from any crate that depends on the facade, whatever it
//! imports.

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{quote, quote_spanned};
use syn::parse::Parser;
use syn::spanned::Spanned;
use syn::{FnArg, ItemFn, LitBool, LitInt};

/// Runs an `async fn` test with `corral::test::run_test`: in virtual time, on a single-threaded
/// test loop, failing the test with the error of any coroutine of the test.
///
/// The function may return `()` or a `Result` (an `Err` fails the test as for any `#[test]`),
/// and may take one argument, the test's `CoroutineScope`. Options:
/// `#[corral::test(auto_advance = false)]` turns the clock's jumps off, and
/// `#[corral::test(timeout_ms = 5000)]` sets the real-time limit (default 60 s).
///
/// ```ignore
/// #[corral::test]
/// async fn a_day_passes(scope: corral::prelude::CoroutineScope) {
///     scope.launch(|_| async { corral::prelude::delay(std::time::Duration::from_secs(86_400)).await });
/// }
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Entry::Test, args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Runs `async fn main` as the root coroutine of `corral::run_blocking`. A failed or cancelled
/// main coroutine ends the program with a panic naming its error; `main` may return `()` or a
/// `Result`, as a plain `main` does, and may take one argument, the root's `CoroutineScope`.
///
/// ```ignore
/// #[corral::main]
/// async fn main() {
///     corral::prelude::delay(std::time::Duration::from_millis(1)).await;
/// }
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(Entry::Main, args.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Entry {
    Test,
    Main,
}

impl Entry {
    fn name(self) -> &'static str {
        match self {
            Entry::Test => "#[corral::test]",
            Entry::Main => "#[corral::main]",
        }
    }
}

/// `#[corral::test]`'s options.
#[derive(Default)]
struct Options {
    auto_advance: Option<LitBool>,
    timeout_ms: Option<LitInt>,
}

fn parse_options(entry: Entry, args: TokenStream2) -> syn::Result<Options> {
    let mut options = Options::default();
    if args.is_empty() {
        return Ok(options);
    }
    if entry == Entry::Main {
        return Err(syn::Error::new(
            args.span(),
            "#[corral::main] takes no arguments",
        ));
    }
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("auto_advance") {
            options.auto_advance = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("timeout_ms") {
            let millis: LitInt = meta.value()?.parse()?;
            if millis.base10_parse::<u64>()? == 0 {
                return Err(syn::Error::new(
                    millis.span(),
                    "timeout_ms must be longer than zero",
                ));
            }
            options.timeout_ms = Some(millis);
            Ok(())
        } else {
            Err(meta.error(
                "unknown option of #[corral::test]: expected `auto_advance = bool` or \
                 `timeout_ms = integer`",
            ))
        }
    });
    parser.parse2(args)?;
    Ok(options)
}

fn expand(entry: Entry, args: TokenStream2, item: TokenStream2) -> syn::Result<TokenStream2> {
    let options = parse_options(entry, args)?;
    let function: ItemFn = syn::parse2(item)?;
    let signature = &function.sig;
    if signature.asyncness.is_none() {
        return Err(syn::Error::new(
            signature.fn_token.span(),
            format!("{} must be put on an `async fn`", entry.name()),
        ));
    }
    if !signature.generics.params.is_empty() || signature.generics.where_clause.is_some() {
        return Err(syn::Error::new(
            signature.generics.span(),
            format!("{} functions cannot be generic", entry.name()),
        ));
    }
    let scope = scope_parameter(entry, &function)?;
    let attrs = &function.attrs;
    let vis = &function.vis;
    let name = &signature.ident;
    let output = &signature.output;
    let body = &function.block;
    let span = Span::call_site();
    let run = match entry {
        Entry::Main => quote_spanned! {span=>
            ::corral::run_blocking(|#scope| async move #body)
        },
        Entry::Test => {
            let mut config = quote! { ::corral::test::TestConfig::default() };
            if let Some(on) = &options.auto_advance {
                config = quote! { #config.auto_advance(#on) };
            }
            if let Some(millis) = &options.timeout_ms {
                config = quote! {
                    #config.timeout(::core::time::Duration::from_millis(#millis))
                };
            }
            quote_spanned! {span=>
                ::corral::test::run_test_with(#config, |#scope| async move #body)
            }
        }
    };
    let what = match entry {
        Entry::Test => "the test",
        Entry::Main => "the main coroutine",
    };
    let test_attribute = match entry {
        Entry::Test => quote! { #[::core::prelude::v1::test] },
        Entry::Main => quote! {},
    };
    Ok(quote! {
        #test_attribute
        #(#attrs)*
        #vis fn #name() #output {
            match #run {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(error) => {
                    ::core::panic!("{} failed: {}", #what, error)
                }
            }
        }
    })
}

/// The pattern the block's `CoroutineScope` binds to: the function's one parameter, or `_`.
fn scope_parameter(entry: Entry, function: &ItemFn) -> syn::Result<TokenStream2> {
    let inputs = &function.sig.inputs;
    if inputs.len() > 1 {
        return Err(syn::Error::new(
            inputs.span(),
            format!(
                "{} functions take at most one argument, the root coroutine's CoroutineScope",
                entry.name()
            ),
        ));
    }
    match inputs.first() {
        None => Ok(quote! { _ }),
        Some(FnArg::Typed(typed)) => {
            let (pattern, ty) = (&typed.pat, &typed.ty);
            Ok(quote! { #pattern: #ty })
        }
        Some(FnArg::Receiver(receiver)) => Err(syn::Error::new(
            receiver.span(),
            format!("{} functions take no `self`", entry.name()),
        )),
    }
}

#[cfg(test)]
mod tests {
    // `#[test]` would name this crate's own `test` macro here: the standard one is spelled out.
    use super::{expand, quote, Entry, TokenStream2};

    fn error_of(entry: Entry, args: TokenStream2, item: TokenStream2) -> String {
        match expand(entry, args, item) {
            Ok(tokens) => panic!("expanded instead of failing: {tokens}"),
            Err(error) => error.to_string(),
        }
    }

    #[::core::prelude::v1::test]
    fn a_test_expands_to_run_test_with_its_options() {
        let expanded = expand(
            Entry::Test,
            quote! { auto_advance = false, timeout_ms = 250 },
            quote! { async fn t(scope: ::corral::prelude::CoroutineScope) -> Result<(), String> { Ok(()) } },
        )
        .expect("expands")
        .to_string();
        assert!(
            expanded.contains(":: core :: prelude :: v1 :: test"),
            "{expanded}"
        );
        assert!(
            expanded.contains(":: corral :: test :: run_test_with"),
            "{expanded}"
        );
        assert!(expanded.contains("auto_advance (false)"), "{expanded}");
        assert!(expanded.contains("from_millis (250)"), "{expanded}");
        assert!(
            expanded.contains("fn t () -> Result < () , String >"),
            "{expanded}"
        );
    }

    #[::core::prelude::v1::test]
    fn main_expands_to_run_blocking() {
        let expanded = expand(Entry::Main, quote! {}, quote! { async fn main() {} })
            .expect("expands")
            .to_string();
        assert!(expanded.contains(":: corral :: run_blocking"), "{expanded}");
        assert!(!expanded.contains("v1 :: test"), "{expanded}");
    }

    #[::core::prelude::v1::test]
    fn misuse_is_a_clear_compile_error() {
        assert!(error_of(Entry::Test, quote! {}, quote! { fn t() {} })
            .contains("#[corral::test] must be put on an `async fn`"));
        assert!(error_of(Entry::Main, quote! {}, quote! { fn main() {} })
            .contains("#[corral::main] must be put on an `async fn`"));
        assert!(error_of(
            Entry::Test,
            quote! {},
            quote! { async fn t(a: u8, b: u8) {} }
        )
        .contains("at most one argument"));
        assert!(
            error_of(Entry::Test, quote! {}, quote! { async fn t<T>() {} })
                .contains("cannot be generic")
        );
        assert!(error_of(
            Entry::Test,
            quote! { flavor = 1 },
            quote! { async fn t() {} }
        )
        .contains("unknown option of #[corral::test]"));
        assert!(error_of(
            Entry::Test,
            quote! { timeout_ms = 0 },
            quote! { async fn t() {} }
        )
        .contains("timeout_ms must be longer than zero"));
        assert!(
            error_of(Entry::Main, quote! { x = 1 }, quote! { async fn main() {} })
                .contains("#[corral::main] takes no arguments")
        );
    }
}
