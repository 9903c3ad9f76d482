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

#ifndef VHOST_ASYNC_SIZE_H
#define VHOST_ASYNC_SIZE_H 1

/* Which copies pay to go to a DMA device: vhost-async-min-frame-size=auto.
 * ========================================================================
 *
 * A PMD thread with a DMA device keeps one of these.  For each direction
 * (to the guest, from it) and each class of copy size (powers of two, from
 * "under 128 bytes" to "16 KiB and more"), it learns from the thread's own
 * cycle counts what a copy costs the thread by the CPU and by DMA, and
 * tells the data path which of the two to take for a burst:
 *
 *   - Costs.  The data path times each burst it copies (a CPU copy, or a
 *     submission to the device) and says how many copies it made
 *     (vhost_async_size_record()); for copies to the guest, whose
 *     completions the thread reaps apart from the submission, it also says
 *     what its reaping took and how many copies came back
 *     (vhost_async_size_record_completions()), which adds to the cost of
 *     every DMA class of that direction.  A class's cost by a path is a
 *     moving average, over windows of copies, of cycles per copy.
 *
 *   - Choice.  A class starts on the path that the numeric default
 *     (VHOST_ASYNC_MIN_FRAME_SIZE_DEFAULT) would give it.  It moves to the
 *     other path only once both costs are known and the other one is
 *     cheaper by more than an eighth (hysteresis: a class near the break
 *     even does not flap).  Each change is logged at INFO (rate-limited).
 *
 *   - Re-tests.  Every VHOST_ASYNC_SIZE_RETEST_PERIOD bursts of a class,
 *     the next VHOST_ASYNC_SIZE_RETEST_RUN bursts take the other path (the
 *     first VHOST_ASYNC_SIZE_WARMUP of them are not measured: the other
 *     path's code and data are cold), so that a change of load or engine
 *     is followed.  That is under 1 % of the bursts.
 *
 * The data path keeps frames in order as with a numeric threshold: a burst
 * is copied by the CPU only on a vring with no copy in flight, whatever
 * this module says.
 *
 * A multi-segment frame counts as the copies it needs: a burst's class is
 * its bytes divided by its segments.
 *
 * Thread-safety: each object belongs to one PMD thread, which alone calls
 * the functions that take it.  vhost_async_size_format() may be called by
 * any thread: it reads what the owners publish. */

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#define VHOST_ASYNC_SIZE_NOEXCEPT noexcept
#else
#define VHOST_ASYNC_SIZE_NOEXCEPT
#endif

struct ds;

/* Size classes: class 0 is copies under 128 bytes, class i (0 < i < last)
 * copies of 2^(6+i) to 2^(7+i) - 1 bytes, the last one 16 KiB and more. */
#define VHOST_ASYNC_SIZE_N_CLASSES 9
enum vhost_async_size_dir {
    VHOST_ASYNC_SIZE_TX, /* To the guest. */
    VHOST_ASYNC_SIZE_RX, /* From the guest. */
    VHOST_ASYNC_SIZE_N_DIRS
};

/* Re-test schedule, in bursts of a class (see above). */
#define VHOST_ASYNC_SIZE_RETEST_PERIOD 1024
#define VHOST_ASYNC_SIZE_RETEST_RUN 8
#define VHOST_ASYNC_SIZE_WARMUP 2

/* A cost estimate folds in a window of at least this many copies. */
#define VHOST_ASYNC_SIZE_WINDOW 256

struct vhost_async_size;

/* Creates the policy of the PMD thread on core 'core_id' and lists it for
 * vhost_async_size_format(); destroy unlists it. */
struct vhost_async_size *vhost_async_size_create(unsigned int core_id)
    VHOST_ASYNC_SIZE_NOEXCEPT;
void vhost_async_size_destroy(struct vhost_async_size *)
    VHOST_ASYNC_SIZE_NOEXCEPT;

/* The class of copies of 'bytes' bytes each. */
static inline unsigned int
vhost_async_size_class(uint32_t bytes)
{
    if (bytes < 128) {
        return 0;
    }
    unsigned int c = 31 - __builtin_clz(bytes) - 6;
    return c < VHOST_ASYNC_SIZE_N_CLASSES ? c : VHOST_ASYNC_SIZE_N_CLASSES - 1;
}

/* Whether the next burst of class 'cls' in 'dir' should go to the DMA
 * device.  The caller copies it as it can (by the CPU only on a vring with
 * nothing in flight), then says how with vhost_async_size_record(). */
bool vhost_async_size_use_dma(struct vhost_async_size *,
                              enum vhost_async_size_dir, unsigned int cls)
    VHOST_ASYNC_SIZE_NOEXCEPT;

/* Records that a burst of class 'cls' in 'dir' made 'copies' copies, by DMA
 * if 'dma' (the submission) or by the CPU, in 'cycles' TSC cycles. */
void vhost_async_size_record(struct vhost_async_size *,
                             enum vhost_async_size_dir, unsigned int cls,
                             bool dma, uint64_t cycles, unsigned int copies)
    VHOST_ASYNC_SIZE_NOEXCEPT;

/* Records that reaping completions in 'dir' took 'cycles' and took back
 * 'copies' copies. */
void vhost_async_size_record_completions(struct vhost_async_size *,
                                         enum vhost_async_size_dir,
                                         uint64_t cycles, unsigned int copies)
    VHOST_ASYNC_SIZE_NOEXCEPT;

/* What the policy knows of class 'cls' in 'dir', for tests: cycles per copy
 * by the CPU and by DMA (including completions), 0 if not known yet. */
struct vhost_async_size_class_info {
    bool dma;          /* The class's current path. */
    uint32_t cpu_cost; /* Cycles per copy by the CPU. */
    uint32_t dma_cost; /* ...by DMA, with its completion. */
    uint64_t changes;  /* Times the class changed path. */
};
void vhost_async_size_get(const struct vhost_async_size *,
                          enum vhost_async_size_dir, unsigned int cls,
                          struct vhost_async_size_class_info *)
    VHOST_ASYNC_SIZE_NOEXCEPT;

/* The smallest copy size from which every class in 'dir' goes to DMA, or
 * UINT32_MAX if the largest class does not. */
uint32_t vhost_async_size_threshold(const struct vhost_async_size *,
                                    enum vhost_async_size_dir)
    VHOST_ASYNC_SIZE_NOEXCEPT;

/* Appends to 'ds', for each listed PMD thread, its classes' costs and paths
 * and its thresholds. */
void vhost_async_size_format(struct ds *) VHOST_ASYNC_SIZE_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* vhost-async-size.h */
