// Tests of the C++ wrapper (ringlog.hpp) against a private service: RAII
// finish in the destructor, exceptions carrying the C status, moves, the
// Step builder (commit, cancel on destruction), and the run read back
// through `ringlog export`.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "ringlog.hpp"

namespace {

int failures = 0;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);        \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

// Runs `expr`, which must throw ringlog::Error with `status`.
#define CHECK_THROWS(expr, expected)                                                               \
    do {                                                                                           \
        bool threw = false;                                                                        \
        try {                                                                                      \
            expr;                                                                                  \
        } catch (const ringlog::Error &e) {                                                        \
            threw = true;                                                                          \
            if (e.status() != (expected)) {                                                        \
                std::fprintf(stderr, "%s:%d: %s threw status %d: %s\n", __FILE__, __LINE__, #expr, \
                             static_cast<int>(e.status()), e.what());                              \
                ++failures;                                                                        \
            }                                                                                      \
        }                                                                                          \
        if (!threw) {                                                                              \
            std::fprintf(stderr, "%s:%d: %s did not throw\n", __FILE__, __LINE__, #expr);         \
            ++failures;                                                                            \
        }                                                                                          \
    } while (0)

// Output of `ringlog ARGS`.
std::string ringlog_output(const std::string &args) {
    const char *bin = std::getenv("RINGLOG_BIN");
    if (bin == nullptr) {
        std::fprintf(stderr, "RINGLOG_BIN is not set: run through ffi/tests/run_c_tests.sh\n");
        std::exit(2);
    }
    std::string cmd = std::string("'") + bin + "' " + args;
    FILE *p = popen(cmd.c_str(), "r");
    std::string out;
    if (p == nullptr) {
        return out;
    }
    char buf[4096];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) {
        out.append(buf, n);
    }
    CHECK(pclose(p) == 0);
    return out;
}

std::size_t count(const std::string &text, const std::string &needle) {
    std::size_t n = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
        ++n;
    }
    return n;
}

} // namespace

int main() {
    CHECK(!ringlog::version().empty());
    std::string run_dir;
    {
        auto run = ringlog::Run::init(ringlog::Options()
                                          .project("cpp")
                                          .tag("wrapper")
                                          .config("lr", 0.1)
                                          .config("layers", 3)
                                          .config("amp", true)
                                          .config("opt", "adam")
                                          .config_json("sched", "{\"warmup\": 10}"));
        run_dir = run.dir();
        CHECK(!run.id().empty());
        const auto loss = run.key("loss");
        const auto acc = run.key("acc");
        const auto tag = run.key("tag");
        for (std::int64_t step = 0; step < 100; ++step) {
            run.log(step, {{loss, 1.0 / static_cast<double>(step + 1)}, {acc, 0.5}});
        }
        run.log(100, loss, 0.01);
        run.step(101).f64(loss, 0.02).i64(run.key("epoch"), 2).boolean(run.key("ok"), true).str(tag, "x").f32_array(
            run.key("hist"), std::vector<float>{1.0f, 2.0f}).commit();
        {
            auto s = run.step(999);
            s.f64(loss, 123.0);
            // Destroyed uncommitted: cancelled, nothing written.
        }
        run.summary("best", 0.99);
        run.summary("epochs", 2);
        run.summary("note", "done");
        run.config("seed", 7);
        run.output("hello from C++");
        run.output("warning", RL_STDERR);
        run.alert(RL_ALERT_INFO, "t", "x");
        run.flush();

        // Errors arrive as exceptions carrying the C status.
        CHECK_THROWS(run.log(0, ringlog::Key{9999}, 1.0), RL_ERR_INVALID_ARGUMENT);
        CHECK_THROWS(run.key(""), RL_ERR_INVALID_ARGUMENT);
        CHECK_THROWS(run.output("x", static_cast<rl_stream>(9)), RL_ERR_INVALID_ARGUMENT);
        CHECK_THROWS(run.config_json("bad", "{"), RL_ERR_INVALID_ARGUMENT);
        CHECK_THROWS(ringlog::Run::attach("nosuchrun1"), RL_ERR_UNKNOWN_RUN);
        {
            auto s = run.step(5);
            CHECK_THROWS(run.step(6), RL_ERR_STEP_STATE);
            s.commit(); // empty: writes nothing
            CHECK_THROWS(s.f64(loss, 1.0), RL_ERR_STEP_STATE);
        }

        // Moves transfer the handle; the moved-from Run is empty.
        ringlog::Run moved = std::move(run);
        CHECK(!run);
        CHECK(static_cast<bool>(moved));
        CHECK_THROWS(run.key("x"), RL_ERR_NULL_POINTER);
        CHECK(moved.stats().records > 100);

        // An attached Run in the same process gets its own lane; finish() detaches.
        auto worker = ringlog::Run::attach(moved.id());
        CHECK(worker.stats().lane != moved.stats().lane);
        worker.log(0, worker.key("worker/loss"), 0.5);
        const auto detached = worker.finish();
        CHECK(detached.state == RL_RUN_DETACHED);
        CHECK(!worker);
        CHECK_THROWS(worker.finish(), RL_ERR_NULL_POINTER);
        // `moved` goes out of scope here: its destructor finishes the run.
    }

    const std::string runs = ringlog_output("runs --json");
    CHECK(runs.find("\"finished\"") != std::string::npos);
    const std::string jsonl = ringlog_output("export '" + run_dir + "' --format jsonl");
    CHECK(count(jsonl, "\"acc\":0.5") == 100);
    CHECK(jsonl.find("\"hist\":[1.0,2.0]") != std::string::npos);
    CHECK(jsonl.find("\"tag\":\"x\"") != std::string::npos);
    CHECK(jsonl.find("\"worker/loss\":0.5") != std::string::npos);
    CHECK(jsonl.find("123.0") == std::string::npos);
    const std::string summary = ringlog_output("export '" + run_dir + "' --format summary");
    CHECK(summary.find("\"note\": \"done\"") != std::string::npos);

    // The destructor records exit code 1 while an exception unwinds.
    std::string failed_dir;
    try {
        auto run = ringlog::Run::init(ringlog::Options().project("cpp-unwind"));
        failed_dir = run.dir();
        throw std::runtime_error("training diverged");
    } catch (const std::runtime_error &) {
    }
    std::string meta;
    if (FILE *f = std::fopen((failed_dir + "/run.json").c_str(), "r")) {
        char buf[4096];
        meta.append(buf, std::fread(buf, 1, sizeof buf, f));
        std::fclose(f);
    }
    CHECK(meta.find("\"exit_code\": 1,") != std::string::npos);
    CHECK(meta.find("\"state\": \"finished\"") != std::string::npos);

    if (failures == 0) {
        std::printf("test_wrapper: ok\n");
        return 0;
    }
    std::fprintf(stderr, "test_wrapper: %d check(s) failed\n", failures);
    return 1;
}
