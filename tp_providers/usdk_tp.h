/*
 * The built-in `usdk` tracepoint provider, compiled into usdk._native_lib at install time
 * so that `import usdk` works with no compiler at run time.
 *
 * Untyped spans and point events (`usdk.tracepoint`, `usdk.event`) carry their name and a
 * text rendering of their arguments; typed application providers (`usdk.Provider("shop")`)
 * get their own generated header with one real event and typed field per argument.
 * span_suspend/span_resume mark where an asyncio coroutine span leaves and re-enters its
 * thread, so the correlator never charges one task's kernel work to another.
 *
 * lttng-ust 2.13 spelling (LTTNG_UST_TRACEPOINT_EVENT / lttng_ust_field_*).
 */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER usdk

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "usdk_tp.h"

#if !defined(USDK_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define USDK_TP_H

#include <stdint.h>
#include <lttng/tracepoint.h>

LTTNG_UST_TRACEPOINT_EVENT(
	usdk, span_entry,
	LTTNG_UST_TP_ARGS(
		int64_t, span_id,
		int64_t, parent_span_id,
		const char *, name,
		const char *, args
	),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int64_t, span_id, span_id)
		lttng_ust_field_integer(int64_t, parent_span_id, parent_span_id)
		lttng_ust_field_string(name, name)
		lttng_ust_field_string(args, args)
	)
)

LTTNG_UST_TRACEPOINT_EVENT(
	usdk, span_exit,
	LTTNG_UST_TP_ARGS(
		int64_t, span_id,
		int64_t, parent_span_id,
		const char *, name,
		const char *, ret,
		const char *, exc_type
	),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int64_t, span_id, span_id)
		lttng_ust_field_integer(int64_t, parent_span_id, parent_span_id)
		lttng_ust_field_string(name, name)
		lttng_ust_field_string(ret, ret)
		lttng_ust_field_string(exc_type, exc_type)
	)
)

LTTNG_UST_TRACEPOINT_EVENT(
	usdk, event,
	LTTNG_UST_TP_ARGS(
		int64_t, parent_span_id,
		const char *, name,
		const char *, payload
	),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int64_t, parent_span_id, parent_span_id)
		lttng_ust_field_string(name, name)
		lttng_ust_field_string(payload, payload)
	)
)

LTTNG_UST_TRACEPOINT_EVENT(
	usdk, span_suspend,
	LTTNG_UST_TP_ARGS(int64_t, span_id),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int64_t, span_id, span_id)
	)
)

LTTNG_UST_TRACEPOINT_EVENT(
	usdk, span_resume,
	LTTNG_UST_TP_ARGS(int64_t, span_id),
	LTTNG_UST_TP_FIELDS(
		lttng_ust_field_integer(int64_t, span_id, span_id)
	)
)

#endif /* USDK_TP_H */

#include <lttng/tracepoint-event.h>
