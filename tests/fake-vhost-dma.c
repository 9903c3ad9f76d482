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

/* A fake of DPDK's vhost async API and dmadev: see fake-vhost-dma.h. */

#include <config.h>

/* The fake defines DPDK's experimental functions. */
#define ALLOW_EXPERIMENTAL_API 1

#include "fake-vhost-dma.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>

#include <rte_dmadev.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>
#include <rte_vhost_async.h>

#include "openvswitch/dynamic-string.h"
#include "ovs-thread.h"
#include "util.h"

/* vhost reaps at most this many completions of a device per call. */
#define FAKE_MAX_REAP 128
#define FAKE_DMA_RING 1024
#define FAKE_MAX_MBUFS 65536

/* The fake's lock of its own state.  The locks that the fake emulates
 * (vhost's vring and DMA locks) are 'struct fake_lock's under it. */
static struct ovs_mutex fake_mutex = OVS_MUTEX_INITIALIZER;
static pthread_cond_t fake_cond = PTHREAD_COND_INITIALIZER;

static __thread char thread_name[32] = "main";

struct fake_lock {
    bool held;
    char owner[32];
};

/* One copy in flight on a vring, in submission order. */
struct fake_entry {
    struct rte_mbuf *mbuf;
    bool flag;                  /* The copy is reaped: vhost may return it. */
};

struct fake_vq {
    struct fake_lock lock;
    bool enabled;
    bool unmapped;              /* Not vhost's vq->access_ok. */
    bool async;
    uint64_t async_epoch;       /* Changes when the async state is freed. */
    struct fake_entry ring[FAKE_VQ_SIZE];
    int head;                   /* First in flight. */
    int n;                      /* In flight. */

    /* Receive vrings (even): what the guest got, in order. */
    uint32_t *rx_seqs;
    int n_rx;
    int lost;

    /* Transmit vrings (odd): the frames the guest queued. */
    uint32_t tx_next;           /* Number of the next frame to queue. */
    uint32_t tx_first;          /* Number of the first frame queued. */
    int tx_queued;
    uint32_t tx_len;
};

struct fake_vid {
    bool exists;
    struct rte_vhost_user_extern_ops extern_ops;
    bool unmapped;
    int n_vrings;
    struct fake_vq vqs[FAKE_MAX_VRINGS];
};

struct fake_copy {
    int vid;
    int vq;
    int slot;                   /* In the vring's ring. */
    uint64_t async_epoch;
    bool hw_done;
};

struct fake_dev {
    bool exists;
    char name[32];
    int numa;
    bool vhost_configured;
    bool fail_stats;
    bool instant;               /* Copies are done as they are submitted. */
    bool count_at_reap;         /* 'completed' counts reaped copies. */
    struct fake_lock lock;
    struct fake_copy ring[FAKE_DMA_RING];
    int head;                   /* Oldest not reaped. */
    int n;                      /* Not reaped. */
    int n_done;                 /* Of those, done by the hardware. */
    uint64_t submitted;
    uint64_t completed;         /* Done by the hardware, or reaped. */
};

static struct fake_dev devs[FAKE_MAX_DEVS];
static struct fake_vid vids[FAKE_MAX_VIDS];

/* mbufs: never given back to the heap, so that a double free is seen. */
static struct rte_mbuf *mbufs[FAKE_MAX_MBUFS];
static int n_mbufs;
static int n_mbufs_in_use;
#define FAKE_MBUF_LIVE 0xf0f0
#define FAKE_MBUF_FREED 0xdead

static struct ds violations = DS_EMPTY_INITIALIZER;
static int n_violations;

static unsigned long calls[FAKE_N_CALLS];

static bool callback_running;
static bool unregistering;

static struct {
    bool armed;
    bool hit;
    enum fake_point point;
    char thread[32];
} trap;

static void OVS_PRINTF_FORMAT(1, 2)
violation(const char *format, ...)
    OVS_REQUIRES(fake_mutex)
{
    va_list args;

    ds_put_format(&violations, "%s: ", thread_name);
    va_start(args, format);
    ds_put_format_valist(&violations, format, args);
    va_end(args);
    ds_put_char(&violations, '\n');
    n_violations++;
}

static void
fake_lock_acquire(struct fake_lock *l)
    OVS_REQUIRES(fake_mutex)
{
    while (l->held) {
        ovs_mutex_cond_wait(&fake_cond, &fake_mutex);
    }
    l->held = true;
    ovs_strlcpy(l->owner, thread_name, sizeof l->owner);
}

static bool
fake_lock_try(struct fake_lock *l)
    OVS_REQUIRES(fake_mutex)
{
    if (l->held) {
        return false;
    }
    l->held = true;
    ovs_strlcpy(l->owner, thread_name, sizeof l->owner);
    return true;
}

static void
fake_lock_release(struct fake_lock *l)
    OVS_REQUIRES(fake_mutex)
{
    ovs_assert(l->held);
    l->held = false;
    l->owner[0] = '\0';
    pthread_cond_broadcast(&fake_cond);
}

/* Stops the calling thread here if a trap for 'point' is armed for it. */
static void
trap_check(enum fake_point point)
    OVS_REQUIRES(fake_mutex)
{
    if (trap.armed && !trap.hit && trap.point == point
        && !strcmp(trap.thread, thread_name)) {
        trap.hit = true;
        pthread_cond_broadcast(&fake_cond);
        while (trap.armed) {
            ovs_mutex_cond_wait(&fake_cond, &fake_mutex);
        }
    }
}

static struct fake_vq *
get_vq(int vid, uint16_t qid)
    OVS_REQUIRES(fake_mutex)
{
    if (vid < 0 || vid >= FAKE_MAX_VIDS || !vids[vid].exists
        || qid >= vids[vid].n_vrings) {
        return NULL;
    }
    return &vids[vid].vqs[qid];
}

static struct fake_dev *
get_dev(int16_t dma_id)
    OVS_REQUIRES(fake_mutex)
{
    if (dma_id < 0 || dma_id >= FAKE_MAX_DEVS || !devs[dma_id].exists) {
        return NULL;
    }
    return &devs[dma_id];
}

static struct fake_entry *
vq_entry(struct fake_vq *vq, int i)
{
    return &vq->ring[(vq->head + i) % FAKE_VQ_SIZE];
}

/* vhost's check of a device's completions: sets the flags of at most
 * FAKE_MAX_REAP copies that the hardware finished. */
static void
dev_reap(struct fake_dev *dev)
    OVS_REQUIRES(fake_mutex)
{
    fake_lock_acquire(&dev->lock);
    for (int i = 0; i < FAKE_MAX_REAP && dev->n_done; i++) {
        struct fake_copy *c = &dev->ring[dev->head];
        struct fake_vq *vq = get_vq(c->vid, c->vq);

        if (!vq || !vq->async || vq->async_epoch != c->async_epoch) {
            violation("DMA device %s wrote a completion into the freed "
                      "async state of vid %d vring %d", dev->name, c->vid,
                      c->vq);
        } else {
            vq->ring[c->slot].flag = true;
        }
        dev->head = (dev->head + 1) % FAKE_DMA_RING;
        dev->n--;
        dev->n_done--;
        if (dev->count_at_reap) {
            dev->completed++;
        }
    }
    fake_lock_release(&dev->lock);
}

static int
dev_space(const struct fake_dev *dev)
{
    return FAKE_DMA_RING - dev->n;
}

/* Hands the copy of 'vq''s entry 'slot' to 'dev'. */
static void
dev_submit(struct fake_dev *dev, int vid, int qid, struct fake_vq *vq,
           int slot)
    OVS_REQUIRES(fake_mutex)
{
    struct fake_copy *c = &dev->ring[(dev->head + dev->n) % FAKE_DMA_RING];

    c->vid = vid;
    c->vq = qid;
    c->slot = slot;
    c->async_epoch = vq->async_epoch;
    c->hw_done = false;
    dev->n++;
    dev->submitted++;
    if (dev->instant) {
        c->hw_done = true;
        dev->n_done++;
        dev->completed += !dev->count_at_reap;
    }
}

/* Takes the first 'count' flagged entries of 'vq' at most, into 'pkts'. */
static int
vq_take_flagged(int vid, struct fake_vq *vq, int qid, struct rte_mbuf **pkts,
                int count)
    OVS_REQUIRES(fake_mutex)
{
    int n = 0;

    while (n < count && n < vq->n && vq_entry(vq, n)->flag) {
        struct fake_entry *e = vq_entry(vq, n);

        pkts[n++] = e->mbuf;
        e->flag = false;
        e->mbuf = NULL;
    }
    vq->head = (vq->head + n) % FAKE_VQ_SIZE;
    vq->n -= n;
    if (!(qid % 2)) {
        /* Copies to the guest: vhost writes the used ring, unless the vring
         * is disabled. */
        for (int i = 0; i < n; i++) {
            if (vq->enabled) {
                vq->rx_seqs[vq->n_rx++] = fake_mbuf_seq(pkts[i]);
            } else {
                vq->lost++;
            }
        }
    }
    (void) vid;
    return n;
}

static struct rte_mbuf *
mbuf_new__(uint32_t seq, uint32_t len)
    OVS_REQUIRES(fake_mutex)
{
    struct rte_mbuf *m;

    ovs_assert(n_mbufs < FAKE_MAX_MBUFS);
    m = xzalloc(sizeof *m);
    m->pkt_len = len;
    m->data_len = len;
    m->nb_segs = 1;
    m->hash.rss = seq;
    m->buf_len = FAKE_MBUF_LIVE;
    mbufs[n_mbufs++] = m;
    n_mbufs_in_use++;
    return m;
}

/* The fake's own interface. */

void
fake_reset(void)
{
    ovs_mutex_lock(&fake_mutex);
    for (int i = 0; i < FAKE_MAX_VIDS; i++) {
        for (int q = 0; q < FAKE_MAX_VRINGS; q++) {
            free(vids[i].vqs[q].rx_seqs);
        }
    }
    memset(devs, 0, sizeof devs);
    memset(vids, 0, sizeof vids);
    for (int i = 0; i < n_mbufs; i++) {
        free(mbufs[i]);
    }
    n_mbufs = n_mbufs_in_use = 0;
    ds_clear(&violations);
    n_violations = 0;
    memset(calls, 0, sizeof calls);
    memset(&trap, 0, sizeof trap);
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_set_thread_name(const char *name)
{
    ovs_strlcpy(thread_name, name, sizeof thread_name);
}

int
fake_dma_add(const char *name, int numa)
{
    ovs_mutex_lock(&fake_mutex);
    for (int i = 0; i < FAKE_MAX_DEVS; i++) {
        if (!devs[i].exists) {
            devs[i].exists = true;
            ovs_strlcpy(devs[i].name, name, sizeof devs[i].name);
            devs[i].numa = numa;
            ovs_mutex_unlock(&fake_mutex);
            return i;
        }
    }
    OVS_NOT_REACHED();
}

void
fake_dma_complete(int dev_id, int n)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_dev *dev = get_dev(dev_id);

    ovs_assert(dev);
    if (n < 0) {
        n = dev->n;
    }
    for (int i = 0; i < n && dev->n_done < dev->n; i++) {
        struct fake_copy *c =
            &dev->ring[(dev->head + dev->n_done) % FAKE_DMA_RING];

        if (c->vid >= 0 && c->vid < FAKE_MAX_VIDS && vids[c->vid].unmapped) {
            violation("DMA device %s completed a copy of vid %d vring %d "
                      "after the guest's memory was unmapped", dev->name,
                      c->vid, c->vq);
        }
        c->hw_done = true;
        dev->n_done++;
        dev->completed += !dev->count_at_reap;
    }
    ovs_mutex_unlock(&fake_mutex);
}

int
fake_dma_pending(int dev_id)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_dev *dev = get_dev(dev_id);
    int n = dev ? dev->n - dev->n_done : 0;
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

int
fake_dma_unreaped(int dev_id)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_dev *dev = get_dev(dev_id);
    int n = dev ? dev->n_done : 0;
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

void
fake_dma_fail_stats(int dev_id, bool fail)
{
    ovs_mutex_lock(&fake_mutex);
    devs[dev_id].fail_stats = fail;
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_dma_count_at_reap(int dev_id, bool at_reap)
{
    ovs_mutex_lock(&fake_mutex);
    devs[dev_id].count_at_reap = at_reap;
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_vhost_set_mapped(int vid, int vring, bool mapped)
{
    ovs_mutex_lock(&fake_mutex);
    vids[vid].vqs[vring].unmapped = !mapped;
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_dma_set_instant(int dev_id, bool instant)
{
    ovs_mutex_lock(&fake_mutex);
    devs[dev_id].instant = instant;
    ovs_mutex_unlock(&fake_mutex);
}

int
fake_vhost_attach(int n_vrings)
{
    ovs_assert(n_vrings <= FAKE_MAX_VRINGS);
    ovs_mutex_lock(&fake_mutex);
    for (int vid = 0; vid < FAKE_MAX_VIDS; vid++) {
        struct fake_vid *v = &vids[vid];

        if (!v->exists) {
            for (int q = 0; q < FAKE_MAX_VRINGS; q++) {
                free(v->vqs[q].rx_seqs);
            }
            memset(v, 0, sizeof *v);
            v->exists = true;
            v->n_vrings = n_vrings;
            for (int q = 0; q < n_vrings; q++) {
                v->vqs[q].enabled = true;
                v->vqs[q].rx_seqs = xcalloc(FAKE_MAX_MBUFS,
                                            sizeof *v->vqs[q].rx_seqs);
                v->vqs[q].tx_next = v->vqs[q].tx_first = 1;
            }
            ovs_mutex_unlock(&fake_mutex);
            return vid;
        }
    }
    OVS_NOT_REACHED();
}

void
fake_vhost_add_vrings(int vid, int n)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_vid *v = &vids[vid];

    ovs_assert(v->n_vrings + n <= FAKE_MAX_VRINGS);
    for (int q = v->n_vrings; q < v->n_vrings + n; q++) {
        v->vqs[q].enabled = true;
        v->vqs[q].rx_seqs = xcalloc(FAKE_MAX_MBUFS, sizeof *v->vqs[q].rx_seqs);
        v->vqs[q].tx_next = v->vqs[q].tx_first = 1;
    }
    v->n_vrings += n;
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_vhost_close(int vid)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_vid *v = &vids[vid];

    /* vhost frees each vring's async state, whatever is in flight. */
    for (int q = 0; q < v->n_vrings; q++) {
        struct fake_vq *vq = &v->vqs[q];

        if (vq->async && vq->n) {
            violation("vhost freed vid %d vring %d with %d copies in flight",
                      vid, q, vq->n);
        }
        vq->async = false;
        vq->async_epoch++;
    }
    v->exists = false;
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_vhost_set_enabled(int vid, int vring, bool enabled)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_vq *vq = &vids[vid].vqs[vring];

    if (enabled && vq->async && vq->n) {
        /* SET_VRING_ENABLE fails: "Inflight packets must be completed
         * first". */
        violation("vhost refused to enable vid %d vring %d with %d copies "
                  "in flight", vid, vring, vq->n);
    } else {
        vq->enabled = enabled;
    }
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_vhost_pre_message_enable(int vid, int vring, bool enable)
{
    /* The message as the vhost-user protocol lays it out: request, flags,
     * size, then the vring state (index, num). */
    uint32_t msg[5] = {18 /* VHOST_USER_SET_VRING_ENABLE */, 0, 8,
                       (uint32_t) vring, enable};
    rte_vhost_msg_handle handle;

    ovs_mutex_lock(&fake_mutex);
    handle = vids[vid].extern_ops.pre_msg_handle;
    ovs_mutex_unlock(&fake_mutex);
    if (handle) {
        handle(vid, msg);
    }
}

void
fake_vhost_lock_all(int vid)
{
    ovs_mutex_lock(&fake_mutex);
    for (int q = 0; q < vids[vid].n_vrings; q++) {
        fake_lock_acquire(&vids[vid].vqs[q].lock);
    }
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_vhost_unlock_all(int vid)
{
    ovs_mutex_lock(&fake_mutex);
    for (int q = 0; q < vids[vid].n_vrings; q++) {
        fake_lock_release(&vids[vid].vqs[q].lock);
    }
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_vhost_unmap_memory(int vid)
{
    ovs_mutex_lock(&fake_mutex);
    for (int i = 0; i < FAKE_MAX_DEVS; i++) {
        struct fake_dev *dev = &devs[i];

        for (int k = dev->n_done; k < dev->n; k++) {
            struct fake_copy *c = &dev->ring[(dev->head + k)
                                             % FAKE_DMA_RING];
            if (c->vid == vid) {
                violation("vhost unmapped the memory of vid %d while DMA "
                          "device %s still copied for vring %d", vid,
                          dev->name, c->vq);
            }
        }
    }
    vids[vid].unmapped = true;
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_vhost_map_memory(int vid)
{
    ovs_mutex_lock(&fake_mutex);
    vids[vid].unmapped = false;
    ovs_mutex_unlock(&fake_mutex);
}

int
fake_vhost_inflight(int vid, int vring)
{
    ovs_mutex_lock(&fake_mutex);
    int n = vids[vid].vqs[vring].n;
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

bool
fake_vhost_async_registered(int vid, int vring)
{
    ovs_mutex_lock(&fake_mutex);
    bool async = vids[vid].vqs[vring].async;
    ovs_mutex_unlock(&fake_mutex);
    return async;
}

void
fake_vhost_callback_begin(void)
{
    ovs_mutex_lock(&fake_mutex);
    callback_running = true;
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_vhost_callback_end(void)
{
    ovs_mutex_lock(&fake_mutex);
    callback_running = false;
    pthread_cond_broadcast(&fake_cond);
    ovs_mutex_unlock(&fake_mutex);
}

bool
fake_vhost_unregistering(void)
{
    ovs_mutex_lock(&fake_mutex);
    bool waiting = unregistering;
    ovs_mutex_unlock(&fake_mutex);
    return waiting;
}

void
fake_guest_send(int vid, int vring, int n, int len)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_vq *vq = &vids[vid].vqs[vring];

    ovs_assert(vring % 2);
    vq->tx_next += n;
    vq->tx_queued += n;
    vq->tx_len = len;
    ovs_mutex_unlock(&fake_mutex);
}

int
fake_guest_received(int vid, int vring, uint32_t *seqs, int max, int *lost)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_vq *vq = &vids[vid].vqs[vring];
    int n = MIN(max, vq->n_rx);

    if (seqs) {
        memcpy(seqs, vq->rx_seqs, n * sizeof *seqs);
    }
    if (lost) {
        *lost = vq->lost;
    }
    n = vq->n_rx;
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

struct rte_mbuf *
fake_mbuf_new(uint32_t seq, uint32_t len)
{
    ovs_mutex_lock(&fake_mutex);
    struct rte_mbuf *m = mbuf_new__(seq, len);
    ovs_mutex_unlock(&fake_mutex);
    return m;
}

uint32_t
fake_mbuf_seq(const struct rte_mbuf *m)
{
    return m->hash.rss;
}

int
fake_mbufs_in_use(void)
{
    ovs_mutex_lock(&fake_mutex);
    int n = n_mbufs_in_use;
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

static void
mbuf_free__(struct rte_mbuf **pkts, int n)
    OVS_REQUIRES(fake_mutex)
{
    for (int i = 0; i < n; i++) {
        if (pkts[i]->buf_len != FAKE_MBUF_LIVE) {
            violation("mbuf %"PRIu32" freed twice", fake_mbuf_seq(pkts[i]));
            continue;
        }
        pkts[i]->buf_len = FAKE_MBUF_FREED;
        n_mbufs_in_use--;
    }
}

void
fake_mbuf_free(struct rte_mbuf **pkts, int n)
{
    ovs_mutex_lock(&fake_mutex);
    mbuf_free__(pkts, n);
    ovs_mutex_unlock(&fake_mutex);
}

int
fake_violations(struct ds *ds)
{
    ovs_mutex_lock(&fake_mutex);
    int n = n_violations;
    if (ds) {
        ds_put_cstr(ds, ds_cstr(&violations));
    }
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

unsigned long
fake_calls(enum fake_call call)
{
    ovs_mutex_lock(&fake_mutex);
    unsigned long n = calls[call];
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

void
fake_trap_arm(enum fake_point point, const char *thread)
{
    ovs_mutex_lock(&fake_mutex);
    trap.armed = true;
    trap.hit = false;
    trap.point = point;
    ovs_strlcpy(trap.thread, thread, sizeof trap.thread);
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_trap_wait(void)
{
    ovs_mutex_lock(&fake_mutex);
    while (!trap.hit) {
        ovs_mutex_cond_wait(&fake_cond, &fake_mutex);
    }
    ovs_mutex_unlock(&fake_mutex);
}

void
fake_trap_release(void)
{
    ovs_mutex_lock(&fake_mutex);
    trap.armed = false;
    pthread_cond_broadcast(&fake_cond);
    ovs_mutex_unlock(&fake_mutex);
}

/* DPDK's mbuf library. */

void
rte_pktmbuf_free_bulk(struct rte_mbuf **pkts, unsigned int n)
{
    ovs_mutex_lock(&fake_mutex);
    trap_check(FAKE_AT_FREE);
    mbuf_free__(pkts, n);
    ovs_mutex_unlock(&fake_mutex);
}

/* DPDK's dmadev. */

int16_t
rte_dma_next_dev(int16_t start)
{
    int16_t id = -1;

    ovs_mutex_lock(&fake_mutex);
    for (int i = MAX(start, 0); i < FAKE_MAX_DEVS; i++) {
        if (devs[i].exists) {
            id = i;
            break;
        }
    }
    ovs_mutex_unlock(&fake_mutex);
    return id;
}

int
rte_dma_info_get(int16_t dev_id, struct rte_dma_info *info)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_dev *dev = get_dev(dev_id);

    if (!dev) {
        ovs_mutex_unlock(&fake_mutex);
        return -EINVAL;
    }
    memset(info, 0, sizeof *info);
    info->dev_name = dev->name;
    info->dev_capa = RTE_DMA_CAPA_MEM_TO_MEM | RTE_DMA_CAPA_OPS_COPY;
    info->max_vchans = 1;
    info->min_desc = 32;
    info->max_desc = 8192;
    info->numa_node = dev->numa;
    ovs_mutex_unlock(&fake_mutex);
    return 0;
}

int
rte_dma_configure(int16_t dev_id OVS_UNUSED,
                  const struct rte_dma_conf *conf OVS_UNUSED)
{
    return 0;
}

int
rte_dma_vchan_setup(int16_t dev_id OVS_UNUSED, uint16_t vchan OVS_UNUSED,
                    const struct rte_dma_vchan_conf *conf OVS_UNUSED)
{
    return 0;
}

int
rte_dma_start(int16_t dev_id OVS_UNUSED)
{
    return 0;
}

int
rte_dma_stop(int16_t dev_id OVS_UNUSED)
{
    return 0;
}

int
rte_dma_stats_get(int16_t dev_id, uint16_t vchan OVS_UNUSED,
                  struct rte_dma_stats *stats)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_dev *dev = get_dev(dev_id);
    int err = 0;

    calls[FAKE_CALL_STATS]++;
    if (!dev || dev->fail_stats) {
        err = -EIO;
    } else {
        memset(stats, 0, sizeof *stats);
        stats->submitted = dev->submitted;
        stats->completed = dev->completed;
    }
    ovs_mutex_unlock(&fake_mutex);
    return err;
}

/* DPDK's vhost library. */

int
rte_vhost_driver_unregister(const char *path OVS_UNUSED)
{
    /* DPDK waits, without a timeout, for the socket's callback to end
     * (fdset_try_del()). */
    ovs_mutex_lock(&fake_mutex);
    unregistering = true;
    while (callback_running) {
        ovs_mutex_cond_wait(&fake_cond, &fake_mutex);
    }
    unregistering = false;
    ovs_mutex_unlock(&fake_mutex);
    return 0;
}

int
rte_vhost_extern_callback_register(
    int vid, struct rte_vhost_user_extern_ops const *const ops,
    void *ctx OVS_UNUSED)
{
    ovs_mutex_lock(&fake_mutex);
    int ret = -1;

    if (vid >= 0 && vid < FAKE_MAX_VIDS && vids[vid].exists && ops) {
        vids[vid].extern_ops = *ops;
        ret = 0;
    }
    ovs_mutex_unlock(&fake_mutex);
    return ret;
}

uint16_t
rte_vhost_get_vring_num(int vid)
{
    ovs_mutex_lock(&fake_mutex);
    uint16_t n = vid >= 0 && vid < FAKE_MAX_VIDS && vids[vid].exists
                 ? vids[vid].n_vrings : 0;
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

int
rte_vhost_get_vhost_vring(int vid, uint16_t vring_idx,
                          struct rte_vhost_vring *vring)
{
    /* Stand-ins for the guest's rings: only whether they are set matters. */
    static struct vring_desc desc;
    static struct vring_avail avail;
    static struct vring_used used;

    ovs_mutex_lock(&fake_mutex);
    struct fake_vq *vq = get_vq(vid, vring_idx);

    if (vq) {
        memset(vring, 0, sizeof *vring);
        if (!vq->unmapped) {
            vring->desc = &desc;
            vring->avail = &avail;
            vring->used = &used;
        }
        vring->size = FAKE_VQ_SIZE;
    }
    ovs_mutex_unlock(&fake_mutex);
    return vq ? 0 : -1;
}

int
rte_vhost_async_dma_configure(int16_t dma_id, uint16_t vchan_id OVS_UNUSED)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_dev *dev = get_dev(dma_id);

    if (dev) {
        dev->vhost_configured = true;
    }
    ovs_mutex_unlock(&fake_mutex);
    return dev ? 0 : -1;
}

static int
channel_register(int vid, uint16_t qid, bool locked)
    OVS_REQUIRES(fake_mutex)
{
    struct fake_vq *vq = get_vq(vid, qid);

    if (!vq) {
        return -1;
    }
    if (locked && !vq->lock.held) {
        violation("register_thread_unsafe() without the lock of vring %d",
                  qid);
        return -1;
    }
    if (!locked) {
        fake_lock_acquire(&vq->lock);
    }
    /* Only the call that takes the lock checks vq->access_ok. */
    int ret = vq->async || (!locked && vq->unmapped) ? -1 : 0;
    vq->async = !ret || vq->async;
    if (!locked) {
        fake_lock_release(&vq->lock);
    }
    return ret;
}

int
rte_vhost_async_channel_register(int vid, uint16_t queue_id)
{
    ovs_mutex_lock(&fake_mutex);
    int ret = channel_register(vid, queue_id, false);
    ovs_mutex_unlock(&fake_mutex);
    return ret;
}

int
rte_vhost_async_channel_register_thread_unsafe(int vid, uint16_t queue_id)
{
    ovs_mutex_lock(&fake_mutex);
    int ret = channel_register(vid, queue_id, true);
    ovs_mutex_unlock(&fake_mutex);
    return ret;
}

static int
channel_unregister(int vid, uint16_t qid, bool locked)
    OVS_REQUIRES(fake_mutex)
{
    struct fake_vq *vq = get_vq(vid, qid);
    int ret;

    if (!vq) {
        return -1;
    }
    if (locked ? !vq->lock.held : !fake_lock_try(&vq->lock)) {
        return -1;
    }
    if (!locked && vq->unmapped) {
        /* Only the call that takes the lock checks vq->access_ok. */
        ret = -1;
    } else if (!vq->async) {
        ret = 0;
    } else if (vq->n) {
        ret = -1;
    } else {
        vq->async = false;
        vq->async_epoch++;
        ret = 0;
    }
    if (!locked) {
        fake_lock_release(&vq->lock);
    }
    return ret;
}

int
rte_vhost_async_channel_unregister(int vid, uint16_t queue_id)
{
    ovs_mutex_lock(&fake_mutex);
    int ret = channel_unregister(vid, queue_id, false);
    ovs_mutex_unlock(&fake_mutex);
    return ret;
}

int
rte_vhost_async_channel_unregister_thread_unsafe(int vid, uint16_t queue_id)
{
    ovs_mutex_lock(&fake_mutex);
    int ret = channel_unregister(vid, queue_id, true);
    ovs_mutex_unlock(&fake_mutex);
    return ret;
}

uint16_t
rte_vhost_submit_enqueue_burst(int vid, uint16_t queue_id,
                               struct rte_mbuf **pkts, uint16_t count,
                               int16_t dma_id, uint16_t vchan_id OVS_UNUSED)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_vq *vq = get_vq(vid, queue_id);
    struct fake_dev *dev = get_dev(dma_id);
    int n = 0;

    if (!vq || !dev || !dev->vhost_configured || queue_id % 2) {
        ovs_mutex_unlock(&fake_mutex);
        return 0;
    }
    trap_check(FAKE_AT_SUBMIT);
    fake_lock_acquire(&vq->lock);
    if (vq->enabled && vq->async) {
        n = MIN(count, 32);
        n = MIN(n, FAKE_VQ_SIZE - vq->n);
        n = MIN(n, dev_space(dev));
        for (int i = 0; i < n; i++) {
            int slot = (vq->head + vq->n) % FAKE_VQ_SIZE;

            vq->ring[slot].mbuf = pkts[i];
            vq->ring[slot].flag = false;
            vq->n++;
            dev_submit(dev, vid, queue_id, vq, slot);
        }
    }
    fake_lock_release(&vq->lock);
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

uint16_t
rte_vhost_poll_enqueue_completed(int vid, uint16_t queue_id,
                                 struct rte_mbuf **pkts, uint16_t count,
                                 int16_t dma_id, uint16_t vchan_id OVS_UNUSED)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_vq *vq = get_vq(vid, queue_id);
    struct fake_dev *dev = get_dev(dma_id);
    int n = 0;

    calls[FAKE_CALL_POLL]++;
    if (!vq || !dev || !dev->vhost_configured || queue_id % 2
        || !fake_lock_try(&vq->lock)) {
        ovs_mutex_unlock(&fake_mutex);
        return 0;
    }
    if (vq->async) {
        dev_reap(dev);
        n = vq_take_flagged(vid, vq, queue_id, pkts, count);
    }
    fake_lock_release(&vq->lock);
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

static uint16_t
clear_queue(int vid, uint16_t queue_id, struct rte_mbuf **pkts,
            uint16_t count, int16_t dma_id, bool locked)
    OVS_REQUIRES(fake_mutex)
{
    struct fake_vq *vq = get_vq(vid, queue_id);
    struct fake_dev *dev = get_dev(dma_id);
    int n = 0;

    calls[FAKE_CALL_CLEAR]++;
    if (!vq || !dev || !dev->vhost_configured) {
        return 0;
    }
    if (locked && !vq->lock.held) {
        /* What vhost returns then. */
        violation("clear_queue_thread_unsafe() without the lock of vring "
                  "%d", queue_id);
        return (uint16_t) -1;
    }
    if (!locked && !fake_lock_try(&vq->lock)) {
        return 0;
    }
    if (vq->async) {
        dev_reap(dev);
        n = vq_take_flagged(vid, vq, queue_id, pkts, count);
    }
    if (!locked) {
        fake_lock_release(&vq->lock);
    }
    return n;
}

uint16_t
rte_vhost_clear_queue_thread_unsafe(int vid, uint16_t queue_id,
                                    struct rte_mbuf **pkts, uint16_t count,
                                    int16_t dma_id,
                                    uint16_t vchan_id OVS_UNUSED)
{
    ovs_mutex_lock(&fake_mutex);
    uint16_t n = clear_queue(vid, queue_id, pkts, count, dma_id, true);
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

uint16_t
rte_vhost_clear_queue(int vid, uint16_t queue_id, struct rte_mbuf **pkts,
                      uint16_t count, int16_t dma_id,
                      uint16_t vchan_id OVS_UNUSED)
{
    ovs_mutex_lock(&fake_mutex);
    uint16_t n = clear_queue(vid, queue_id, pkts, count, dma_id, false);
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

static int
get_inflight(int vid, uint16_t queue_id, bool locked)
    OVS_REQUIRES(fake_mutex)
{
    struct fake_vq *vq = get_vq(vid, queue_id);
    int ret = -1;

    calls[FAKE_CALL_INFLIGHT]++;
    if (!vq) {
        return -1;
    }
    if (locked ? !vq->lock.held : !fake_lock_try(&vq->lock)) {
        return -1;
    }
    /* Only the call that takes the lock checks vq->access_ok. */
    if (vq->async && (locked || !vq->unmapped)) {
        ret = vq->n;
    }
    if (!locked) {
        fake_lock_release(&vq->lock);
    }
    return ret;
}

int
rte_vhost_async_get_inflight(int vid, uint16_t queue_id)
{
    ovs_mutex_lock(&fake_mutex);
    int ret = get_inflight(vid, queue_id, false);
    ovs_mutex_unlock(&fake_mutex);
    return ret;
}

int
rte_vhost_async_get_inflight_thread_unsafe(int vid, uint16_t queue_id)
{
    ovs_mutex_lock(&fake_mutex);
    int ret = get_inflight(vid, queue_id, true);
    ovs_mutex_unlock(&fake_mutex);
    return ret;
}

uint16_t
rte_vhost_async_try_dequeue_burst(int vid, uint16_t queue_id,
                                  struct rte_mempool *mp OVS_UNUSED,
                                  struct rte_mbuf **pkts, uint16_t count,
                                  int *nr_inflight, int16_t dma_id,
                                  uint16_t vchan_id OVS_UNUSED)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_vq *vq = get_vq(vid, queue_id);
    struct fake_dev *dev = get_dev(dma_id);
    int n = 0;

    *nr_inflight = -1;
    if (!vq || !dev || !dev->vhost_configured || !(queue_id % 2)) {
        ovs_mutex_unlock(&fake_mutex);
        return 0;
    }
    trap_check(FAKE_AT_DEQUEUE);
    if (!fake_lock_try(&vq->lock)) {
        ovs_mutex_unlock(&fake_mutex);
        return 0;
    }
    if (vq->enabled && vq->async) {
        int n_new = MIN(MIN(count, 32), vq->tx_queued);

        n_new = MIN(n_new, FAKE_VQ_SIZE - vq->n);
        n_new = MIN(n_new, dev_space(dev));
        for (int i = 0; i < n_new; i++) {
            int slot = (vq->head + vq->n) % FAKE_VQ_SIZE;

            vq->ring[slot].mbuf = mbuf_new__(vq->tx_first++, vq->tx_len);
            vq->ring[slot].flag = false;
            vq->n++;
            vq->tx_queued--;
            dev_submit(dev, vid, queue_id, vq, slot);
        }
        dev_reap(dev);
        n = vq_take_flagged(vid, vq, queue_id, pkts, count);
        *nr_inflight = vq->n;
    }
    fake_lock_release(&vq->lock);
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

uint16_t
rte_vhost_enqueue_burst(int vid, uint16_t queue_id, struct rte_mbuf **pkts,
                        uint16_t count)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_vq *vq = get_vq(vid, queue_id);
    int n = 0;

    if (!vq || queue_id % 2) {
        ovs_mutex_unlock(&fake_mutex);
        return 0;
    }
    fake_lock_acquire(&vq->lock);
    if (vq->enabled) {
        if (vq->async && vq->n) {
            violation("CPU copy of %d packets to vid %d vring %d overtook "
                      "%d DMA copies in flight", count, vid, queue_id,
                      vq->n);
        }
        n = MIN(count, 32);
        for (int i = 0; i < n; i++) {
            vq->rx_seqs[vq->n_rx++] = fake_mbuf_seq(pkts[i]);
        }
    }
    fake_lock_release(&vq->lock);
    ovs_mutex_unlock(&fake_mutex);
    return n;
}

uint16_t
rte_vhost_dequeue_burst(int vid, uint16_t queue_id,
                        struct rte_mempool *mp OVS_UNUSED,
                        struct rte_mbuf **pkts, uint16_t count)
{
    ovs_mutex_lock(&fake_mutex);
    struct fake_vq *vq = get_vq(vid, queue_id);
    int n = 0;

    if (!vq || !(queue_id % 2)) {
        ovs_mutex_unlock(&fake_mutex);
        return 0;
    }
    trap_check(FAKE_AT_DEQUEUE);
    if (!fake_lock_try(&vq->lock)) {
        ovs_mutex_unlock(&fake_mutex);
        return 0;
    }
    if (vq->enabled) {
        if (vq->async && vq->n) {
            violation("CPU copy from vid %d vring %d overtook %d DMA copies "
                      "in flight", vid, queue_id, vq->n);
        }
        n = MIN(MIN(count, 32), vq->tx_queued);
        for (int i = 0; i < n; i++) {
            pkts[i] = mbuf_new__(vq->tx_first++, vq->tx_len);
            vq->tx_queued--;
        }
    }
    fake_lock_release(&vq->lock);
    ovs_mutex_unlock(&fake_mutex);
    return n;
}
