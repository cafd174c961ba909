/* Tracepoint provider `gen` for the reader's test and bench traces: every field type
 * lttng-ust 2.13 writes, plus a compact `op` event for volume. */
#undef LTTNG_UST_TRACEPOINT_PROVIDER
#define LTTNG_UST_TRACEPOINT_PROVIDER gen

#undef LTTNG_UST_TRACEPOINT_INCLUDE
#define LTTNG_UST_TRACEPOINT_INCLUDE "./gen_tp.h"

#if !defined(GEN_TP_H) || defined(LTTNG_UST_TRACEPOINT_HEADER_MULTI_READ)
#define GEN_TP_H

#include <lttng/tracepoint.h>
#include <stdint.h>

LTTNG_UST_TRACEPOINT_ENUM(gen, status,
    LTTNG_UST_TP_ENUM_VALUES(
        lttng_ust_field_enum_value("OK", 0)
        lttng_ust_field_enum_value("RETRY", 1)
        lttng_ust_field_enum_range("ERROR", 2, 9)
    )
)

LTTNG_UST_TRACEPOINT_EVENT(gen, all_types,
    LTTNG_UST_TP_ARGS(int64_t, i, const char *, s, const uint16_t *, seq, unsigned int, n),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int8_t, i8, (int8_t) i)
        lttng_ust_field_integer(int16_t, i16, (int16_t) (i * 3))
        lttng_ust_field_integer(int32_t, i32, (int32_t) (i * -7))
        lttng_ust_field_integer(int64_t, i64, i * 1000003)
        lttng_ust_field_integer(uint8_t, u8, (uint8_t) i)
        lttng_ust_field_integer(uint16_t, u16, (uint16_t) (i * 5))
        lttng_ust_field_integer(uint32_t, u32, (uint32_t) (i * 11))
        lttng_ust_field_integer(uint64_t, u64, ((uint64_t) i) * 0x9E3779B97F4A7C15ull)
        lttng_ust_field_integer_hex(uint32_t, hex32, (uint32_t) i ^ 0xdeadbeef)
        lttng_ust_field_integer_network(int32_t, net32, (int32_t) (i - 100))
        lttng_ust_field_float(float, f32, (float) i / 4.0f)
        lttng_ust_field_float(double, f64, (double) i / 3.0)
        lttng_ust_field_string(str, s)
        lttng_ust_field_enum(gen, status, int, status, (int) (i % 11))
        lttng_ust_field_array(int32_t, arr, ((int32_t[3]){(int32_t) i, (int32_t) -i, 7}), 3)
        lttng_ust_field_array_text(char, txt, s, 4)
        lttng_ust_field_sequence(uint16_t, seq, seq, unsigned int, n)
        lttng_ust_field_sequence_text(char, stxt, s, unsigned int, n)
        lttng_ust_field_integer(uint8_t, flag, (uint8_t) (i & 1))
    )
)

LTTNG_UST_TRACEPOINT_EVENT(gen, op,
    LTTNG_UST_TP_ARGS(int64_t, id, uint32_t, size, double, lat, const char *, key, int, st),
    LTTNG_UST_TP_FIELDS(
        lttng_ust_field_integer(int64_t, id, id)
        lttng_ust_field_integer(uint32_t, size, size)
        lttng_ust_field_float(double, latency, lat)
        lttng_ust_field_string(key, key)
        lttng_ust_field_enum(gen, status, int, status, st)
    )
)

LTTNG_UST_TRACEPOINT_EVENT(gen, empty,
    LTTNG_UST_TP_ARGS(void),
    LTTNG_UST_TP_FIELDS()
)

#endif /* GEN_TP_H */

#include <lttng/tracepoint-event.h>
