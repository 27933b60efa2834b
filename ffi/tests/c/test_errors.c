/*
 * The C API's error paths: NULL pointers, invalid UTF-8, bad arguments,
 * step builder misuse, an unknown run id, an unreachable service with
 * RINGLOG_AUTOSTART=0, a record too large for its lane, and a full lane under
 * each policy (error, drop, block with a short timeout).
 *
 * A full lane is made deterministic by stopping the service (SIGSTOP) so
 * nothing drains, filling a 4096-byte lane, and resuming it (SIGCONT) before
 * any check can end the program.
 */
#include "harness.h"

#include <signal.h>
#include <sys/types.h>

#define TINY_RING 4096
#define ATTEMPTS 1000 /* far more 48-byte records than a 4096-byte lane holds */

static void check_message_mentions(const char *needle) {
    const char *msg = rl_last_error_message();
    if (strstr(msg, needle) == NULL) {
        fprintf(stderr, "last error \"%s\" does not mention \"%s\"\n", msg, needle);
        harness_failures++;
    }
}

static void null_pointers(rl_run *run) {
    rl_key_id k = 0;
    rl_run *out = (rl_run *)0x1;
    CHECK_STATUS(rl_init(NULL, NULL), RL_ERR_NULL_POINTER);
    check_message_mentions("out_run");
    CHECK_STATUS(rl_attach(NULL, &out), RL_ERR_NULL_POINTER);
    check_message_mentions("run_id");
    CHECK(out == NULL); /* set to NULL on failure */
    CHECK_STATUS(rl_attach("x", NULL), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_options_new(NULL), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_options_set_project(NULL, "p"), RL_ERR_NULL_POINTER);
    check_message_mentions("options");
    CHECK_STATUS(rl_key(NULL, "k", &k), RL_ERR_NULL_POINTER);
    check_message_mentions("`run`");
    CHECK_STATUS(rl_key(run, NULL, &k), RL_ERR_NULL_POINTER);
    check_message_mentions("name");
    CHECK_STATUS(rl_key(run, "k", NULL), RL_ERR_NULL_POINTER);
    check_message_mentions("out_key");
    CHECK_STATUS(rl_log_f64(NULL, 0, 0, 1.0), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_log_f64s(NULL, 0, NULL, NULL, 0), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_log_f64s(run, 0, NULL, (double[1]){1.0}, 1), RL_ERR_NULL_POINTER);
    check_message_mentions("keys");
    CHECK_STATUS(rl_log_f64s(run, 0, &k, NULL, 1), RL_ERR_NULL_POINTER);
    check_message_mentions("values");
    rl_step_buf sb;
    rl_step_buf_begin(&sb, 0);
    CHECK_STATUS(rl_step_buf_commit(NULL, &sb), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_step_buf_commit(run, NULL), RL_ERR_NULL_POINTER);
    check_message_mentions("buf");
    CHECK_STATUS(rl_step_begin(NULL, 0), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_step_f64(NULL, 0, 1.0), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_step_i64(NULL, 0, 1), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_step_bool(NULL, 0, true), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_step_str(NULL, 0, "s"), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_step_f32_array(NULL, 0, NULL, 0), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_step_commit(NULL), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_step_cancel(NULL), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_summary_f64(NULL, "k", 1.0), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_summary_f64(run, NULL, 1.0), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_summary_str(run, "k", NULL), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_config_json(run, "k", NULL), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_output(run, RL_STDOUT, NULL), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_alert(run, RL_ALERT_INFO, "t", NULL), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_flush(NULL), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_run_stats(NULL, NULL), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_run_stats(run, NULL), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_finish(NULL, 0, NULL), RL_ERR_NULL_POINTER);
    CHECK(rl_run_id(NULL) == NULL);
    CHECK(rl_run_dir(NULL) == NULL);
    rl_run_free(NULL);     /* ignored */
    rl_options_free(NULL); /* ignored */
}

static void invalid_utf8(rl_run *run) {
    rl_key_id k = 12345;
    const char bad[] = {'l', 'o', (char)0xff, (char)0xfe, 0};
    const char truncated[] = {'a', (char)0xc3, 0};
    CHECK_STATUS(rl_key(run, bad, &k), RL_ERR_INVALID_UTF8);
    check_message_mentions("UTF-8");
    CHECK(k == 12345); /* untouched on failure */
    CHECK_STATUS(rl_output(run, RL_STDOUT, truncated), RL_ERR_INVALID_UTF8);
    CHECK_STATUS(rl_summary_f64(run, bad, 1.0), RL_ERR_INVALID_UTF8);
    CHECK_STATUS(rl_attach(bad, &(rl_run *){NULL}), RL_ERR_INVALID_UTF8);
    rl_options *o = NULL;
    REQUIRE_OK(rl_options_new(&o));
    CHECK_STATUS(rl_options_set_project(o, truncated), RL_ERR_INVALID_UTF8);
    CHECK_STATUS(rl_options_config_str(o, "k", bad), RL_ERR_INVALID_UTF8);
    rl_options_free(o);
}

static void invalid_arguments(rl_run *run) {
    rl_key_id k;
    REQUIRE_OK(rl_key(run, "valid", &k));
    CHECK_STATUS(rl_key(run, "", &k), RL_ERR_INVALID_ARGUMENT);
    char longname[300];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    CHECK_STATUS(rl_key(run, longname, &k), RL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rl_log_f64(run, 0, 9999, 1.0), RL_ERR_INVALID_ARGUMENT);
    check_message_mentions("9999");
    rl_key_id mixed_keys[2] = {k, 7777};
    rl_stats before, after;
    CHECK_OK(rl_run_stats(run, &before));
    CHECK_STATUS(rl_log_f64s(run, 0, mixed_keys, (double[2]){1.0, 2.0}, 2), RL_ERR_INVALID_ARGUMENT);
    check_message_mentions("7777");
    CHECK_OK(rl_run_stats(run, &after));
    CHECK(after.records == before.records); /* nothing written */

    /* rl_step_buf: an unknown key id, and one value too many, refuse the whole step. */
    rl_step_buf sb;
    rl_step_buf_begin(&sb, 1);
    rl_step_buf_f64(&sb, k, 1.0);
    rl_step_buf_f64(&sb, 6666, 2.0);
    CHECK_STATUS(rl_step_buf_commit(run, &sb), RL_ERR_INVALID_ARGUMENT);
    check_message_mentions("6666");
    rl_step_buf_begin(&sb, 2);
    for (int i = 0; i <= RL_STEP_BUF_CAPACITY; i++) {
        rl_step_buf_f64(&sb, k, (double)i);
    }
    CHECK(sb.len == RL_STEP_BUF_CAPACITY && sb.overflow != 0);
    CHECK_STATUS(rl_step_buf_commit(run, &sb), RL_ERR_INVALID_ARGUMENT);
    check_message_mentions("RL_STEP_BUF_CAPACITY");
    sb.overflow = 0;
    sb.len = RL_STEP_BUF_CAPACITY + 1; /* a corrupted length is bounded, not trusted */
    CHECK_STATUS(rl_step_buf_commit(run, &sb), RL_ERR_INVALID_ARGUMENT);
    CHECK_OK(rl_run_stats(run, &after));
    CHECK(after.records == before.records); /* nothing written */
    CHECK_STATUS(rl_output(run, 7, "line"), RL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rl_alert(run, -1, "t", "x"), RL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rl_config_json(run, "k", "{not json"), RL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rl_step_f32_array(run, k, NULL, 3), RL_ERR_NULL_POINTER);

    rl_options *o = NULL;
    REQUIRE_OK(rl_options_new(&o));
    CHECK_STATUS(rl_options_set_policy(o, 42, 0), RL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rl_options_config_json(o, "k", "[1,"), RL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rl_options_config_f64(o, "", 1.0), RL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rl_options_set_run_id(o, ""), RL_ERR_INVALID_ARGUMENT);
    CHECK_OK(rl_options_set_ring_bytes(o, 1000)); /* checked at init */
    rl_run *bad = (rl_run *)0x1;
    rl_status st = rl_init(o, &bad);
    CHECK(st != RL_OK);
    CHECK(bad == NULL);
    check_message_mentions("1000");
    rl_options_free(o);
}

static void step_misuse(rl_run *run) {
    rl_key_id k;
    REQUIRE_OK(rl_key(run, "misuse", &k));
    CHECK_STATUS(rl_step_f64(run, k, 1.0), RL_ERR_STEP_STATE);
    CHECK_STATUS(rl_step_str(run, k, "s"), RL_ERR_STEP_STATE);
    CHECK_STATUS(rl_step_commit(run), RL_ERR_STEP_STATE);
    CHECK_STATUS(rl_step_cancel(run), RL_ERR_STEP_STATE);
    CHECK_OK(rl_step_begin(run, 1));
    CHECK_STATUS(rl_step_begin(run, 2), RL_ERR_STEP_STATE);
    check_message_mentions("still open");
    CHECK_STATUS(rl_step_f64(run, 4242, 1.0), RL_ERR_INVALID_ARGUMENT);
    CHECK_STATUS(rl_step_f32_array(run, k, NULL, 3), RL_ERR_NULL_POINTER);
    CHECK_STATUS(rl_flush(run), RL_ERR_STEP_STATE);
    CHECK_OK(rl_step_cancel(run));
    CHECK_OK(rl_flush(run));
}

static void unknown_run(void) {
    rl_run *r = (rl_run *)0x1;
    CHECK_STATUS(rl_attach("nosuchrun0", &r), RL_ERR_UNKNOWN_RUN);
    CHECK(r == NULL);
    check_message_mentions("nosuchrun0");
}

static void no_service(void) {
    const char *saved_socket = getenv("RINGLOG_SOCKET");
    char socket_copy[1024];
    snprintf(socket_copy, sizeof socket_copy, "%s", saved_socket ? saved_socket : "");
    char nowhere[1100];
    snprintf(nowhere, sizeof nowhere, "%s.absent/ringlog.sock", socket_copy);
    setenv("RINGLOG_AUTOSTART", "0", 1);
    setenv("RINGLOG_SOCKET", nowhere, 1);
    rl_run *r = (rl_run *)0x1;
    CHECK_STATUS(rl_init(NULL, &r), RL_ERR_NO_SERVICE);
    CHECK(r == NULL);
    check_message_mentions("RINGLOG_AUTOSTART");
    CHECK_STATUS(rl_attach("whatever", &r), RL_ERR_NO_SERVICE);
    unsetenv("RINGLOG_AUTOSTART");
    setenv("RINGLOG_SOCKET", socket_copy, 1);
}

static void too_large(void) {
    rl_options *o = NULL;
    REQUIRE_OK(rl_options_new(&o));
    CHECK_OK(rl_options_set_ring_bytes(o, TINY_RING));
    rl_run *run = NULL;
    REQUIRE_OK(rl_init(o, &run));
    rl_options_free(o);
    rl_key_id k;
    REQUIRE_OK(rl_key(run, "big", &k));
    static float big[2000]; /* 8000 bytes > a quarter of 4096 */
    CHECK_OK(rl_step_begin(run, 0));
    CHECK_OK(rl_step_f32_array(run, k, big, 2000));
    CHECK_STATUS(rl_step_commit(run), RL_ERR_TOO_LARGE);
    check_message_mentions("RINGLOG_LANE_BYTES");
    CHECK_STATUS(rl_step_commit(run), RL_ERR_STEP_STATE); /* closed whatever the result */
    CHECK_OK(rl_finish(run, 0, NULL));
}

/* A run with a 4096-byte lane and `policy`, with one key interned. */
static rl_run *tiny_run(int32_t policy, uint32_t timeout_ms, rl_key_id *key) {
    rl_options *o = NULL;
    REQUIRE_OK(rl_options_new(&o));
    CHECK_OK(rl_options_set_ring_bytes(o, TINY_RING));
    CHECK_OK(rl_options_set_policy(o, policy, timeout_ms));
    rl_run *run = NULL;
    REQUIRE_OK(rl_init(o, &run));
    rl_options_free(o);
    REQUIRE_OK(rl_key(run, "x", key));
    return run;
}

static long service_pid(void) {
    char *status = harness_ringlog_output("status --json");
    if (status == NULL) {
        return -1;
    }
    long pid = (long)harness_json_int(status, "pid", -1);
    free(status);
    return pid;
}

static void full_lane_policies(void) {
    rl_key_id ke, kd, kb;
    rl_run *err_run = tiny_run(RL_POLICY_ERROR, 0, &ke);
    rl_run *drop_run = tiny_run(RL_POLICY_DROP, 0, &kd);
    rl_run *block_run = tiny_run(RL_POLICY_BLOCK, 200, &kb);
    long pid = service_pid();
    CHECK(pid > 0);
    if (pid <= 0) {
        return;
    }

    /* Nothing drains while the service is stopped. Record, resume, then check. */
    CHECK(kill((pid_t)pid, SIGSTOP) == 0);
    int err_ok = 0, drop_ok = 0, block_ok = 0;
    rl_status err_last = RL_OK, drop_last = RL_OK, block_last = RL_OK;
    while (err_ok < ATTEMPTS && (err_last = rl_log_f64(err_run, err_ok, ke, 1.0)) == RL_OK) {
        err_ok++;
    }
    char err_msg[512];
    snprintf(err_msg, sizeof err_msg, "%s", rl_last_error_message());
    for (int i = 0; i < ATTEMPTS; i++) {
        drop_last = rl_log_f64(drop_run, i, kd, 1.0);
        if (drop_last != RL_OK) {
            break;
        }
        drop_ok++;
    }
    while (block_ok < ATTEMPTS && (block_last = rl_log_f64(block_run, block_ok, kb, 1.0)) == RL_OK) {
        block_ok++;
    }
    rl_stats err_stats, drop_stats, block_stats;
    CHECK_OK(rl_run_stats(err_run, &err_stats));
    CHECK_OK(rl_run_stats(drop_run, &drop_stats));
    CHECK_OK(rl_run_stats(block_run, &block_stats));
    CHECK(kill((pid_t)pid, SIGCONT) == 0);

    CHECK(err_last == RL_ERR_FULL);
    CHECK(strstr(err_msg, "error policy") != NULL);
    CHECK(err_ok > 0 && err_ok < ATTEMPTS);
    CHECK(drop_last == RL_OK);
    CHECK(drop_ok == ATTEMPTS);
    CHECK(drop_stats.drops > 0 && drop_stats.drops < ATTEMPTS);
    CHECK(block_last == RL_ERR_TIMEOUT);
    CHECK(block_ok > 0 && block_ok < ATTEMPTS);
    CHECK(block_stats.timeouts == 1);
    CHECK(err_stats.drops == 0 && err_stats.timeouts == 0);

    /* After resuming, the lanes drain and take records again. */
    CHECK_OK(rl_log_f64(block_run, ATTEMPTS, kb, 2.0));

    rl_finish_report r;
    CHECK_OK(rl_finish(err_run, 0, &r));
    CHECK_OK(rl_finish(drop_run, 0, &r));
    CHECK(r.drops == drop_stats.drops);
    CHECK_OK(rl_finish(block_run, 0, &r));
    CHECK(r.timeouts == 1);
}

int main(void) {
    rl_run *run = NULL;
    REQUIRE_OK(rl_init(NULL, &run));
    null_pointers(run);
    invalid_utf8(run);
    invalid_arguments(run);
    step_misuse(run);
    unknown_run();
    no_service();
    /* The handle still works after every failure above. */
    rl_key_id k;
    CHECK_OK(rl_key(run, "after", &k));
    CHECK_OK(rl_log_f64(run, 0, k, 1.0));
    CHECK_OK(rl_finish(run, 0, NULL));

    too_large();
    full_lane_policies();
    return harness_finish("test_errors");
}
