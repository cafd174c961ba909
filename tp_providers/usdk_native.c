/*
 * C side of usdk._native_lib: the built-in `usdk` provider's probes, one plain C function
 * per event (the cdef never declares a macro), the address of each tracepoint's state word
 * (read by usdk._gate before anything else happens), and lttng-ust's fork hooks.
 */
#define LTTNG_UST_TRACEPOINT_CREATE_PROBES
#define LTTNG_UST_TRACEPOINT_DEFINE
#include "usdk_tp.h"

#include <signal.h>
#include <lttng/ust-fork.h>

#ifndef USDK_NATIVE_VERSION
#error "USDK_NATIVE_VERSION must be defined by the build"
#endif

const char *usdk_native_version(void) { return USDK_NATIVE_VERSION; }

void usdk_span_entry(int64_t span_id, int64_t parent_span_id, const char *name, const char *args)
{
	lttng_ust_tracepoint(usdk, span_entry, span_id, parent_span_id, name, args);
}

void usdk_span_exit(int64_t span_id, int64_t parent_span_id, const char *name,
		    const char *ret, const char *exc_type)
{
	lttng_ust_tracepoint(usdk, span_exit, span_id, parent_span_id, name, ret, exc_type);
}

void usdk_event(int64_t parent_span_id, const char *name, const char *payload)
{
	lttng_ust_tracepoint(usdk, event, parent_span_id, name, payload);
}

void usdk_span_suspend(int64_t span_id)
{
	lttng_ust_tracepoint(usdk, span_suspend, span_id);
}

void usdk_span_resume(int64_t span_id)
{
	lttng_ust_tracepoint(usdk, span_resume, span_id);
}

#define USDK_STATE(ev) \
	uintptr_t usdk_state_##ev(void) { return (uintptr_t) &lttng_ust_tracepoint_usdk___##ev.state; }
USDK_STATE(span_entry)
USDK_STATE(span_exit)
USDK_STATE(event)
USDK_STATE(span_suspend)
USDK_STATE(span_resume)

/* lttng-ust must see fork() (it re-registers the child with the session daemon);
 * Python calls these through os.register_at_fork(). */
static sigset_t usdk_fork_sigset;
void usdk_before_fork(void) { lttng_ust_before_fork(&usdk_fork_sigset); }
void usdk_after_fork_parent(void) { lttng_ust_after_fork_parent(&usdk_fork_sigset); }
void usdk_after_fork_child(void) { lttng_ust_after_fork_child(&usdk_fork_sigset); }
