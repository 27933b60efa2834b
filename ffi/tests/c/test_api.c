/*
 * The C API's happy paths, checked end to end: options, init, keys, the
 * one-call scalar path, the step builder on its fast path (all floats), its
 * general path (mixed types, and more floats than the fast capacity),
 * summary/config/output/alert, stats, flush, finish (with the live W&B run
 * of rl_options_set_wandb); then the run's JSONL
 * and summary exports, read back through the `ringlog` CLI.
 */
#include "harness.h"

#include <sys/stat.h>

#define STEPS 200
#define WIDE 70 /* more floats than RL_STEP_FAST_CAPACITY */

static void check_version_and_strings(void) {
    CHECK(rl_version() != NULL && strlen(rl_version()) > 0);
    CHECK(strcmp(rl_error_string(RL_OK), "ok") == 0);
    for (int s = RL_OK; s <= RL_ERR_PANIC; s++) {
        CHECK(rl_error_string(s) != NULL && strcmp(rl_error_string(s), "unknown status") != 0);
    }
    CHECK(strcmp(rl_error_string(-1), "unknown status") == 0);
    CHECK(strcmp(rl_error_string(1000), "unknown status") == 0);
    CHECK(rl_last_error_message() != NULL);
}

int main(void) {
    check_version_and_strings();

    const char *runs = getenv("RINGLOG_DIR");
    CHECK(runs != NULL);
    char run_dir[1024];
    snprintf(run_dir, sizeof run_dir, "%s/api-run", runs ? runs : ".");

    rl_options *opts = NULL;
    REQUIRE_OK(rl_options_new(&opts));
    CHECK_OK(rl_options_set_project(opts, "c-api"));
    CHECK_OK(rl_options_set_name(opts, "api test"));
    CHECK_OK(rl_options_add_tag(opts, "c"));
    CHECK_OK(rl_options_set_run_id(opts, "capi0001"));
    CHECK_OK(rl_options_set_run_dir(opts, run_dir));
    CHECK_OK(rl_options_set_ring_bytes(opts, 1 << 16));
    CHECK_OK(rl_options_set_policy(opts, RL_POLICY_BLOCK, 5000));
    CHECK_OK(rl_options_set_finish_wait_ms(opts, 5000));
    CHECK_OK(rl_options_set_wandb(opts, 1));
    CHECK_OK(rl_options_set_system_stats_ms(opts, 0));
    CHECK_OK(rl_options_config_f64(opts, "lr", 0.001));
    CHECK_OK(rl_options_config_i64(opts, "batch", 64));
    CHECK_OK(rl_options_config_bool(opts, "amp", true));
    CHECK_OK(rl_options_config_str(opts, "optimizer", "adamw"));
    CHECK_OK(rl_options_config_json(opts, "layers", "[64, 64, 10]"));

    rl_run *run = NULL;
    REQUIRE_OK(rl_init(opts, &run));
    rl_options_free(opts);
    CHECK(strcmp(rl_run_id(run), "capi0001") == 0);
    CHECK(strcmp(rl_run_dir(run), run_dir) == 0);

    rl_key_id loss, acc, lr, gnorm, epoch, ok, phase, hist;
    REQUIRE_OK(rl_key(run, "train/loss", &loss));
    REQUIRE_OK(rl_key(run, "train/acc", &acc));
    REQUIRE_OK(rl_key(run, "lr", &lr));
    REQUIRE_OK(rl_key(run, "grad_norm", &gnorm));
    REQUIRE_OK(rl_key(run, "epoch", &epoch));
    REQUIRE_OK(rl_key(run, "ok", &ok));
    REQUIRE_OK(rl_key(run, "phase", &phase));
    REQUIRE_OK(rl_key(run, "hist", &hist));
    rl_key_id again;
    CHECK_OK(rl_key(run, "train/loss", &again));
    CHECK(again == loss);

    rl_key_id wide[WIDE];
    for (int i = 0; i < WIDE; i++) {
        char name[32];
        snprintf(name, sizeof name, "wide/%02d", i);
        REQUIRE_OK(rl_key(run, name, &wide[i]));
    }

    /* Fast path: four floats per step through the builder, one through rl_log_f64. */
    for (int64_t step = 0; step < STEPS; step++) {
        CHECK_OK(rl_step_begin(run, step));
        CHECK_OK(rl_step_f64(run, loss, 1.0 / (double)(step + 1)));
        CHECK_OK(rl_step_f64(run, acc, (double)step / STEPS));
        CHECK_OK(rl_step_f64(run, lr, 0.001));
        CHECK_OK(rl_step_commit(run));
        CHECK_OK(rl_log_f64(run, step, gnorm, 0.5));
    }

    /* The array call: one record of several floats. */
    rl_key_id arr_keys[3] = {wide[0], wide[1], wide[2]};
    double arr_values[3] = {0.5, 1.5, 2.5};
    CHECK_OK(rl_log_f64s(run, STEPS + 2, arr_keys, arr_values, 3));
    CHECK_OK(rl_log_f64s(run, STEPS + 3, NULL, NULL, 0)); /* writes nothing */
    double many_values[WIDE];
    for (int i = 0; i < WIDE; i++) {
        many_values[i] = -(double)i;
    }
    CHECK_OK(rl_log_f64s(run, STEPS + 4, wide, many_values, WIDE)); /* beyond the fast capacity */

    /* The inline step builder: filled in our memory, written by one call. */
    rl_step_buf sb;
    rl_step_buf_begin(&sb, STEPS + 5);
    rl_step_buf_f64(&sb, wide[3], 3.5);
    rl_step_buf_f64(&sb, wide[4], 4.5);
    CHECK(sb.step == STEPS + 5 && sb.len == 2 && sb.overflow == 0);
    CHECK_OK(rl_step_buf_commit(run, &sb));
    rl_step_buf_begin(&sb, STEPS + 6);
    CHECK_OK(rl_step_buf_commit(run, &sb)); /* empty: writes nothing */
    rl_step_buf_begin(&sb, STEPS + 7); /* a full buffer is still one record */
    for (int i = 0; i < RL_STEP_BUF_CAPACITY; i++) {
        rl_step_buf_f64(&sb, wide[i], 100.0 + i);
    }
    CHECK_OK(rl_step_buf_commit(run, &sb));

    /* General path: mixed types. */
    float h[4] = {1.0f, 2.5f, -1.0f, 0.0f};
    CHECK_OK(rl_step_begin(run, STEPS));
    CHECK_OK(rl_step_f64(run, loss, 0.25));
    CHECK_OK(rl_step_i64(run, epoch, 3));
    CHECK_OK(rl_step_bool(run, ok, true));
    CHECK_OK(rl_step_str(run, phase, "eval"));
    CHECK_OK(rl_step_f32_array(run, hist, h, 4));
    CHECK_OK(rl_step_commit(run));

    /* General path: more floats than the fast capacity. */
    CHECK_OK(rl_step_begin(run, STEPS + 1));
    for (int i = 0; i < WIDE; i++) {
        CHECK_OK(rl_step_f64(run, wide[i], (double)i));
    }
    CHECK_OK(rl_step_commit(run));

    /* A cancelled step writes nothing; an empty step writes nothing. */
    CHECK_OK(rl_step_begin(run, 9999));
    CHECK_OK(rl_step_f64(run, loss, 42.0));
    CHECK_OK(rl_step_cancel(run));
    CHECK_OK(rl_step_begin(run, 9998));
    CHECK_OK(rl_step_commit(run));

    CHECK_OK(rl_summary_f64(run, "best/acc", 0.97));
    CHECK_OK(rl_summary_i64(run, "best/epoch", 3));
    CHECK_OK(rl_summary_bool(run, "converged", true));
    CHECK_OK(rl_summary_str(run, "note", "done"));
    CHECK_OK(rl_config_f64(run, "dropout", 0.1));
    CHECK_OK(rl_config_i64(run, "seed", 7));
    CHECK_OK(rl_config_bool(run, "shuffle", false));
    CHECK_OK(rl_config_str(run, "dataset", "toy"));
    CHECK_OK(rl_config_json(run, "schedule", "{\"warmup\": 100}"));
    CHECK_OK(rl_output(run, RL_STDOUT, "epoch 3 done"));
    CHECK_OK(rl_output(run, RL_STDERR, "a warning line"));
    CHECK_OK(rl_alert(run, RL_ALERT_WARN, "slow", "step time doubled"));
    CHECK_OK(rl_flush(run));

    rl_stats stats;
    CHECK_OK(rl_run_stats(run, &stats));
    CHECK(stats.lane == 0);
    CHECK(stats.records >= 2 * STEPS + 2);
    CHECK(stats.drops == 0 && stats.timeouts == 0);

    rl_finish_report report;
    memset(&report, 0xff, sizeof report);
    REQUIRE_OK(rl_finish(run, 0, &report));
    CHECK(report.state == RL_RUN_FINISHED);
    CHECK(report.exit_code == 0);
    CHECK(report.records >= stats.records);
    CHECK(report.drops == 0 && report.timeouts == 0 && report.invalid_frames == 0);
    CHECK(report.abandoned_lanes == 0);

    /* rl_options_set_wandb: the service wrote the run as a live W&B offline run. */
    char wandb_link[1100];
    snprintf(wandb_link, sizeof wandb_link, "%s/wandb/latest-run", run_dir);
    struct stat st;
    CHECK(stat(wandb_link, &st) == 0 && S_ISDIR(st.st_mode));

    /* Read the run back. */
    char args[2048];
    snprintf(args, sizeof args, "export '%s' --format jsonl", run_dir);
    char *jsonl = harness_ringlog_output(args);
    CHECK(jsonl != NULL);
    if (jsonl != NULL) {
        int rows = 0, fast_rows = 0, gnorm_rows = 0;
        for (char *line = strtok(jsonl, "\n"); line != NULL; line = strtok(NULL, "\n")) {
            long long step = harness_json_int(line, "_step", -1);
            rows++;
            if (step >= 0 && step < STEPS && strstr(line, "\"train/acc\":") != NULL) {
                fast_rows++;
                CHECK(harness_json_f64(line, "train/loss", -1) == 1.0 / (double)(step + 1));
                CHECK(harness_json_f64(line, "lr", -1) == 0.001);
            }
            if (strstr(line, "\"grad_norm\":0.5") != NULL) {
                gnorm_rows++;
            }
            if (step == STEPS) {
                CHECK(strstr(line, "\"epoch\":3") != NULL);
                CHECK(strstr(line, "\"ok\":true") != NULL);
                CHECK(strstr(line, "\"phase\":\"eval\"") != NULL);
                CHECK(strstr(line, "\"hist\":[1.0,2.5,-1.0,0.0]") != NULL);
                CHECK(strstr(line, "\"train/loss\":0.25") != NULL);
            }
            if (step == STEPS + 1) {
                CHECK(strstr(line, "\"wide/00\":0.0") != NULL);
                CHECK(strstr(line, "\"wide/69\":69.0") != NULL);
            }
            if (step == STEPS + 2) {
                CHECK(strstr(line, "\"wide/00\":0.5,\"wide/01\":1.5,\"wide/02\":2.5}") != NULL);
            }
            if (step == STEPS + 4) {
                CHECK(strstr(line, "\"wide/69\":-69.0") != NULL);
            }
            if (step == STEPS + 5) {
                CHECK(strstr(line, "\"wide/03\":3.5,\"wide/04\":4.5}") != NULL);
            }
            if (step == STEPS + 7) {
                CHECK(strstr(line, "\"wide/00\":100.0,") != NULL);
                CHECK(strstr(line, "\"wide/63\":163.0}") != NULL);
            }
            CHECK(step != 9999 && step != 9998 && step != STEPS + 3 && step != STEPS + 6);
        }
        CHECK(fast_rows == STEPS);
        CHECK(gnorm_rows == STEPS);
        CHECK(rows == 2 * STEPS + 6);
        free(jsonl);
    }
    snprintf(args, sizeof args, "export '%s' --format summary", run_dir);
    char *summary = harness_ringlog_output(args);
    CHECK(summary != NULL);
    if (summary != NULL) {
        CHECK(strstr(summary, "\"best/acc\": 0.97") != NULL);
        CHECK(strstr(summary, "\"note\": \"done\"") != NULL);
        free(summary);
    }
    return harness_finish("test_api");
}
