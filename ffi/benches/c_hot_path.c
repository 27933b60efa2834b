/*
 * The C API's hot path against a running service, in ns per record:
 *
 *   scalar1: rl_log_f64 (one float per record)
 *   scalar8: rl_step_begin + 8 x rl_step_f64 + rl_step_commit (one record of 8 floats)
 *   scalar8-array: rl_log_f64s with 8 keys and values (the same record, one call)
 *   scalar8-buf: rl_step_buf_begin + 8 x rl_step_buf_f64 (inline) + rl_step_buf_commit
 *
 *   c_hot_path [RECORDS [ROUNDS [RING_MIB]]]    (defaults 500000 5 64)
 *
 * The lane is RING_MIB MiB (default 64). A warm-up writes once around the
 * whole ring (so no timed loop pays first-touch page faults), and the
 * program pauses 200 ms before each timed loop, so the service drains while
 * the producer rests: each loop (less than a ring's worth) times the
 * producer's hot path, not the service's drain rate.
 *
 * Prints one line per round and case: `c scalar1 <ns per record>`,
 * `c scalar8 <ns>`, `c scalar8-array <ns>`, `c scalar8-buf <ns>`. ffi/examples/rust_hot_path.rs measures
 * Run::log the same way; ffi/benches/run_bench.sh runs both side by side.
 * Before printing anything it checks the run's finish report: every record
 * was written, none dropped.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ringlog.h"

static void check(rl_status st, const char *what) {
    if (st != RL_OK) {
        fprintf(stderr, "c_hot_path: %s: %s\n", what, rl_last_error_message());
        exit(1);
    }
}

static void pause_200ms(void) {
    struct timespec ts = {0, 200000000L};
    nanosleep(&ts, NULL);
}

static double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
    long records = argc > 1 ? strtol(argv[1], NULL, 10) : 500000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    size_t ring_mib = argc > 3 ? (size_t)strtoul(argv[3], NULL, 10) : 64;
    rl_options *opts = NULL;
    check(rl_options_new(&opts), "options");
    check(rl_options_set_project(opts, "bench-c"), "project");
    check(rl_options_set_ring_bytes(opts, ring_mib << 20), "ring bytes");
    rl_run *run = NULL;
    check(rl_init(opts, &run), "rl_init");
    rl_options_free(opts);
    rl_key_id k[8];
    for (int i = 0; i < 8; i++) {
        char name[16];
        snprintf(name, sizeof name, "k%d", i);
        check(rl_key(run, name, &k[i]), "rl_key");
    }
    double *s1 = calloc((size_t)rounds, sizeof *s1), *s8 = calloc((size_t)rounds, sizeof *s8);
    double *s8a = calloc((size_t)rounds, sizeof *s8a), *s8b = calloc((size_t)rounds, sizeof *s8b);
    if (s1 == NULL || s8 == NULL || s8a == NULL || s8b == NULL) {
        return 1;
    }
    long long written = 8, step = 0;
    long warmup = (long)((ring_mib << 20) / 48 + (ring_mib << 20) / 192); /* 48-byte frames, 1.25 rings */
    for (long i = 0; i < warmup; i++, step++) {
        check(rl_log_f64(run, step, k[0], (double)i), "warm-up");
    }
    written += warmup;
    for (int r = 0; r < rounds; r++) {
        pause_200ms();
        double t0 = now_ns();
        for (long i = 0; i < records; i++, step++) {
            if (rl_log_f64(run, step, k[0], (double)i) != RL_OK) {
                check(RL_ERR_PANIC, "rl_log_f64");
            }
        }
        double t1 = now_ns();
        s1[r] = (t1 - t0) / (double)records;
        long steps8 = records / 4;
        pause_200ms();
        t0 = now_ns();
        for (long i = 0; i < steps8; i++, step++) {
            double v = (double)i;
            rl_status st = rl_step_begin(run, step);
            for (int j = 0; j < 8 && st == RL_OK; j++) {
                st = rl_step_f64(run, k[j], v + j);
            }
            if (st != RL_OK || rl_step_commit(run) != RL_OK) {
                check(RL_ERR_PANIC, "scalar8 step");
            }
        }
        t1 = now_ns();
        s8[r] = (t1 - t0) / (double)steps8;
        pause_200ms();
        t0 = now_ns();
        for (long i = 0; i < steps8; i++, step++) {
            double v = (double)i;
            double values[8] = {v, v + 1, v + 2, v + 3, v + 4, v + 5, v + 6, v + 7};
            if (rl_log_f64s(run, step, k, values, 8) != RL_OK) {
                check(RL_ERR_PANIC, "rl_log_f64s");
            }
        }
        t1 = now_ns();
        s8a[r] = (t1 - t0) / (double)steps8;
        pause_200ms();
        t0 = now_ns();
        rl_step_buf buf;
        for (long i = 0; i < steps8; i++, step++) {
            double v = (double)i;
            /* Eight explicit adds, as the Rust side builds its 8 pairs. */
            rl_step_buf_begin(&buf, step);
            rl_step_buf_f64(&buf, k[0], v);
            rl_step_buf_f64(&buf, k[1], v + 1);
            rl_step_buf_f64(&buf, k[2], v + 2);
            rl_step_buf_f64(&buf, k[3], v + 3);
            rl_step_buf_f64(&buf, k[4], v + 4);
            rl_step_buf_f64(&buf, k[5], v + 5);
            rl_step_buf_f64(&buf, k[6], v + 6);
            rl_step_buf_f64(&buf, k[7], v + 7);
            if (rl_step_buf_commit(run, &buf) != RL_OK) {
                check(RL_ERR_PANIC, "rl_step_buf_commit");
            }
        }
        t1 = now_ns();
        s8b[r] = (t1 - t0) / (double)steps8;
        written += records + 3 * steps8;
    }
    rl_finish_report report;
    check(rl_finish(run, 0, &report), "rl_finish");
    /* +1: the exit record written at finish. */
    if (report.records != (uint64_t)written + 1 || report.drops != 0 || report.timeouts != 0) {
        fprintf(stderr, "c_hot_path: the run has %llu records (%llu drops), expected %lld\n",
                (unsigned long long)report.records, (unsigned long long)report.drops, written + 1);
        return 1;
    }
    for (int r = 0; r < rounds; r++) {
        printf("c scalar1 %.2f\nc scalar8 %.2f\nc scalar8-array %.2f\nc scalar8-buf %.2f\n", s1[r], s8[r], s8a[r],
               s8b[r]);
    }
    free(s1);
    free(s8);
    free(s8a);
    free(s8b);
    return 0;
}
