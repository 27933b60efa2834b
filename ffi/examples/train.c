/*
 * A toy training loop logging through ringlog's C API.
 *
 *   train [STEPS]
 *
 * Each step logs loss, accuracy, learning rate and gradient norm as one
 * record through the inline step buffer (rl_step_buf: filled in this
 * function's memory, written by one call; all floats, so no allocation);
 * every 100 steps it records an output line; at the end it sets summary
 * values and finishes the run.
 *
 * The service is found or auto-started as usual: RINGLOG_SOCKET and
 * RINGLOG_DIR apply, and with no RINGLOG_BIN the library starts the
 * `ringlog` of its own install (see ffi/README.md). Build:
 *
 *   cargo build --release -p ringlog-ffi -p ringlog-service
 *   cc -std=c11 -Iinclude ffi/examples/train.c -Ltarget/release -lringlog \
 *      -Wl,-rpath,$PWD/target/release -lm -o train
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "ringlog.h"

/* Prints the failed call and its cause, then exits. */
static void check(rl_status st, const char *what) {
    if (st != RL_OK) {
        fprintf(stderr, "train: %s failed: %s: %s\n", what, rl_error_string(st), rl_last_error_message());
        exit(1);
    }
}

int main(int argc, char **argv) {
    long steps = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
    if (steps <= 0) {
        fprintf(stderr, "usage: train [STEPS]\n");
        return 2;
    }
    const double base_lr = 3e-4;

    rl_options *opts = NULL;
    check(rl_options_new(&opts), "rl_options_new");
    check(rl_options_set_project(opts, "toy"), "set project");
    check(rl_options_set_name(opts, "train.c"), "set name");
    check(rl_options_config_f64(opts, "lr", base_lr), "config lr");
    check(rl_options_config_i64(opts, "steps", steps), "config steps");
    check(rl_options_config_str(opts, "optimizer", "sgd"), "config optimizer");
    rl_run *run = NULL;
    check(rl_init(opts, &run), "rl_init");
    rl_options_free(opts);
    printf("run %s in %s\n", rl_run_id(run), rl_run_dir(run));

    /* Intern the keys once, outside the loop. */
    rl_key_id loss_k, acc_k, lr_k, gnorm_k;
    check(rl_key(run, "train/loss", &loss_k), "key train/loss");
    check(rl_key(run, "train/accuracy", &acc_k), "key train/accuracy");
    check(rl_key(run, "train/lr", &lr_k), "key train/lr");
    check(rl_key(run, "train/grad_norm", &gnorm_k), "key train/grad_norm");

    double loss = 2.3, acc = 0.1;
    rl_step_buf buf;
    for (long step = 0; step < steps; step++) {
        double progress = (double)step / (double)steps;
        double lr = base_lr * 0.5 * (1.0 + cos(3.141592653589793 * progress)); /* cosine decay */
        loss = loss * 0.995 + 0.01 * (double)(step % 7) / 7.0;
        acc = acc + (1.0 - acc) * 0.004;
        double grad_norm = 1.0 / sqrt((double)step + 1.0);

        rl_step_buf_begin(&buf, step);
        rl_step_buf_f64(&buf, loss_k, loss);
        rl_step_buf_f64(&buf, acc_k, acc);
        rl_step_buf_f64(&buf, lr_k, lr);
        rl_step_buf_f64(&buf, gnorm_k, grad_norm);
        check(rl_step_buf_commit(run, &buf), "rl_step_buf_commit");

        if ((step + 1) % 100 == 0) {
            char line[128];
            snprintf(line, sizeof line, "step %ld: loss %.4f accuracy %.3f", step + 1, loss, acc);
            puts(line);
            check(rl_output(run, RL_STDOUT, line), "rl_output");
        }
    }

    check(rl_summary_f64(run, "final/loss", loss), "summary loss");
    check(rl_summary_f64(run, "final/accuracy", acc), "summary accuracy");
    rl_stats stats;
    check(rl_run_stats(run, &stats), "rl_run_stats");
    rl_finish_report report;
    check(rl_finish(run, 0, &report), "rl_finish");
    printf("finished: %llu records (%llu from this process), %llu dropped, %llu ms\n",
           (unsigned long long)report.records, (unsigned long long)stats.records,
           (unsigned long long)report.drops, (unsigned long long)report.runtime_ms);
    return report.state == RL_RUN_FINISHED ? 0 : 1;
}
