/*
 * Several processes logging into one run through the C API.
 *
 * The parent inits a run and forks CHILDREN children. Each child first checks
 * that the inherited handle refuses to write (RL_ERR_FORKED), then attaches
 * with rl_attach and logs its own lane. The survivors log STEPS steps each
 * and finish (detach); the last child logs until the parent SIGKILLs it,
 * reporting through a pipe how many steps it had committed. The parent then
 * finishes the run and reads it back with `ringlog export --format jsonl`:
 * every survivor's STEPS rows are there in order with the right values, and
 * the killed child's rows are a gap-free prefix at least as long as the
 * count it reported.
 */
#include "harness.h"

#include <errno.h>
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHILDREN 4
#define VICTIM (CHILDREN - 1)
#define STEPS 20000
#define KILL_AFTER 5000
#define REPORT_EVERY 500

/* Writes one line to the pipe; exits the child on failure. */
static void report(int fd, const char *what, long long n) {
    char line[64];
    int len = snprintf(line, sizeof line, "%s %lld\n", what, n);
    if (write(fd, line, (size_t)len) != len) {
        _exit(3);
    }
}

/* One child: attach, log, finish (or be killed). Never returns. */
static void child(int index, const char *run_id, rl_run *inherited, int fd) {
    /* The parent's handle must not write into the parent's lane from here. */
    rl_key_id any = 0;
    if (rl_key(inherited, "from_child", &any) != RL_ERR_FORKED) {
        _exit(10);
    }
    if (rl_log_f64(inherited, 0, 0, 1.0) != RL_ERR_FORKED) {
        _exit(11);
    }
    if (strstr(rl_last_error_message(), "rl_attach") == NULL && strstr(rl_last_error_message(), "attach") == NULL) {
        _exit(12);
    }
    /* Freeing an inherited handle only releases memory: the parent's run goes on. */
    rl_run_free(inherited);

    rl_run *run = NULL;
    if (rl_attach(run_id, &run) != RL_OK) {
        fprintf(stderr, "child %d: rl_attach: %s\n", index, rl_last_error_message());
        _exit(13);
    }
    rl_stats stats;
    if (rl_run_stats(run, &stats) != RL_OK) {
        _exit(14);
    }
    report(fd, "lane", stats.lane);
    rl_key_id v, s;
    if (rl_key(run, "v", &v) != RL_OK || rl_key(run, "s", &s) != RL_OK) {
        _exit(15);
    }
    long long limit = index == VICTIM ? 100000000LL : STEPS;
    for (long long step = 0; step < limit; step++) {
        double value = index * 1e6 + (double)step;
        rl_status st;
        if (index % 2 == 0) {
            st = rl_log_f64(run, step, v, value);
        } else {
            st = rl_step_begin(run, step);
            if (st == RL_OK) st = rl_step_f64(run, v, value);
            if (st == RL_OK) st = rl_step_f64(run, s, (double)index);
            if (st == RL_OK) st = rl_step_commit(run);
        }
        if (st != RL_OK) {
            fprintf(stderr, "child %d step %lld: %s\n", index, step, rl_last_error_message());
            _exit(16);
        }
        if (index == VICTIM && (step + 1) % REPORT_EVERY == 0) {
            report(fd, "committed", step + 1);
        }
    }
    rl_finish_report r;
    if (rl_finish(run, 0, &r) != RL_OK || r.state != RL_RUN_DETACHED) {
        fprintf(stderr, "child %d: rl_finish: %s\n", index, rl_last_error_message());
        _exit(17);
    }
    report(fd, "done", 0);
    close(fd);
    exit(0);
}

/* Reads one "WHAT N" line from fd; returns N, or -1 at EOF or on a mismatch. */
static long long read_report(int fd, const char *what) {
    char line[64];
    size_t len = 0;
    while (len + 1 < sizeof line) {
        ssize_t n = read(fd, line + len, 1);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        if (line[len] == '\n') {
            break;
        }
        len++;
    }
    line[len] = '\0';
    size_t w = strlen(what);
    if (strncmp(line, what, w) != 0 || line[w] != ' ') {
        fprintf(stderr, "expected \"%s N\", read \"%s\"\n", what, line);
        return -1;
    }
    return strtoll(line + w + 1, NULL, 10);
}

int main(void) {
    rl_options *opts = NULL;
    REQUIRE_OK(rl_options_new(&opts));
    CHECK_OK(rl_options_set_project(opts, "c-multiprocess"));
    CHECK_OK(rl_options_set_finish_wait_ms(opts, 20000));
    rl_run *run = NULL;
    REQUIRE_OK(rl_init(opts, &run));
    rl_options_free(opts);
    char run_id[256], run_dir[1024];
    snprintf(run_id, sizeof run_id, "%s", rl_run_id(run));
    snprintf(run_dir, sizeof run_dir, "%s", rl_run_dir(run));
    rl_key_id owner_key;
    REQUIRE_OK(rl_key(run, "owner", &owner_key));
    CHECK_OK(rl_log_f64(run, 0, owner_key, 1.0));

    pid_t pids[CHILDREN];
    int fds[CHILDREN];
    fflush(stdout);
    fflush(stderr);
    for (int i = 0; i < CHILDREN; i++) {
        int p[2];
        if (pipe(p) != 0) {
            perror("pipe");
            return 2;
        }
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            close(p[0]);
            for (int j = 0; j < i; j++) {
                close(fds[j]);
            }
            child(i, run_id, run, p[1]);
        }
        close(p[1]);
        pids[i] = pid;
        fds[i] = p[0];
    }

    long long lanes[CHILDREN];
    for (int i = 0; i < CHILDREN; i++) {
        lanes[i] = read_report(fds[i], "lane");
        CHECK(lanes[i] > 0);
    }
    long long committed = 0;
    while (committed < KILL_AFTER) {
        long long n = read_report(fds[VICTIM], "committed");
        if (n < 0) {
            break;
        }
        committed = n;
    }
    CHECK(committed >= KILL_AFTER);
    CHECK(kill(pids[VICTIM], SIGKILL) == 0);

    for (int i = 0; i < CHILDREN; i++) {
        int status = 0;
        CHECK(waitpid(pids[i], &status, 0) == pids[i]);
        if (i == VICTIM) {
            CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
        } else {
            if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
                fprintf(stderr, "child %d ended with status %#x\n", i, (unsigned)status);
                harness_failures++;
            }
            CHECK(read_report(fds[i], "done") == 0);
        }
        close(fds[i]);
    }

    rl_finish_report report;
    REQUIRE_OK(rl_finish(run, 0, &report));
    CHECK(report.state == RL_RUN_FINISHED);
    CHECK(report.abandoned_lanes == 1);
    CHECK(report.invalid_frames == 0);
    CHECK(report.drops == 0);

    /* Read the run back: per lane, the steps must be 0, 1, 2, ... in order. */
    char args[2048];
    snprintf(args, sizeof args, "export '%s' --format jsonl", run_dir);
    char *jsonl = harness_ringlog_output(args);
    CHECK(jsonl != NULL);
    if (jsonl == NULL) {
        return harness_finish("test_multiprocess");
    }
    long long next[CHILDREN] = {0};
    int gaps = 0, wrong_values = 0, unknown_lanes = 0;
    for (char *line = strtok(jsonl, "\n"); line != NULL; line = strtok(NULL, "\n")) {
        long long lane = harness_json_int(line, "_lane", -1);
        long long step = harness_json_int(line, "_step", -1);
        if (lane == 0) {
            continue; /* the owner's own row */
        }
        int who = -1;
        for (int i = 0; i < CHILDREN; i++) {
            if (lanes[i] == lane) {
                who = i;
            }
        }
        if (who < 0) {
            unknown_lanes++;
            continue;
        }
        if (step != next[who]) {
            if (gaps++ < 5) {
                fprintf(stderr, "child %d (lane %lld): step %lld where %lld was next\n", who, lane, step, next[who]);
            }
            next[who] = step;
        }
        next[who]++;
        if (harness_json_f64(line, "v", -1) != who * 1e6 + (double)step) {
            wrong_values++;
        }
    }
    free(jsonl);
    CHECK(gaps == 0);
    CHECK(wrong_values == 0);
    CHECK(unknown_lanes == 0);
    for (int i = 0; i < CHILDREN; i++) {
        if (i == VICTIM) {
            if (next[i] < committed) {
                fprintf(stderr, "killed child kept %lld rows but had reported %lld committed\n", next[i], committed);
                harness_failures++;
            }
        } else if (next[i] != STEPS) {
            fprintf(stderr, "child %d: %lld rows, expected %d\n", i, next[i], STEPS);
            harness_failures++;
        }
    }
    printf("test_multiprocess: killed child reported %lld committed, %lld kept\n", committed, next[VICTIM]);
    return harness_finish("test_multiprocess");
}
