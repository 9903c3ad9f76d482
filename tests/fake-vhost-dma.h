/*
 * Copyright (c) 2026 The ovs-dma developers.
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

#ifndef FAKE_VHOST_DMA_H
#define FAKE_VHOST_DMA_H 1

/* A fake of DPDK's vhost async API, dmadev and mbuf freeing, for the unit
 * tests of ovs-dma's DMA modules.
 *
 * The fake is a link seam: tests/fake-vhost-dma.c defines the rte_*
 * functions that lib/vhost-async.cc and lib/dpdk-dma.cc call, with the
 * signatures of DPDK's headers, and ovstest links it, so that the real
 * modules in libopenvswitch call the fake instead of DPDK.  Nothing in the
 * modules knows.  Only ovstest has the fake.
 *
 * It keeps what vhost and a DMA device keep, as DPDK 22.11 does:
 *
 *   - Per vring: an access lock (vhost's vq->access_lock; the blocking and
 *     try-lock calls are those of DPDK), whether it is enabled, whether its
 *     memory is mapped (vq->access_ok: without it, the calls that take the
 *     lock do not register or unregister an async channel or say what is
 *     in flight, and rte_vhost_get_vhost_vring() gives no rings), whether
 *     an async channel is registered, and the copies in flight in submission
 *     order, each with its completion flag.  vhost returns a vring's
 *     packets in that order, once the flag of the first one is set,
 *     whichever device copied them.
 *
 *   - Per DMA device: a lock (vhost's dma_lock) and a ring of copies.  The
 *     test completes them ("hardware"), in order, with fake_dma_complete();
 *     a vhost call with that device then reaps at most 128 completions
 *     (VHOST_DMA_MAX_COPY_COMPLETE) and sets their flags.  The device's
 *     counters count a copy completed when the hardware finishes it, as
 *     dma_skeleton's do, or when it is reaped, as idxd's and ioat's do
 *     (fake_dma_count_at_reap()).
 *
 *   - The guest: what it received on each of its receive vrings, in order,
 *     and the frames it queued on each of its transmit vrings.
 *
 * It checks what vhost and the hardware cannot check, and counts each
 * breach as a violation (fake_violations()): a CPU copy while DMA copies are
 * in flight on the same vring (it would overtake them), a completion
 * written into a vring's async state that vhost freed, a copy that
 * completes after the guest's memory was unmapped, an mbuf freed twice, a
 * "_thread_unsafe" call without the vring's lock.
 *
 * Traps let a test stop a thread inside a fake call (fake_trap_arm()), so
 * that it decides in what order threads act.
 *
 * Thread-safety: every function may be called from any thread. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ds;
struct rte_mbuf;

#define FAKE_MAX_DEVS 8
#define FAKE_MAX_VIDS 4
#define FAKE_MAX_VRINGS 8
#define FAKE_VQ_SIZE 256

/* Starts afresh: no device, no guest, no mbuf, no violation. */
void fake_reset(void);

/* Names the calling thread for traps and violations ("pmd-a", ...). */
void fake_set_thread_name(const char *);

/* DMA devices. */
int fake_dma_add(const char *name, int numa);
void fake_dma_complete(int dev_id, int n);      /* n < 0: all. */
int fake_dma_pending(int dev_id);               /* Not yet done by hw. */
int fake_dma_unreaped(int dev_id);              /* Done, not reaped. */
void fake_dma_fail_stats(int dev_id, bool fail);
void fake_dma_set_instant(int dev_id, bool instant); /* Done at submit. */
void fake_dma_count_at_reap(int dev_id, bool at_reap);

/* Guests.  fake_vhost_attach() returns the new guest's vid, whose vrings
 * are all enabled and translated.  Even vrings are the guest's receive
 * queues (OVS sends there), odd ones its transmit queues. */
int fake_vhost_attach(int n_vrings);
void fake_vhost_close(int vid);
/* The guest sets up 'n' more vrings (vhost allocates them as it goes). */
void fake_vhost_add_vrings(int vid, int n);
void fake_vhost_set_enabled(int vid, int vring, bool enabled);
void fake_vhost_set_mapped(int vid, int vring, bool mapped);
/* Hands a SET_VRING_ENABLE message for 'vring' to the pre-message hook
 * registered with rte_vhost_extern_callback_register(), as vhost does before
 * it handles the message. */
void fake_vhost_pre_message_enable(int vid, int vring, bool enable);
void fake_vhost_lock_all(int vid);
void fake_vhost_unlock_all(int vid);
void fake_vhost_unmap_memory(int vid);
void fake_vhost_map_memory(int vid);
int fake_vhost_inflight(int vid, int vring);
bool fake_vhost_async_registered(int vid, int vring);

/* A vhost callback of a socket is in progress between
 * fake_vhost_callback_begin() and fake_vhost_callback_end():
 * rte_vhost_driver_unregister() waits for it to end, as DPDK's does.
 * fake_vhost_unregistering() says whether a thread waits so. */
void fake_vhost_callback_begin(void);
void fake_vhost_callback_end(void);
bool fake_vhost_unregistering(void);

/* Frames: each carries a sequence number.  fake_guest_send() queues 'n'
 * frames of 'len' bytes on transmit vring 'vring', numbered from the
 * vring's next number.  fake_guest_received() copies the numbers of the
 * frames the guest got on receive vring 'vring', in order, and returns
 * their count; 'lost' (if nonnull) is how many vhost completed while the
 * vring was disabled. */
void fake_guest_send(int vid, int vring, int n, int len);
int fake_guest_received(int vid, int vring, uint32_t *seqs, int max,
                        int *lost);

/* mbufs of the OVS side. */
struct rte_mbuf *fake_mbuf_new(uint32_t seq, uint32_t len);
uint32_t fake_mbuf_seq(const struct rte_mbuf *);
int fake_mbufs_in_use(void);
/* Frees what a test got from the data path. */
void fake_mbuf_free(struct rte_mbuf **, int n);

/* Violations: their number, and their description in 'ds'. */
int fake_violations(struct ds *);

/* Calls of each kind, to see that a thread is waiting. */
enum fake_call {
    FAKE_CALL_CLEAR,        /* rte_vhost_clear_queue() and _thread_unsafe. */
    FAKE_CALL_POLL,         /* rte_vhost_poll_enqueue_completed(). */
    FAKE_CALL_STATS,        /* rte_dma_stats_get(). */
    FAKE_CALL_INFLIGHT,     /* rte_vhost_async_get_inflight(), _unsafe. */
    FAKE_N_CALLS
};
unsigned long fake_calls(enum fake_call);

/* Traps.  fake_trap_arm() makes the next thread named 'thread' that
 * reaches 'point' stop there; fake_trap_wait() waits until it has, and
 * fake_trap_release() lets it go on. */
enum fake_point {
    FAKE_AT_FREE,            /* In rte_pktmbuf_free_bulk(). */
    FAKE_AT_DEQUEUE,         /* rte_vhost_async_try_dequeue_burst() or
                              * rte_vhost_dequeue_burst(), before its
                              * try-lock. */
    FAKE_AT_SUBMIT,          /* rte_vhost_submit_enqueue_burst(), before
                              * its lock. */
};
void fake_trap_arm(enum fake_point, const char *thread);
void fake_trap_wait(void);
void fake_trap_release(void);

#endif /* fake-vhost-dma.h */
