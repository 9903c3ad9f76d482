/*
 * Copyright (c) 2026 ovs-dma developers.
 *
 * Licensed under the Apache License, Version 2.0 (the "License");
 * you may not use this file except in compliance with the License.
 * You may obtain a copy of the License at:
 *
 *     http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing, software
 * distributed under the License is distributed on an "AS IS" BASIS,
 * WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 * See the License for the specific language governing permissions and
 * limitations under the License.
 */

#include <config.h>

#include "vhost-async-size.h"

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <vector>

#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "vhost-async.h"

VLOG_DEFINE_THIS_MODULE(vhost_async_size);

namespace {

constexpr int path_cpu = 0;
constexpr int path_dma = 1;

/* One class of one direction.  Written by the owner thread only; the
 * atomics are what vhost_async_size_format() reads. */
struct size_class {
    /* Accumulating window, per path. */
    uint64_t cycles[2] = {0, 0};
    uint64_t copies[2] = {0, 0};

    /* Moving averages of cycles per copy, in 1/16 cycle, per path, and how
     * many windows they hold (0: not known). */
    uint64_t est[2] = {0, 0};
    uint64_t windows[2] = {0, 0};

    unsigned int bursts = 0;      /* Since the last re-test. */
    unsigned int retest_left = 0; /* Bursts of the re-test run to go. */
    unsigned int cold = 0; /* Bursts back on the class's path not measured. */

    std::atomic<bool> dma{false};
    std::atomic<uint32_t> shown_cost[2]; /* Published estimates. */
    std::atomic<uint64_t> changes{0};
};

/* Cycles per copy of reaping completions, by direction. */
struct completions {
    uint64_t cycles = 0;
    uint64_t copies = 0;
    uint64_t est = 0;
    uint64_t windows = 0;
};

/* Lower bound of class 'cls', in bytes. */
uint32_t
class_floor(unsigned int cls)
{
    return cls ? uint32_t{64} << cls : 0;
}

const char *
dir_name(int dir)
{
    return dir == VHOST_ASYNC_SIZE_TX ? "tx" : "rx";
}

/* Folds a window of 'copies' copies that took 'cycles' into a moving
 * average 'est' (in 1/16 cycle per copy) of 'windows' windows. */
void
fold(uint64_t &est, uint64_t &windows, uint64_t cycles, uint64_t copies)
{
    uint64_t x = cycles * 16 / copies;

    est = windows ? (3 * est + x) / 4 : x;
    windows++;
}

} // namespace

struct vhost_async_size {
    explicit vhost_async_size(unsigned int core_id_) : core_id(core_id_)
    {
        for (auto &dir : classes) {
            for (unsigned int c = 0; c < VHOST_ASYNC_SIZE_N_CLASSES; c++) {
                dir[c].dma.store(class_floor(c) >=
                                     VHOST_ASYNC_MIN_FRAME_SIZE_DEFAULT,
                                 std::memory_order_relaxed);
                dir[c].shown_cost[0].store(0, std::memory_order_relaxed);
                dir[c].shown_cost[1].store(0, std::memory_order_relaxed);
                /* The first re-test comes soon, so that a class learns
                 * early what the other path costs. */
                dir[c].bursts = VHOST_ASYNC_SIZE_RETEST_PERIOD - 64;
                dir[c].cold = VHOST_ASYNC_SIZE_WARMUP;
            }
        }
    }

    /* What class 'c' of 'dir' costs by 'path', completions included, or 0
     * if that is not known yet. */
    uint64_t
    cost(int dir, const size_class &c, int path) const
    {
        if (!c.windows[path]) {
            return 0;
        }
        uint64_t est16 = c.est[path];
        if (path == path_dma && dir == VHOST_ASYNC_SIZE_TX) {
            if (!comp[dir].windows) {
                return 0;
            }
            est16 += comp[dir].est;
        }
        return std::max<uint64_t>(est16 / 16, 1);
    }

    void
    publish(int dir, size_class &c) const
    {
        for (int p = 0; p < 2; p++) {
            c.shown_cost[p].store(
                std::min<uint64_t>(cost(dir, c, p), UINT32_MAX),
                std::memory_order_relaxed);
        }
    }

    /* Moves class 'cls' of 'dir' to the cheaper path, if both costs are
     * known and the other path is cheaper by more than an eighth. */
    void
    decide(int dir, unsigned int cls)
    {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);
        size_class &c = classes[dir][cls];
        uint64_t cpu = cost(dir, c, path_cpu);
        uint64_t dma = cost(dir, c, path_dma);
        bool on_dma = c.dma.load(std::memory_order_relaxed);

        publish(dir, c);
        if (!cpu || !dma) {
            return;
        }

        uint64_t here = on_dma ? dma : cpu;
        uint64_t there = on_dma ? cpu : dma;
        if (there * 9 >= here * 8) {
            return;
        }
        c.dma.store(!on_dma, std::memory_order_relaxed);
        c.cold = VHOST_ASYNC_SIZE_WARMUP;
        c.changes.store(c.changes.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);

        uint32_t lo = class_floor(cls);
        if (cls + 1 < VHOST_ASYNC_SIZE_N_CLASSES) {
            VLOG_INFO_RL(&rl,
                         "pmd thread core %u: %s copies of %u to %u bytes "
                         "go by %s now: %" PRIu64 " cycles per copy by the "
                         "CPU, %" PRIu64 " by DMA.",
                         core_id, dir_name(dir), lo, class_floor(cls + 1) - 1,
                         on_dma ? "the CPU" : "DMA", cpu, dma);
        } else {
            VLOG_INFO_RL(&rl,
                         "pmd thread core %u: %s copies of %u bytes and "
                         "more go by %s now: %" PRIu64 " cycles per copy by "
                         "the CPU, %" PRIu64 " by DMA.",
                         core_id, dir_name(dir), lo,
                         on_dma ? "the CPU" : "DMA", cpu, dma);
        }
    }

    unsigned int core_id;
    size_class classes[VHOST_ASYNC_SIZE_N_DIRS][VHOST_ASYNC_SIZE_N_CLASSES];
    completions comp[VHOST_ASYNC_SIZE_N_DIRS];
};

namespace {

/* Every thread's policy, for vhost_async_size_format(). */
std::mutex all_mutex;
std::vector<vhost_async_size *> all;

} // namespace

struct vhost_async_size *
vhost_async_size_create(unsigned int core_id) noexcept
{
    auto *p = new vhost_async_size(core_id);
    std::lock_guard<std::mutex> lock(all_mutex);

    all.push_back(p);
    return p;
}

void
vhost_async_size_destroy(struct vhost_async_size *p) noexcept
{
    if (!p) {
        return;
    }
    {
        std::lock_guard<std::mutex> lock(all_mutex);
        all.erase(std::remove(all.begin(), all.end(), p), all.end());
    }
    delete p;
}

bool
vhost_async_size_use_dma(struct vhost_async_size *p,
                         enum vhost_async_size_dir dir,
                         unsigned int cls) noexcept
{
    size_class &c = p->classes[dir][cls];
    bool on_dma = c.dma.load(std::memory_order_relaxed);

    if (c.retest_left) {
        return !on_dma;
    }
    if (c.bursts >= VHOST_ASYNC_SIZE_RETEST_PERIOD) {
        c.bursts = 0;
        c.retest_left = VHOST_ASYNC_SIZE_RETEST_RUN;
        /* What the window of the other path holds is from before. */
        int other = on_dma ? path_cpu : path_dma;
        c.cycles[other] = c.copies[other] = 0;
        return !on_dma;
    }
    return on_dma;
}

void
vhost_async_size_record(struct vhost_async_size *p,
                        enum vhost_async_size_dir dir, unsigned int cls,
                        bool dma, uint64_t cycles,
                        unsigned int copies) noexcept
{
    size_class &c = p->classes[dir][cls];
    int path = dma ? path_dma : path_cpu;
    bool other = dma != c.dma.load(std::memory_order_relaxed);

    if (!copies) {
        return;
    }
    if (c.retest_left) {
        unsigned int pos = VHOST_ASYNC_SIZE_RETEST_RUN - c.retest_left;

        c.retest_left--;
        if (other) {
            if (pos >= VHOST_ASYNC_SIZE_WARMUP) {
                c.cycles[path] += cycles;
                c.copies[path] += copies;
            }
            if (!c.retest_left) {
                /* Back on the class's path, or on the other one if the
                 * re-test changed it: cold again for a few bursts. */
                c.cold = VHOST_ASYNC_SIZE_WARMUP;
                if (c.copies[path]) {
                    fold(c.est[path], c.windows[path], c.cycles[path],
                         c.copies[path]);
                    c.cycles[path] = c.copies[path] = 0;
                    p->decide(dir, cls);
                }
            }
            return;
        }
        /* The sender could not take the other path for this burst (the
         * vring had copies in flight): a burst of the usual path. */
    } else {
        /* Bursts are counted here, not where the path is chosen: a receive
         * queue asks on every poll, most of which bring nothing. */
        c.bursts++;
        if (!other && c.cold) {
            c.cold--;
            return;
        }
    }
    /* Outside a re-test, a burst of a class on the CPU goes to the device
     * when its vring has copies in flight: a measurement of DMA too. */
    c.cycles[path] += cycles;
    c.copies[path] += copies;
    if (c.copies[path] >= VHOST_ASYNC_SIZE_WINDOW) {
        fold(c.est[path], c.windows[path], c.cycles[path], c.copies[path]);
        c.cycles[path] = c.copies[path] = 0;
        p->decide(dir, cls);
    }
}

void
vhost_async_size_record_completions(struct vhost_async_size *p,
                                    enum vhost_async_size_dir dir,
                                    uint64_t cycles,
                                    unsigned int copies) noexcept
{
    completions &k = p->comp[dir];

    k.cycles += cycles;
    k.copies += copies;
    if (k.copies >= VHOST_ASYNC_SIZE_WINDOW) {
        bool first = !k.windows;

        fold(k.est, k.windows, k.cycles, k.copies);
        k.cycles = k.copies = 0;
        if (first) {
            for (unsigned int c = 0; c < VHOST_ASYNC_SIZE_N_CLASSES; c++) {
                p->publish(dir, p->classes[dir][c]);
            }
        }
    }
}

void
vhost_async_size_get(const struct vhost_async_size *p,
                     enum vhost_async_size_dir dir, unsigned int cls,
                     struct vhost_async_size_class_info *info) noexcept
{
    const size_class &c = p->classes[dir][cls];

    info->dma = c.dma.load(std::memory_order_relaxed);
    info->cpu_cost = c.shown_cost[path_cpu].load(std::memory_order_relaxed);
    info->dma_cost = c.shown_cost[path_dma].load(std::memory_order_relaxed);
    info->changes = c.changes.load(std::memory_order_relaxed);
}

uint32_t
vhost_async_size_threshold(const struct vhost_async_size *p,
                           enum vhost_async_size_dir dir) noexcept
{
    uint32_t threshold = UINT32_MAX;

    for (int c = VHOST_ASYNC_SIZE_N_CLASSES - 1; c >= 0; c--) {
        if (!p->classes[dir][c].dma.load(std::memory_order_relaxed)) {
            break;
        }
        threshold = class_floor(c);
    }
    return threshold;
}

void
vhost_async_size_format(struct ds *ds) noexcept
{
    std::lock_guard<std::mutex> lock(all_mutex);

    if (all.empty()) {
        ds_put_cstr(ds, "No PMD thread with a DMA device learns copy "
                        "costs.\n");
        return;
    }

    std::vector<vhost_async_size *> sorted(all);
    std::sort(sorted.begin(), sorted.end(),
              [](const vhost_async_size *a, const vhost_async_size *b) {
                  return a->core_id < b->core_id;
              });
    for (const vhost_async_size *p : sorted) {
        ds_put_format(ds, "pmd thread core %u:\n", p->core_id);
        for (int d = 0; d < VHOST_ASYNC_SIZE_N_DIRS; d++) {
            auto dir = static_cast<vhost_async_size_dir>(d);
            uint32_t t = vhost_async_size_threshold(p, dir);

            ds_put_format(ds, "  %s: ", dir_name(d));
            if (t == UINT32_MAX) {
                ds_put_cstr(ds, "every copy by the CPU\n");
            } else {
                ds_put_format(ds, "copies from %" PRIu32 " bytes by DMA\n", t);
            }
            ds_put_format(ds, "    %-13s %-4s %10s %10s %7s\n", "copy bytes",
                          "path", "cpu cyc", "dma cyc", "changes");
            for (unsigned int c = 0; c < VHOST_ASYNC_SIZE_N_CLASSES; c++) {
                struct vhost_async_size_class_info info;
                char range[32];
                char cpu[16] = "-";
                char dma[16] = "-";

                vhost_async_size_get(p, dir, c, &info);
                if (c + 1 < VHOST_ASYNC_SIZE_N_CLASSES) {
                    snprintf(range, sizeof range, "%" PRIu32 "-%" PRIu32,
                             class_floor(c), class_floor(c + 1) - 1);
                } else {
                    snprintf(range, sizeof range, "%" PRIu32 "+",
                             class_floor(c));
                }
                if (info.cpu_cost) {
                    snprintf(cpu, sizeof cpu, "%" PRIu32, info.cpu_cost);
                }
                if (info.dma_cost) {
                    snprintf(dma, sizeof dma, "%" PRIu32, info.dma_cost);
                }
                ds_put_format(ds, "    %-13s %-4s %10s %10s %7" PRIu64 "\n",
                              range, info.dma ? "dma" : "cpu", cpu, dma,
                              info.changes);
            }
        }
    }
}
