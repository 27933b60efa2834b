/*
 * Tiny test harness shared by the C tests of ringlog's C API.
 *
 * Each program runs against a private service: the test script sets
 * RINGLOG_SOCKET and RINGLOG_DIR under a temporary directory and RINGLOG_BIN
 * to the built `ringlog` binary, and shuts that service down afterwards.
 */
#ifndef RINGLOG_TEST_HARNESS_H
#define RINGLOG_TEST_HARNESS_H

/* popen, fork, kill, setenv: POSIX beyond C11. Include this header first. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringlog.h"

static int harness_failures = 0;

/* Fails the test (and continues) unless `cond` holds. */
#define CHECK(cond)                                                                       \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);     \
            harness_failures++;                                                           \
        }                                                                                 \
    } while (0)

/* Fails the test unless the call returned `expected`; prints the last error. */
#define CHECK_STATUS(call, expected)                                                      \
    do {                                                                                  \
        rl_status check_status_got = (call);                                              \
        if (check_status_got != (expected)) {                                             \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d; last error: %s\n",  \
                    __FILE__, __LINE__, #call, (int)check_status_got,                    \
                    rl_error_string(check_status_got), (int)(expected),                  \
                    rl_last_error_message());                                             \
            harness_failures++;                                                           \
        }                                                                                 \
    } while (0)

#define CHECK_OK(call) CHECK_STATUS(call, RL_OK)

/* Like CHECK_OK, but stops the program: later steps depend on this one. */
#define REQUIRE_OK(call)                                                                  \
    do {                                                                                  \
        rl_status require_status_got = (call);                                            \
        if (require_status_got != RL_OK) {                                                \
            fprintf(stderr, "%s:%d: %s returned %d (%s); last error: %s\n", __FILE__,     \
                    __LINE__, #call, (int)require_status_got,                            \
                    rl_error_string(require_status_got), rl_last_error_message());       \
            exit(2);                                                                      \
        }                                                                                 \
    } while (0)

/* Prints the verdict and returns the process exit code. */
static inline int harness_finish(const char *name) {
    if (harness_failures == 0) {
        printf("%s: ok\n", name);
        return 0;
    }
    fprintf(stderr, "%s: %d check(s) failed\n", name, harness_failures);
    return 1;
}

/* The ringlog binary from RINGLOG_BIN (set by the test script). */
static inline const char *harness_ringlog_bin(void) {
    const char *bin = getenv("RINGLOG_BIN");
    if (bin == NULL || bin[0] == '\0') {
        fprintf(stderr, "RINGLOG_BIN is not set: run this test through ffi/tests/run_c_tests.sh\n");
        exit(2);
    }
    return bin;
}

/*
 * Runs `ringlog ARGS` (ARGS must be shell-safe) and returns its whole stdout,
 * malloc'd and NUL-terminated (the caller frees it), or NULL if it failed.
 */
static inline char *harness_ringlog_output(const char *args) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s", harness_ringlog_bin(), args);
    FILE *p = popen(cmd, "r");
    if (p == NULL) {
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        pclose(p);
        return NULL;
    }
    size_t n;
    while ((n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL) {
                free(buf);
                pclose(p);
                return NULL;
            }
            buf = bigger;
            cap *= 2;
        }
    }
    buf[len] = '\0';
    if (pclose(p) != 0) {
        fprintf(stderr, "`%s` failed\n", cmd);
        free(buf);
        return NULL;
    }
    return buf;
}

/* The integer after `"field":` in `line`, or `fallback` if absent. */
static inline long long harness_json_int(const char *line, const char *field, long long fallback) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":", field);
    const char *at = strstr(line, pattern);
    if (at == NULL) {
        return fallback;
    }
    return strtoll(at + strlen(pattern), NULL, 10);
}

/* The number after `"field":` in `line`, or `fallback` if absent. */
static inline double harness_json_f64(const char *line, const char *field, double fallback) {
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\":", field);
    const char *at = strstr(line, pattern);
    if (at == NULL) {
        return fallback;
    }
    return strtod(at + strlen(pattern), NULL);
}

#endif /* RINGLOG_TEST_HARNESS_H */
