//! Running Rust code with Ruby's global VM lock released, so other Ruby threads run meanwhile.

use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// What became of a call made without the GVL.
pub enum NoGvl<R> {
    /// It ran and returned.
    Done(R),
    /// It panicked; the panic was caught before reaching Ruby's C frames.
    Panicked(String),
    /// Ruby had an interrupt pending (a signal, `Thread#raise`, `Timeout`), so it did not run: check
    /// interrupts (`Ruby::thread_check_ints`) and call again.
    Interrupted,
}

struct Call<'f, F, R> {
    func: &'f mut F,
    out: Option<std::thread::Result<R>>,
}

unsafe extern "C" fn trampoline<F: FnMut() -> R, R>(data: *mut c_void) -> *mut c_void {
    // SAFETY: `data` is the `Call` that `without_gvl` passed in; it outlives this call and nothing else
    // touches it meanwhile.
    let call = unsafe { &mut *data.cast::<Call<'_, F, R>>() };
    let func = &mut *call.func;
    call.out = Some(catch_unwind(AssertUnwindSafe(func)));
    std::ptr::null_mut()
}

/// Run `func` with the GVL released. `func` must not touch Ruby objects (capture only Rust data), and
/// should return within ~100 ms so that signals and `Thread#raise` are seen promptly: no unblocking
/// function is registered, Ruby waits for `func` to return.
///
/// `RB_NOGVL_INTR_FAIL` keeps Ruby from raising (a `longjmp` through Rust frames) on either side of the
/// call; pending interrupts are left for the caller to check.
pub fn without_gvl<F: FnMut() -> R, R>(func: &mut F) -> NoGvl<R> {
    let mut call = Call { func, out: None };
    // SAFETY: the trampoline matches `call`'s type; `call` lives on this frame until `rb_nogvl` returns.
    unsafe {
        rb_sys::rb_nogvl(
            Some(trampoline::<F, R>),
            (&mut call as *mut Call<'_, F, R>).cast(),
            None,
            std::ptr::null_mut(),
            rb_sys::RB_NOGVL_INTR_FAIL as i32,
        );
    }
    match call.out {
        Some(Ok(value)) => NoGvl::Done(value),
        Some(Err(panic)) => NoGvl::Panicked(
            panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "panic".into()),
        ),
        None => NoGvl::Interrupted,
    }
}
