// Tests of the C++ wrapper (ringlog.hpp) against a private service: RAII
// finish in the destructor, exceptions carrying the C status, moves, the
// Step builder (commit, cancel on destruction), copyable Options, integer
// overloads of every width, the one-call metric lists (initializer_list,
// vector, std::span in C++20), and the run read back through `ringlog export`.
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "ringlog.hpp"

// Options is a value type: copyable and movable (checked at compile time).
static_assert(std::is_copy_constructible<ringlog::Options>::value, "Options copies");
static_assert(std::is_copy_assignable<ringlog::Options>::value, "Options copy-assigns");
static_assert(std::is_nothrow_move_constructible<ringlog::Options>::value, "Options moves");
static_assert(std::is_nothrow_move_assignable<ringlog::Options>::value, "Options move-assigns");

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

std::string read_file(const std::string &path) {
    std::string text;
    if (FILE *f = std::fopen(path.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
            text.append(buf, n);
        }
        std::fclose(f);
    }
    return text;
}

// `auto o = Options()...` keeps an independent copy; integers of every width
// reach config and summary without a cast; metric lists of every form are one
// record each.
void options_overloads_and_metric_lists() {
    auto o = ringlog::Options().project("opts-copy").wandb(false).system_stats_ms(0);
    ringlog::Options copy = o;
    copy.project("changed-after-copy"); // does not touch `o`
    ringlog::Options assigned;
    assigned = o;
    ringlog::Options moved = std::move(assigned);
    const std::size_t n_size = 1;
    const int n_int = 2;
    const std::int64_t n_i64 = 3;
    const std::uint32_t n_u32 = 4;
    const long long n_ll = 5;
    const unsigned short n_us = 6;
    o.config("n_size", n_size).config("n_int", n_int).config("n_i64", n_i64).config("n_u32", n_u32);
    o.config("n_ll", n_ll).config("n_us", n_us).config("flag", true).config("ratio", 0.5f);
    CHECK_THROWS(o.config("too_big", std::numeric_limits<std::uint64_t>::max()), RL_ERR_INVALID_ARGUMENT);

    std::string dir;
    {
        auto run = ringlog::Run::init(o);
        dir = run.dir();
        run.config("c_size", n_size);
        run.config("c_int", n_int);
        run.config("c_i64", n_i64);
        run.config("c_u32", n_u32);
        run.summary("s_size", n_size);
        run.summary("s_int", n_int);
        run.summary("s_i64", n_i64);
        run.summary("s_u32", n_u32);
        run.summary("s_flag", false);
        run.summary("s_f64", 2.5);
        CHECK_THROWS(run.summary("s_big", std::numeric_limits<std::uint64_t>::max()), RL_ERR_INVALID_ARGUMENT);

        const auto a = run.key("m/a");
        const auto b = run.key("m/b");
        // Step numbers and values of any arithmetic type.
        run.log(n_size, a, n_int);
        run.log(n_u32, {{a, 10.0}, {b, 20.0}});
        const std::vector<ringlog::Metric> vec = {{a, 30.0}, {b, 40.0}};
        run.log(n_i64 + 10, vec);
#ifdef RINGLOG_HAS_SPAN
        const std::array<ringlog::Metric, 2> arr = {{{a, 50.0}, {b, 60.0}}};
        run.log(20, std::span<const ringlog::Metric>(arr));
        run.log(21, arr); // an array converts to a span
#endif
        // More metrics than an rl_step_buf holds: still one record (rl_log_f64s).
        std::vector<ringlog::Metric> wide;
        for (int i = 0; i < RL_STEP_BUF_CAPACITY + 6; ++i) {
            wide.push_back({run.key("w/" + std::to_string(i)), static_cast<double>(i)});
        }
        run.log(30, wide);
        CHECK_THROWS(run.log(31, {{a, 1.0}, {ringlog::Key{4242}, 2.0}}), RL_ERR_INVALID_ARGUMENT);
        CHECK(run.finish(0).state == RL_RUN_FINISHED);
    }
    {
        // The copy and the moved-to copy are live options of their own.
        auto run = ringlog::Run::init(moved);
        CHECK(read_file(run.dir() + "/run.json").find("\"project\": \"opts-copy\"") != std::string::npos);
        run.finish(0);
        auto other = ringlog::Run::init(copy);
        CHECK(read_file(other.dir() + "/run.json").find("\"project\": \"changed-after-copy\"") != std::string::npos);
    }

    const std::string meta = read_file(dir + "/run.json");
    CHECK(meta.find("\"project\": \"opts-copy\"") != std::string::npos);
    for (const char *field : {"\"n_size\": 1", "\"n_int\": 2", "\"n_i64\": 3", "\"n_u32\": 4", "\"n_ll\": 5",
                              "\"n_us\": 6", "\"flag\": true", "\"ratio\": 0.5"}) {
        if (meta.find(field) == std::string::npos) {
            std::fprintf(stderr, "run.json lacks %s:\n%s\n", field, meta.c_str());
            ++failures;
        }
    }
    const std::string summary = ringlog_output("export '" + dir + "' --format summary");
    for (const char *field : {"\"s_size\": 1", "\"s_int\": 2", "\"s_i64\": 3", "\"s_u32\": 4", "\"s_flag\": false"}) {
        if (summary.find(field) == std::string::npos) {
            std::fprintf(stderr, "summary lacks %s:\n%s\n", field, summary.c_str());
            ++failures;
        }
    }
    const std::string jsonl = ringlog_output("export '" + dir + "' --format jsonl");
    CHECK(jsonl.find("\"_step\":1,") != std::string::npos && jsonl.find("\"m/a\":2.0") != std::string::npos);
    CHECK(jsonl.find("\"m/a\":10.0,\"m/b\":20.0") != std::string::npos);
    CHECK(jsonl.find("\"m/a\":30.0,\"m/b\":40.0") != std::string::npos);
#ifdef RINGLOG_HAS_SPAN
    CHECK(count(jsonl, "\"m/a\":50.0,\"m/b\":60.0") == 2);
#endif
    CHECK(jsonl.find("\"w/0\":0.0") != std::string::npos && jsonl.find("\"w/69\":69.0") != std::string::npos);
    CHECK(jsonl.find("4242") == std::string::npos);
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

    options_overloads_and_metric_lists();

    if (failures == 0) {
        std::printf("test_wrapper: ok\n");
        return 0;
    }
    std::fprintf(stderr, "test_wrapper: %d check(s) failed\n", failures);
    return 1;
}
