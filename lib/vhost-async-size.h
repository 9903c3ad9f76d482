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
 * "under 128 bytes" to "16 KiB and more"), it decides whether the class's
 * copies go to the device or to the CPU, by what each way costs the whole
 * thread: not only the call that copies or submits, but the reaping of
 * completions, the polls that find nothing while the device works, and the
 * smaller batches of a slower engine.  The cost is what the target of the
 * option is: the thread's busy cycles per copy.
 *
 *   - Epochs.  The thread says when each of its iterations ends
 *     (vhost_async_size_iteration()), and the data path says what it
 *     copied in it (vhost_async_size_record()).  The cycles of iterations
 *     that copied something are the thread's busy cycles; an epoch gathers
 *     them for VHOST_ASYNC_SIZE_EPOCH_MS (longer if it holds fewer than
 *     VHOST_ASYNC_SIZE_EPOCH_COPIES copies) and gives a cost: busy cycles
 *     per copy.  An iteration longer than an epoch (a reload, a sleep)
 *     ends the epoch without a cost.
 *
 *   - Trials.  A class that carries at least an eighth of an epoch's copies
 *     is tried on the other way now and then: one epoch to warm up (what is
 *     in flight drains, the other way's code and data come into the cache),
 *     one measured, then one to come back, not measured.  The trial's cost
 *     is compared with the epoch just before it, on the usual way.  Two
 *     trials in a row that find the thread's cost lower by more than a
 *     sixteenth move the class (hysteresis: a class near the break even
 *     does not flap, and one with a small share of the copies moves only
 *     if it makes that much of a difference to the thread), logged at INFO
 *     (rate-limited).  One trial at a time per thread.
 *
 *   - Pairs.  Copies of one size often go both ways (a guest that
 *     forwards), and while one direction waits for a slow engine, the
 *     other one moving alone gains nothing.  So a class's trials take, one
 *     time in two, its pair too: the class of the other direction with the
 *     same sizes, if that one carries an eighth of the copies and goes the
 *     same way.  Such a trial moves both.
 *
 *   - Schedule.  A class's trials come every VHOST_ASYNC_SIZE_INTERVAL_MIN
 *     epochs at first; each trial that keeps the class where it is doubles
 *     its interval, up to VHOST_ASYNC_SIZE_INTERVAL_MAX epochs (about 10 s,
 *     2 epochs in 1024 on the other way), and a move starts over: a change
 *     of load or engine is followed within seconds.
 *
 *   - Start.  A class starts on the way that a threshold of
 *     VHOST_ASYNC_SIZE_START bytes gives it.
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

/* With auto, classes of copies from this many bytes start on DMA. */
#define VHOST_ASYNC_SIZE_START 256

/* Epochs and trials (see above). */
#define VHOST_ASYNC_SIZE_EPOCH_MS 10
#define VHOST_ASYNC_SIZE_EPOCH_COPIES 64
#define VHOST_ASYNC_SIZE_INTERVAL_MIN 8
#define VHOST_ASYNC_SIZE_INTERVAL_MAX 1024

struct vhost_async_size;

/* Creates the policy of the PMD thread on core 'core_id', whose cycle
 * counter runs at 'tsc_hz', and lists it for vhost_async_size_format();
 * destroy unlists it. */
struct vhost_async_size *vhost_async_size_create(unsigned int core_id,
                                                 uint64_t tsc_hz)
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
 * nothing in flight), then says what it copied with
 * vhost_async_size_record(). */
bool vhost_async_size_use_dma(const struct vhost_async_size *,
                              enum vhost_async_size_dir, unsigned int cls)
    VHOST_ASYNC_SIZE_NOEXCEPT;

/* Records that the current iteration made 'copies' copies of class 'cls' in
 * 'dir' (to a guest: submitted to the device or copied by the CPU; from a
 * guest: delivered, by the CPU or completed by the device).  'copies' may
 * be 0 for an iteration that worked only on copies that count later (from
 * a guest, submitted to the device): it is busy all the same. */
void vhost_async_size_record(struct vhost_async_size *,
                             enum vhost_async_size_dir, unsigned int cls,
                             unsigned int copies) VHOST_ASYNC_SIZE_NOEXCEPT;

/* Says that an iteration of the thread ended at TSC cycle 'now'. */
void vhost_async_size_iteration(struct vhost_async_size *, uint64_t now)
    VHOST_ASYNC_SIZE_NOEXCEPT;

/* What the policy knows of class 'cls' in 'dir': the thread's busy cycles
 * per copy while the class went by the CPU and by DMA (0: not known yet),
 * from the epochs around its trials. */
struct vhost_async_size_class_info {
    bool dma;          /* The class's current way. */
    uint32_t cpu_cost; /* The thread's cycles per copy, class by the CPU. */
    uint32_t dma_cost; /* ...class by DMA. */
    uint64_t trials;   /* Trials with a verdict. */
    uint64_t changes;  /* Times the class changed way. */
};
void vhost_async_size_get(const struct vhost_async_size *,
                          enum vhost_async_size_dir, unsigned int cls,
                          struct vhost_async_size_class_info *)
    VHOST_ASYNC_SIZE_NOEXCEPT;

/* Epochs that gave a cost, and epochs spent on trials (warming up,
 * measured, coming back), for tests and vhost-async/show. */
void vhost_async_size_epochs(const struct vhost_async_size *,
                             uint64_t *epochs, uint64_t *trial_epochs)
    VHOST_ASYNC_SIZE_NOEXCEPT;

/* The smallest copy size from which every class in 'dir' goes to DMA, or
 * UINT32_MAX if the largest class does not. */
uint32_t vhost_async_size_threshold(const struct vhost_async_size *,
                                    enum vhost_async_size_dir)
    VHOST_ASYNC_SIZE_NOEXCEPT;

/* Appends to 'ds', for each listed PMD thread, its classes' costs and ways
 * and its thresholds. */
void vhost_async_size_format(struct ds *) VHOST_ASYNC_SIZE_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* vhost-async-size.h */
