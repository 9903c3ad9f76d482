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

VLOG_DEFINE_THIS_MODULE(vhost_async_size);

namespace {

constexpr int path_cpu = 0;
constexpr int path_dma = 1;

/* One class of one direction.  Written by the owner thread only; the
 * atomics are what vhost_async_size_format() reads. */
struct size_class {
    bool now_dma = false;  /* The way of its bursts now (a trial flips it). */
    bool pending = false;  /* The last trial found the other way cheaper. */
    bool pair_next = true; /* The next trial takes the class's pair too. */
    uint64_t next_trial = 0; /* Epoch of the next trial, 0: not seen yet. */
    uint64_t interval = VHOST_ASYNC_SIZE_INTERVAL_MIN; /* In epochs. */

    /* Moving averages of the thread's busy cycles per copy, in 1/16 cycle,
     * with the class on each way, and how many epochs they hold. */
    uint64_t est[2] = {0, 0};
    uint64_t windows[2] = {0, 0};

    std::atomic<bool> dma{false};        /* Its way outside trials. */
    std::atomic<uint32_t> shown_cost[2]; /* Published estimates. */
    std::atomic<uint64_t> trials{0};
    std::atomic<uint64_t> changes{0};
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

/* Folds 'x' into a moving average 'est' of 'windows' values. */
void
fold(uint64_t &est, uint64_t &windows, uint64_t x)
{
    est = windows ? (3 * est + x) / 4 : x;
    windows++;
}

/* Where a thread is in its trial cycle (see vhost-async-size.h). */
enum class phase {
    normal, /* Every class on its way; each epoch is a baseline. */
    warm,   /* The trial's class took the other way: not measured. */
    trial,  /* Measured with the trial's class on the other way. */
    back,   /* Back on the usual way (or the new one): not measured. */
};

} // namespace

struct vhost_async_size {
    vhost_async_size(unsigned int core_id_, uint64_t tsc_hz)
        : core_id(core_id_), epoch_cycles(std::max<uint64_t>(
                                 tsc_hz / 1000 * VHOST_ASYNC_SIZE_EPOCH_MS, 1))
    {
        for (auto &dir : classes) {
            for (unsigned int c = 0; c < VHOST_ASYNC_SIZE_N_CLASSES; c++) {
                bool dma = class_floor(c) >= VHOST_ASYNC_SIZE_START;

                dir[c].now_dma = dma;
                dir[c].dma.store(dma, std::memory_order_relaxed);
                dir[c].shown_cost[0].store(0, std::memory_order_relaxed);
                dir[c].shown_cost[1].store(0, std::memory_order_relaxed);
            }
        }
    }

    void
    publish(size_class &c)
    {
        for (int p = 0; p < 2; p++) {
            c.shown_cost[p].store(
                std::min<uint64_t>(c.est[p] / 16, UINT32_MAX),
                std::memory_order_relaxed);
        }
    }

    /* Copies of the epoch, all classes. */
    uint64_t
    class_total() const
    {
        uint64_t total = 0;

        for (auto &d : ep_class) {
            for (uint64_t n : d) {
                total += n;
            }
        }
        return total;
    }

    void
    reset_epoch(uint64_t now)
    {
        ep_start = now;
        ep_busy = ep_copies = 0;
        for (auto &dir : ep_class) {
            std::fill(std::begin(dir), std::end(dir), 0);
        }
    }

    /* The class of the other direction with the same sizes as the trial's
     * class. */
    size_class &
    partner()
    {
        return classes[!t_dir][t_cls];
    }

    /* Starts a trial of class 't_cls' of 't_dir': it takes the other way,
     * with its partner if this trial takes the pair and the partner carries
     * an eighth of the epoch's 'total' copies and goes the same way. */
    void
    start_trial(uint64_t total)
    {
        size_class &c = classes[t_dir][t_cls];
        size_class &q = partner();
        bool dma = c.dma.load(std::memory_order_relaxed);

        t_pair = c.pair_next && ep_class[!t_dir][t_cls] * 8 >= total &&
                 q.dma.load(std::memory_order_relaxed) == dma;
        c.now_dma = !dma;
        if (t_pair) {
            q.now_dma = !dma;
        }
        ph = phase::warm;
    }

    /* Ends a trial with the classes back on their way. */
    void
    end_trial()
    {
        size_class &c = classes[t_dir][t_cls];
        size_class &q = partner();

        c.now_dma = c.dma.load(std::memory_order_relaxed);
        q.now_dma = q.dma.load(std::memory_order_relaxed);
        ph = phase::back;
    }

    /* Moves class 'cls' of 'dir' to the other way, and logs it. */
    void
    move(int dir, unsigned int cls, uint64_t base, uint64_t tried)
    {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(5, 20);
        size_class &c = classes[dir][cls];
        bool on_dma = c.dma.load(std::memory_order_relaxed);

        c.dma.store(!on_dma, std::memory_order_relaxed);
        c.now_dma = !on_dma;
        c.pending = false;
        c.changes.store(c.changes.load(std::memory_order_relaxed) + 1,
                        std::memory_order_relaxed);
        c.interval = VHOST_ASYNC_SIZE_INTERVAL_MIN;
        c.next_trial = epoch + c.interval;

        uint32_t lo = class_floor(cls);
        uint64_t cpu = (on_dma ? tried : base) / 16;
        uint64_t dma = (on_dma ? base : tried) / 16;
        if (cls + 1 < VHOST_ASYNC_SIZE_N_CLASSES) {
            VLOG_INFO_RL(&rl,
                         "pmd thread core %u: %s copies of %u to %u bytes "
                         "go by %s now: the thread spends %" PRIu64
                         " cycles per copy with them by the CPU, %" PRIu64
                         " by DMA.",
                         core_id, dir_name(dir), lo, class_floor(cls + 1) - 1,
                         on_dma ? "the CPU" : "DMA", cpu, dma);
        } else {
            VLOG_INFO_RL(&rl,
                         "pmd thread core %u: %s copies of %u bytes and "
                         "more go by %s now: the thread spends %" PRIu64
                         " cycles per copy with them by the CPU, %" PRIu64
                         " by DMA.",
                         core_id, dir_name(dir), lo,
                         on_dma ? "the CPU" : "DMA", cpu, dma);
        }
    }

    /* The class to try next after a baseline epoch, if one is due: the one
     * due first among those with at least an eighth of the copies. */
    bool
    pick(int *dir, unsigned int *cls)
    {
        uint64_t total = class_total();
        bool found = false;
        uint64_t due = UINT64_MAX;

        for (int d = 0; d < VHOST_ASYNC_SIZE_N_DIRS; d++) {
            for (unsigned int i = 0; i < VHOST_ASYNC_SIZE_N_CLASSES; i++) {
                size_class &c = classes[d][i];

                if (ep_class[d][i] * 8 < total || !ep_class[d][i]) {
                    continue;
                }
                if (!c.next_trial) {
                    c.next_trial = epoch + c.interval;
                }
                if (c.next_trial <= epoch && c.next_trial < due) {
                    due = c.next_trial;
                    *dir = d;
                    *cls = i;
                    found = true;
                }
            }
        }
        return found;
    }

    /* Judges the trial of the current class (and its partner, if the
     * trial took the pair): 'base' and 'tried' are the thread's costs per
     * copy (1/16 cycle) on the usual and the other way. */
    void
    judge(uint64_t base, uint64_t tried)
    {
        size_class &c = classes[t_dir][t_cls];
        size_class &q = partner();
        int here = c.dma.load(std::memory_order_relaxed) ? path_dma : path_cpu;

        for (size_class *k : {&c, &q}) {
            if (k == &q && !t_pair) {
                break;
            }
            fold(k->est[here], k->windows[here], base);
            fold(k->est[!here], k->windows[!here], tried);
            publish(*k);
            k->trials.store(k->trials.load(std::memory_order_relaxed) + 1,
                            std::memory_order_relaxed);
        }

        if (tried * 16 >= base * 15) {
            /* The usual way holds: try it less often, the other kind of
             * trial (alone or with the pair) next. */
            c.pending = false;
            c.pair_next = !t_pair;
            c.interval = std::min<uint64_t>(c.interval * 2,
                                            VHOST_ASYNC_SIZE_INTERVAL_MAX);
            c.next_trial = epoch + c.interval;
            end_trial();
            return;
        }
        if (!c.pending) {
            /* Cheaper once: confirm with the same kind of trial soon. */
            c.pending = true;
            c.pair_next = t_pair;
            c.next_trial = epoch + 2;
            end_trial();
            return;
        }

        /* Cheaper twice in a row: the classes move, and stay on the way
         * they are on now (they have been there for two epochs). */
        move(t_dir, t_cls, base, tried);
        if (t_pair) {
            move(!t_dir, t_cls, base, tried);
        }
        ph = phase::normal;
    }

    /* An epoch ended at 'now' with a cost ('valid') or without one. */
    void
    end_epoch(uint64_t now, bool valid)
    {
        uint64_t cost = valid ? ep_busy * 16 / ep_copies : 0;

        if (!valid) {
            if (ph == phase::warm || ph == phase::trial) {
                /* No verdict: the class is tried again at its interval. */
                size_class &c = classes[t_dir][t_cls];

                c.next_trial = epoch + c.interval;
                end_trial();
            }
            reset_epoch(now);
            return;
        }
        epoch++;
        if (ph != phase::normal) {
            trial_epochs++;
        }
        switch (ph) {
        case phase::normal:
            base_cost = cost;
            if (pick(&t_dir, &t_cls)) {
                start_trial(class_total());
            }
            break;
        case phase::warm:
            ph = phase::trial;
            break;
        case phase::trial: {
            uint64_t total = class_total();

            if (ep_class[t_dir][t_cls] * 8 >= total && base_cost) {
                judge(base_cost, cost);
            } else {
                /* Too little of the class came to say: later. */
                classes[t_dir][t_cls].next_trial =
                    epoch + VHOST_ASYNC_SIZE_INTERVAL_MIN;
                end_trial();
            }
            break;
        }
        case phase::back:
            ph = phase::normal;
            break;
        }
        shown_epochs.store(epoch, std::memory_order_relaxed);
        shown_trial_epochs.store(trial_epochs, std::memory_order_relaxed);
        reset_epoch(now);
    }

    unsigned int core_id;
    uint64_t epoch_cycles;
    size_class classes[VHOST_ASYNC_SIZE_N_DIRS][VHOST_ASYNC_SIZE_N_CLASSES];

    /* The current iteration and epoch. */
    uint64_t last_tsc = 0;        /* End of the last iteration, 0: none. */
    bool iter_busy = false;       /* The current iteration copied. */
    unsigned int iter_copies = 0; /* Its copies. */
    uint64_t ep_start = 0;
    uint64_t ep_busy = 0;   /* Cycles of the iterations that copied. */
    uint64_t ep_copies = 0; /* Their copies. */
    uint64_t ep_class[VHOST_ASYNC_SIZE_N_DIRS][VHOST_ASYNC_SIZE_N_CLASSES] =
        {};

    /* Trials. */
    phase ph = phase::normal;
    int t_dir = 0;
    unsigned int t_cls = 0;
    bool t_pair = false;    /* The trial took the partner too. */
    uint64_t base_cost = 0; /* Of the last baseline epoch, 1/16 cycle. */
    uint64_t epoch = 0;     /* Epochs with a cost. */
    uint64_t trial_epochs = 0;
    std::atomic<uint64_t> shown_epochs{0};
    std::atomic<uint64_t> shown_trial_epochs{0};
};

namespace {

/* Every thread's policy, for vhost_async_size_format(). */
std::mutex all_mutex;
std::vector<vhost_async_size *> all;

} // namespace

struct vhost_async_size *
vhost_async_size_create(unsigned int core_id, uint64_t tsc_hz) noexcept
{
    auto *p = new vhost_async_size(core_id, tsc_hz);
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
vhost_async_size_use_dma(const struct vhost_async_size *p,
                         enum vhost_async_size_dir dir,
                         unsigned int cls) noexcept
{
    return p->classes[dir][cls].now_dma;
}

void
vhost_async_size_record(struct vhost_async_size *p,
                        enum vhost_async_size_dir dir, unsigned int cls,
                        unsigned int copies) noexcept
{
    p->iter_busy = true;
    p->iter_copies += copies;
    p->ep_class[dir][cls] += copies;
}

void
vhost_async_size_iteration(struct vhost_async_size *p, uint64_t now) noexcept
{
    uint64_t last = p->last_tsc;

    p->last_tsc = now;
    if (!last || now - last > p->epoch_cycles) {
        /* The first iteration, or one that took longer than an epoch (the
         * thread reloaded or slept): what the epoch holds is not a cost. */
        p->iter_busy = false;
        p->iter_copies = 0;
        p->end_epoch(now, false);
        return;
    }
    if (p->iter_busy) {
        p->ep_busy += now - last;
        p->ep_copies += p->iter_copies;
        p->iter_busy = false;
        p->iter_copies = 0;
    }
    uint64_t len = now - p->ep_start;
    if (len >= p->epoch_cycles) {
        if (p->ep_copies >= VHOST_ASYNC_SIZE_EPOCH_COPIES) {
            p->end_epoch(now, true);
        } else if (len >= 16 * p->epoch_cycles) {
            /* Too little traffic to say anything. */
            p->end_epoch(now, false);
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
    info->trials = c.trials.load(std::memory_order_relaxed);
    info->changes = c.changes.load(std::memory_order_relaxed);
}

void
vhost_async_size_epochs(const struct vhost_async_size *p, uint64_t *epochs,
                        uint64_t *trial_epochs) noexcept
{
    *epochs = p->shown_epochs.load(std::memory_order_relaxed);
    *trial_epochs = p->shown_trial_epochs.load(std::memory_order_relaxed);
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
        uint64_t epochs, trial_epochs;

        vhost_async_size_epochs(p, &epochs, &trial_epochs);
        ds_put_format(ds,
                      "pmd thread core %u: %" PRIu64 " epochs, %" PRIu64
                      " of them in trials\n",
                      p->core_id, epochs, trial_epochs);
        for (int d = 0; d < VHOST_ASYNC_SIZE_N_DIRS; d++) {
            auto dir = static_cast<vhost_async_size_dir>(d);
            uint32_t t = vhost_async_size_threshold(p, dir);

            ds_put_format(ds, "  %s: ", dir_name(d));
            if (t == UINT32_MAX) {
                ds_put_cstr(ds, "every copy by the CPU\n");
            } else {
                ds_put_format(ds, "copies from %" PRIu32 " bytes by DMA\n", t);
            }
            ds_put_format(ds, "    %-13s %-4s %10s %10s %7s %7s\n",
                          "copy bytes", "way", "cpu cyc", "dma cyc", "trials",
                          "changes");
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
                ds_put_format(
                    ds, "    %-13s %-4s %10s %10s %7" PRIu64 " %7" PRIu64 "\n",
                    range, info.dma ? "dma" : "cpu", cpu, dma, info.trials,
                    info.changes);
            }
        }
    }
}
