/*
 * The inline half of the rl_step_buf step builder. ffi/tests/header.rs
 * copies this file verbatim into include/ringlog.h, after the declarations
 * cbindgen generates (rl_step_buf, rl_step_buf_commit). It must stay valid
 * C89 (block comments only, declarations first) and C++.
 */

/**
 * How the header's inline functions are declared: `static inline` in C99 and
 * C++, GCC's `static __inline__` in C89 mode, plain `static` otherwise.
 */
#if defined(__cplusplus) || (defined(__STDC_VERSION__) && __STDC_VERSION__ >= 199901L)
#define RL_INLINE static inline
#elif defined(__GNUC__)
#define RL_INLINE static __inline__
#else
#define RL_INLINE static
#endif

/**
 * Starts step `step` in `buf`, dropping what it held. Inline: no call into
 * the library.
 */
RL_INLINE void rl_step_buf_begin(rl_step_buf *buf, int64_t step) {
    buf->step = step;
    buf->len = 0;
    buf->overflow = 0;
}

/**
 * Adds the float `value` for `key` (from rl_key) to the step in `buf`.
 * Inline: two stores, no call into the library. Past RL_STEP_BUF_CAPACITY
 * values the buffer is marked overflowed and rl_step_buf_commit refuses the
 * step (RL_ERR_INVALID_ARGUMENT, nothing written).
 */
RL_INLINE void rl_step_buf_f64(rl_step_buf *buf, rl_key_id key, double value) {
    uint32_t n = buf->len;
    if (n < RL_STEP_BUF_CAPACITY) {
        buf->items[n].key = key;
        buf->items[n].value = value;
        buf->len = n + 1;
    } else {
        buf->overflow = 1;
    }
}
