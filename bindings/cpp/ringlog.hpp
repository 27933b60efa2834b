// ringlog.hpp: a header-only C++17 RAII wrapper over ringlog's C API
// (ringlog.h, libringlog.so / libringlog.a).
//
// Error style: exceptions. Every call that can fail throws ringlog::Error,
// which carries the rl_status and the C API's full message
// (rl_last_error_message). Constructors can then acquire (a Run is always a
// live run), and a training loop is not cluttered with checks. Destructors
// never throw: Run's destructor finishes the run and Step's cancels an
// uncommitted step, ignoring errors (call Run::finish to see them).
//
// Threads and fork() follow the C API: one thread at a time per Run; in a
// forked child an inherited Run throws Error(RL_ERR_FORKED) from every
// writing call and its destructor only releases memory. A child makes its
// own with ringlog::Run::attach(parent.id()).
//
//   auto run = ringlog::Run::init(ringlog::Options().project("mnist"));
//   auto loss = run.key("train/loss");
//   for (std::int64_t step = 0; step < 100; ++step)
//       run.step(step).f64(loss, 1.0 / (step + 1)).commit();
//   auto report = run.finish(0);   // or let the destructor finish it
#ifndef RINGLOG_HPP
#define RINGLOG_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <initializer_list>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

// std::span overloads when the standard library has it (C++20).
#if defined(__has_include)
#if __has_include(<span>) && __cplusplus >= 202002L
#include <span>
#define RINGLOG_HAS_SPAN 1
#endif
#endif

#include "ringlog.h"

namespace ringlog {

/// A failed ringlog call: the C API's status and full message.
class Error : public std::runtime_error {
public:
    Error(rl_status status, const std::string &message) : std::runtime_error(message), status_(status) {}

    /// The C API's status code (never RL_OK).
    rl_status status() const noexcept { return status_; }

private:
    rl_status status_;
};

namespace detail {
/// Throws Error for a failed call, with `call` and the thread's last error message.
inline void check(rl_status status, const char *call) {
    if (status != RL_OK) {
        throw Error(status, std::string(call) + ": " + rl_error_string(status) + ": " + rl_last_error_message());
    }
}

/// Enables an overload for every integer type but bool (int, long, std::size_t,
/// std::uint32_t, std::int64_t, ...): one template that matches each of them
/// exactly, so no call is ambiguous between int64_t, double and bool overloads.
template <typename T>
using if_integer = typename std::enable_if<std::is_integral<T>::value && !std::is_same<T, bool>::value, int>::type;

/// `v` as the C API's int64_t; Error(RL_ERR_INVALID_ARGUMENT) for an unsigned value above INT64_MAX.
template <typename T>
std::int64_t to_i64(T v) {
    if (std::is_unsigned<T>::value &&
        static_cast<std::uint64_t>(v) > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        throw Error(RL_ERR_INVALID_ARGUMENT, "ringlog: integer " + std::to_string(v) + " does not fit int64_t");
    }
    return static_cast<std::int64_t>(v);
}
} // namespace detail

/// An interned key, valid on the Run whose key() returned it.
struct Key {
    rl_key_id id;
};

/// One float for one key: the element of Run::log's list and span forms,
/// `{key, value}`.
using Metric = std::pair<Key, double>;

/// What Run::finish reports (see rl_finish_report in ringlog.h).
using FinishReport = rl_finish_report;
/// This process's lane counters (see rl_stats in ringlog.h).
using Stats = rl_stats;

/// Options of Run::init, set fluently: Options().project("p").name("n").
/// A value type: copies are independent (rl_options_clone), moves are cheap,
/// so `auto o = ringlog::Options().project("p");` keeps a copy.
class Options {
public:
    Options() { detail::check(rl_options_new(&opts_), "rl_options_new"); }
    ~Options() { rl_options_free(opts_); }
    Options(const Options &other) {
        // A moved-from Options holds no handle; its copy starts from the defaults.
        detail::check(other.opts_ != nullptr ? rl_options_clone(other.opts_, &opts_) : rl_options_new(&opts_),
                      "rl_options_clone");
    }
    Options &operator=(const Options &other) {
        if (this != &other) {
            Options copy(other);
            std::swap(opts_, copy.opts_);
        }
        return *this;
    }
    Options(Options &&other) noexcept : opts_(std::exchange(other.opts_, nullptr)) {}
    Options &operator=(Options &&other) noexcept {
        if (this != &other) {
            rl_options_free(opts_);
            opts_ = std::exchange(other.opts_, nullptr);
        }
        return *this;
    }

    Options &project(const std::string &v) { return set(rl_options_set_project(opts_, v.c_str()), "project"); }
    Options &name(const std::string &v) { return set(rl_options_set_name(opts_, v.c_str()), "name"); }
    Options &tag(const std::string &v) { return set(rl_options_add_tag(opts_, v.c_str()), "tag"); }
    Options &run_id(const std::string &v) { return set(rl_options_set_run_id(opts_, v.c_str()), "run_id"); }
    Options &run_dir(const std::string &v) { return set(rl_options_set_run_dir(opts_, v.c_str()), "run_dir"); }
    Options &ring_bytes(std::size_t bytes) { return set(rl_options_set_ring_bytes(opts_, bytes), "ring_bytes"); }
    /// `policy`: RL_POLICY_BLOCK (waits at most `block_timeout_ms`), RL_POLICY_DROP or RL_POLICY_ERROR.
    Options &policy(rl_full_policy policy, std::uint32_t block_timeout_ms = 10000) {
        return set(rl_options_set_policy(opts_, policy, block_timeout_ms), "policy");
    }
    Options &finish_wait_ms(std::uint32_t ms) { return set(rl_options_set_finish_wait_ms(opts_, ms), "finish_wait"); }
    /** Also a live W&B offline run in `<run dir>/wandb/` (default: RINGLOG_WANDB=1). */
    Options &wandb(bool on = true) { return set(rl_options_set_wandb(opts_, on ? 1 : 0), "wandb"); }
    /** System stats every `ms` milliseconds; 0 turns them off (default 10000). */
    Options &system_stats_ms(std::uint32_t ms) { return set(rl_options_set_system_stats_ms(opts_, ms), "system_stats"); }
    Options &config(const std::string &key, double v) {
        return set(rl_options_config_f64(opts_, key.c_str(), v), "config");
    }
    /// Any integer type (int, std::size_t, std::uint32_t, std::int64_t, ...), stored as int64.
    template <typename T, detail::if_integer<T> = 0>
    Options &config(const std::string &key, T v) {
        return set(rl_options_config_i64(opts_, key.c_str(), detail::to_i64(v)), "config");
    }
    Options &config(const std::string &key, bool v) {
        return set(rl_options_config_bool(opts_, key.c_str(), v), "config");
    }
    Options &config(const std::string &key, const std::string &v) {
        return set(rl_options_config_str(opts_, key.c_str(), v.c_str()), "config");
    }
    Options &config(const std::string &key, const char *v) { return config(key, std::string(v)); }
    /// A JSON document given as text.
    Options &config_json(const std::string &key, const std::string &json) {
        return set(rl_options_config_json(opts_, key.c_str(), json.c_str()), "config_json");
    }

    /// The C handle (owned by this object; NULL after a move, which rl_init
    /// takes as the defaults).
    const rl_options *get() const noexcept { return opts_; }

private:
    Options &set(rl_status status, const char *what) {
        detail::check(status, what);
        return *this;
    }
    rl_options *opts_ = nullptr;
};

class Run;

/// A step under construction: add values, then commit() them as one record.
/// Destroying an uncommitted Step cancels it. Only float values keep the
/// step on the C API's allocation-free fast path.
class Step {
public:
    Step(const Step &) = delete;
    Step &operator=(const Step &) = delete;
    Step(Step &&other) noexcept : run_(std::exchange(other.run_, nullptr)) {}
    Step &operator=(Step &&) = delete;
    ~Step() {
        if (run_ != nullptr) {
            rl_step_cancel(run_);
        }
    }

    Step &f64(Key k, double v) { return add(rl_step_f64(live(), k.id, v), "rl_step_f64"); }
    Step &i64(Key k, std::int64_t v) { return add(rl_step_i64(live(), k.id, v), "rl_step_i64"); }
    Step &boolean(Key k, bool v) { return add(rl_step_bool(live(), k.id, v), "rl_step_bool"); }
    Step &str(Key k, const std::string &v) { return add(rl_step_str(live(), k.id, v.c_str()), "rl_step_str"); }
    Step &f32_array(Key k, const float *data, std::size_t len) {
        return add(rl_step_f32_array(live(), k.id, data, len), "rl_step_f32_array");
    }
    Step &f32_array(Key k, const std::vector<float> &v) { return f32_array(k, v.data(), v.size()); }

    /// Writes the step as one record. The step is closed whatever happens.
    void commit() {
        rl_run *run = std::exchange(run_, nullptr);
        detail::check(rl_step_commit(run), "rl_step_commit");
    }

private:
    friend class Run;
    explicit Step(rl_run *run) : run_(run) {}
    rl_run *live() const {
        if (run_ == nullptr) {
            throw Error(RL_ERR_STEP_STATE, "ringlog::Step used after commit()");
        }
        return run_;
    }
    Step &add(rl_status status, const char *what) {
        detail::check(status, what);
        return *this;
    }
    rl_run *run_;
};

/// One process's handle on a run. Movable, not copyable. The destructor
/// finishes the run (exit code 0, or 1 while an exception unwinds past it)
/// unless finish() was called; for an attached Run it detaches.
class Run {
public:
    /// Starts a run owned by this process.
    static Run init(const Options &options = Options()) {
        rl_run *run = nullptr;
        detail::check(rl_init(options.get(), &run), "rl_init");
        return Run(run);
    }

    /// Joins run `run_id` from this process with a lane of its own.
    static Run attach(const std::string &run_id) {
        rl_run *run = nullptr;
        detail::check(rl_attach(run_id.c_str(), &run), "rl_attach");
        return Run(run);
    }

    Run(const Run &) = delete;
    Run &operator=(const Run &) = delete;
    Run(Run &&other) noexcept
        : run_(std::exchange(other.run_, nullptr)), exceptions_at_start_(other.exceptions_at_start_) {}
    Run &operator=(Run &&other) noexcept {
        if (this != &other) {
            close();
            run_ = std::exchange(other.run_, nullptr);
            exceptions_at_start_ = other.exceptions_at_start_;
        }
        return *this;
    }
    ~Run() { close(); }

    /// Interns a key name ("train/loss"); do it once, outside the loop.
    Key key(const std::string &name) {
        rl_key_id id = 0;
        detail::check(rl_key(live(), name.c_str(), &id), "rl_key");
        return Key{id};
    }

    /// Logs one float: the fastest path.
    void log(std::int64_t step, Key k, double value) {
        detail::check(rl_log_f64(live(), step, k.id, value), "rl_log_f64");
    }

    /// Logs several floats at one step as one record, in one call:
    /// run.log(step, {{loss, 0.5}, {acc, 0.9}}). Up to RL_STEP_BUF_CAPACITY
    /// values go through an rl_step_buf filled here and rl_step_buf_commit
    /// (no allocation); more through rl_log_f64s.
    void log(std::int64_t step, std::initializer_list<Metric> items) { log_metrics(step, items.begin(), items.size()); }

    /// The same for an array or vector of metrics.
    void log(std::int64_t step, const std::vector<Metric> &items) { log_metrics(step, items.data(), items.size()); }

#ifdef RINGLOG_HAS_SPAN
    /// The same for any contiguous range of metrics (C++20).
    void log(std::int64_t step, std::span<const Metric> items) { log_metrics(step, items.data(), items.size()); }
#endif

    /// Opens a step; add values to it, then commit().
    Step step(std::int64_t step) {
        detail::check(rl_step_begin(live(), step), "rl_step_begin");
        return Step(run_);
    }

    void summary(const std::string &key, double v) {
        detail::check(rl_summary_f64(live(), key.c_str(), v), "rl_summary_f64");
    }
    /// Any integer type (int, std::size_t, std::uint32_t, std::int64_t, ...), stored as int64.
    template <typename T, detail::if_integer<T> = 0>
    void summary(const std::string &key, T v) {
        detail::check(rl_summary_i64(live(), key.c_str(), detail::to_i64(v)), "rl_summary_i64");
    }
    void summary(const std::string &key, bool v) {
        detail::check(rl_summary_bool(live(), key.c_str(), v), "rl_summary_bool");
    }
    void summary(const std::string &key, const std::string &v) {
        detail::check(rl_summary_str(live(), key.c_str(), v.c_str()), "rl_summary_str");
    }
    // Without this, a string literal would pick bool.
    void summary(const std::string &key, const char *v) { summary(key, std::string(v)); }
    void config(const std::string &key, double v) {
        detail::check(rl_config_f64(live(), key.c_str(), v), "rl_config_f64");
    }
    /// Any integer type (int, std::size_t, std::uint32_t, std::int64_t, ...), stored as int64.
    template <typename T, detail::if_integer<T> = 0>
    void config(const std::string &key, T v) {
        detail::check(rl_config_i64(live(), key.c_str(), detail::to_i64(v)), "rl_config_i64");
    }
    void config(const std::string &key, bool v) {
        detail::check(rl_config_bool(live(), key.c_str(), v), "rl_config_bool");
    }
    void config(const std::string &key, const std::string &v) {
        detail::check(rl_config_str(live(), key.c_str(), v.c_str()), "rl_config_str");
    }
    void config(const std::string &key, const char *v) { config(key, std::string(v)); }
    void config_json(const std::string &key, const std::string &json) {
        detail::check(rl_config_json(live(), key.c_str(), json.c_str()), "rl_config_json");
    }
    /// Records one console line (without its newline).
    void output(const std::string &line, rl_stream stream = RL_STDOUT) {
        detail::check(rl_output(live(), stream, line.c_str()), "rl_output");
    }
    void alert(rl_alert_level level, const std::string &title, const std::string &text) {
        detail::check(rl_alert(live(), level, title.c_str(), text.c_str()), "rl_alert");
    }
    void flush() { detail::check(rl_flush(live()), "rl_flush"); }

    /// This process's lane counters.
    Stats stats() const {
        Stats s{};
        detail::check(rl_run_stats(live(), &s), "rl_run_stats");
        return s;
    }
    std::string id() const { return rl_run_id(live()); }
    std::string dir() const { return rl_run_dir(live()); }

    /// Finishes (owner) or detaches (attached) and reports; the Run is empty afterwards,
    /// also when this throws.
    FinishReport finish(int exit_code = 0) {
        FinishReport report{};
        rl_run *run = std::exchange(run_, nullptr);
        if (run == nullptr) {
            throw Error(RL_ERR_NULL_POINTER, "ringlog::Run::finish on an empty (moved-from or finished) Run");
        }
        detail::check(rl_finish(run, exit_code, &report), "rl_finish");
        return report;
    }

    /// Whether this Run still holds a handle.
    explicit operator bool() const noexcept { return run_ != nullptr; }
    /// The C handle (still owned by this object).
    rl_run *get() noexcept { return run_; }

private:
    explicit Run(rl_run *run) noexcept : run_(run) {}
    rl_run *live() const {
        if (run_ == nullptr) {
            throw Error(RL_ERR_NULL_POINTER, "ringlog::Run used after finish() or a move");
        }
        return run_;
    }
    void log_metrics(std::int64_t step, const Metric *items, std::size_t n) {
        rl_run *run = live();
        if (n <= RL_STEP_BUF_CAPACITY) {
            rl_step_buf buf;
            rl_step_buf_begin(&buf, step);
            for (std::size_t i = 0; i < n; ++i) {
                rl_step_buf_f64(&buf, items[i].first.id, items[i].second);
            }
            detail::check(rl_step_buf_commit(run, &buf), "rl_step_buf_commit");
            return;
        }
        std::vector<rl_key_id> keys;
        std::vector<double> values;
        keys.reserve(n);
        values.reserve(n);
        for (std::size_t i = 0; i < n; ++i) {
            keys.push_back(items[i].first.id);
            values.push_back(items[i].second);
        }
        detail::check(rl_log_f64s(run, step, keys.data(), values.data(), n), "rl_log_f64s");
    }
    void close() noexcept {
        if (run_ != nullptr) {
            int code = std::uncaught_exceptions() > exceptions_at_start_ ? 1 : 0;
            rl_finish(std::exchange(run_, nullptr), code, nullptr);
        }
    }
    rl_run *run_ = nullptr;
    int exceptions_at_start_ = std::uncaught_exceptions();
};

/// This library's version.
inline std::string version() { return rl_version(); }

} // namespace ringlog

#endif // RINGLOG_HPP
