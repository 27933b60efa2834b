// A toy training loop logging through ringlog's C++ wrapper (ringlog.hpp).
//
//   train_cpp [STEPS]
//
// Each step logs loss, accuracy, learning rate and gradient norm as one
// record; every 100 steps it records an output line; the Run's destructor
// would finish the run, but here finish() is called to print the report.
// Service discovery as usual: RINGLOG_SOCKET, RINGLOG_DIR, RINGLOG_BIN.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "ringlog.hpp"

int main(int argc, char **argv) {
    const std::int64_t steps = argc > 1 ? std::strtoll(argv[1], nullptr, 10) : 1000;
    const double base_lr = 3e-4;
    try {
        auto run = ringlog::Run::init(ringlog::Options()
                                          .project("toy")
                                          .name("train.cpp")
                                          .config("lr", base_lr)
                                          .config("steps", steps)
                                          .config("optimizer", "sgd"));
        std::printf("run %s in %s\n", run.id().c_str(), run.dir().c_str());
        const auto loss_k = run.key("train/loss");
        const auto acc_k = run.key("train/accuracy");
        const auto lr_k = run.key("train/lr");
        const auto gnorm_k = run.key("train/grad_norm");

        double loss = 2.3, acc = 0.1;
        for (std::int64_t step = 0; step < steps; ++step) {
            const double progress = static_cast<double>(step) / static_cast<double>(steps);
            const double lr = base_lr * 0.5 * (1.0 + std::cos(3.141592653589793 * progress));
            loss = loss * 0.995 + 0.01 * static_cast<double>(step % 7) / 7.0;
            acc = acc + (1.0 - acc) * 0.004;
            const double grad_norm = 1.0 / std::sqrt(static_cast<double>(step) + 1.0);
            run.log(step, {{loss_k, loss}, {acc_k, acc}, {lr_k, lr}, {gnorm_k, grad_norm}});
            if ((step + 1) % 100 == 0) {
                char line[128];
                std::snprintf(line, sizeof line, "step %lld: loss %.4f accuracy %.3f",
                              static_cast<long long>(step + 1), loss, acc);
                std::puts(line);
                run.output(line);
            }
        }
        run.summary("final/loss", loss);
        run.summary("final/accuracy", acc);
        const auto report = run.finish(0);
        std::printf("finished: %llu records, %llu dropped, %llu ms\n",
                    static_cast<unsigned long long>(report.records), static_cast<unsigned long long>(report.drops),
                    static_cast<unsigned long long>(report.runtime_ms));
        return report.state == RL_RUN_FINISHED ? 0 : 1;
    } catch (const ringlog::Error &e) {
        std::fprintf(stderr, "train_cpp: %s\n", e.what());
        return 1;
    }
}
