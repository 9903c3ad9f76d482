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

/* Asynchronous (DMA) vhost copies: see vhost-async.h for what and why. */

#include <config.h>

#include "vhost-async.h"

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include <rte_dmadev.h>
#include <rte_mbuf.h>
#include <rte_vhost.h>
#include <rte_vhost_async.h>

#include "dpdk-dma.h"
#include "openvswitch/netdev.h"
#include "openvswitch/vlog.h"
#include "timeval.h"
extern "C" {
#include "seq.h" /* No C++ guard of its own. */
}
#include "util.h"

VLOG_DEFINE_THIS_MODULE(vhost_async);

namespace {

/* vhost has at most this many vrings per device (128 queue pairs).  Vrings
 * beyond it, if a future vhost allowed them, would copy with the CPU. */
constexpr int kMaxVrings = 256;

/* Largest burst vhost takes or returns in one call. */
constexpr int kBurst = 32;

/* How long a drain waits for a DMA device to finish the copies it holds.
 * A device completes a copy in microseconds: hitting this means it is stuck,
 * and the copies are left in flight (and logged) rather than freed under
 * the device's feet. */
constexpr long long kDrainTimeoutMs = 1000;

enum Dir { kTx = 0, kRx = 1 }; /* To the guest (enqueue), from it (dequeue). */

Dir
vring_dir(uint16_t vring)
{
    /* Even vrings are the guest's receive queues, where OVS enqueues. */
    return vring % 2 ? kRx : kTx;
}

/* Frames shorter than this are copied with the CPU (0: none are). */
std::atomic<unsigned int> min_frame_size{VHOST_ASYNC_MIN_FRAME_SIZE_DEFAULT};

struct Counters {
    std::atomic<uint64_t> submitted{0};   /* Packets given to a DMA device. */
    std::atomic<uint64_t> completed{0};   /* ...whose copies came back. */
    std::atomic<uint64_t> cpu{0};         /* Copied with the CPU instead. */
    std::atomic<uint64_t> cpu_short{0};   /* ...for being short. */
    std::atomic<uint64_t> order_drops{0}; /* CPU copy would reorder. */
    std::atomic<uint64_t> cleared{0};     /* Freed by a teardown drain. */

    void
    add(std::atomic<uint64_t> &c, uint64_t n)
    {
        c.fetch_add(n, std::memory_order_relaxed);
    }

    void
    reset()
    {
        for (auto *c : {&submitted, &completed, &cpu, &cpu_short, &order_drops,
                        &cleared}) {
            c->store(0, std::memory_order_relaxed);
        }
    }
};

struct Vring {
    /* An async channel is registered on this vring. */
    std::atomic<bool> registered{false};

    /* Ids of the DMA devices that were given copies for this vring since
     * it last had nothing in flight (ids are below 64, vhost's limit). */
    std::atomic<uint64_t> dma_mask{0};

    /* Packets submitted and not yet returned by vhost. */
    std::atomic<int64_t> inflight{0};

    /* Packets from the guest whose copies a PMD thread's drain completed
     * before it reloaded: the next receive call returns them first.  Only
     * the thread that polls the queue touches it (the reload orders the old
     * and the new one). */
    std::vector<rte_mbuf *> stash;

    /* Frames from the guest, for the thread that polls the queue (ordered
     * by the reload like 'stash'): 8 times the moving average of their
     * length in sixteenths of a byte, and whether that average is below
     * min_frame_size. */
    uint64_t rx_avg_state = 0;
    bool rx_short = true;
};

} // namespace

struct vhost_async_port {
    vhost_async_port(const char *name_, struct seq *reconfigure_seq_)
        : name(name_), reconfigure_seq(reconfigure_seq_)
    {}

    ~vhost_async_port()
    {
        for (Vring &vr : vrings) {
            free_stash(vr);
        }
    }

    void
    ref()
    {
        refs.fetch_add(1, std::memory_order_relaxed);
    }

    void
    unref()
    {
        if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete this;
        }
    }

    void
    free_stash(Vring &vr)
    {
        if (!vr.stash.empty()) {
            dir[kRx].add(dir[kRx].cleared, vr.stash.size());
            rte_pktmbuf_free_bulk(vr.stash.data(), vr.stash.size());
            vr.stash.clear();
        }
    }

    /* Whether the settings ask for asynchronous copy on this port. */
    bool
    asks_async() const
    {
        int opt = option.load(std::memory_order_relaxed);

        return opt >= 0 ? opt : dpdk_dma_async_enabled();
    }

    /* Whether the port's socket should be registered for asynchronous copy
     * now, given the settings and the socket's other flags. */
    bool
    wants_async() const
    {
        return asks_async() && !socket_conflicts;
    }

    void
    warn_refused() const
    {
        VLOG_WARN("%s: vhost-async-support is refused: it cannot be used "
                  "together with %s; the port copies with the CPU.",
                  name.c_str(),
                  socket_conflicts & RTE_VHOST_USER_IOMMU_SUPPORT
                      ? "vhost-iommu-support"
                      : "vhost-postcopy-support");
    }

    /* Whether the socket must be registered again for wants_async(). */
    bool
    reregister_needed() const
    {
        return socket_registered &&
               wants_async() != socket_async.load(std::memory_order_relaxed);
    }

    const std::string name;
    std::atomic<int> refs{1};

    /* Changed to ask for netdev_reconfigure() (the netdev's seq). */
    struct seq *const reconfigure_seq;

    /* other_config:vhost-async-support for this port: -1 follows the global
     * setting, 0 or 1 overrides it. */
    std::atomic<int> option{-1};
    std::string bad_option; /* Last invalid value logged (main thread). */

    /* The socket was registered, and for asynchronous copy; it was
     * registered with an option that rules asynchronous copy out.  Written by
     * the main thread while no guest is attached. */
    bool socket_registered = false;
    uint64_t socket_conflicts = 0;
    std::atomic<bool> socket_async{false};

    /* A guest is attached and its vrings have async channels. */
    std::atomic<bool> active{false};
    std::atomic<int> vid{-1};

    /* Changes whenever a guest goes: PMD threads forget their queues of a
     * generation that is gone (its teardown drained them). */
    std::atomic<uint64_t> gen{0};

    Vring vrings[kMaxVrings];
    Counters dir[2];
};

namespace {

/* Every port, for vhost_async_settings_changed() (main thread). */
std::vector<vhost_async_port *> all_ports;

/* Ports by vhost device id, for the callbacks that only know the id. */
std::mutex vid_mutex;
vhost_async_port *vid_ports[RTE_MAX_VHOST_DEVICE]; /* Each holds a ref. */

vhost_async_port *
port_by_vid(int vid)
{
    std::lock_guard<std::mutex> lock(vid_mutex);
    vhost_async_port *port = nullptr;

    if (vid >= 0 && vid < RTE_MAX_VHOST_DEVICE && vid_ports[vid]) {
        port = vid_ports[vid];
        port->ref();
    }
    return port;
}

void
set_vid_port(int vid, vhost_async_port *port)
{
    vhost_async_port *old;

    if (vid < 0 || vid >= RTE_MAX_VHOST_DEVICE) {
        return;
    }
    if (port) {
        port->ref();
    }
    {
        std::lock_guard<std::mutex> lock(vid_mutex);
        old = vid_ports[vid];
        vid_ports[vid] = port;
    }
    if (old) {
        old->unref();
    }
}

/* A queue on which the calling PMD thread has copies in flight. */
struct Entry {
    vhost_async_port *port; /* Holds a ref. */
    uint64_t gen;
    uint16_t vring;
};

struct PmdQueues {
    ~PmdQueues()
    {
        for (Entry &e : entries) {
            e.port->unref();
        }
    }

    std::vector<Entry> entries;
};

thread_local PmdQueues pmd_queues;

void
remember(vhost_async_port *port, uint64_t gen, uint16_t vring)
{
    std::vector<Entry> &entries = pmd_queues.entries;

    /* A queue with copies in flight is usually remembered already, as the
     * last one when the thread polls a single queue. */
    for (auto e = entries.rbegin(); e != entries.rend(); ++e) {
        if (e->port == port && e->vring == vring && e->gen == gen) {
            return;
        }
    }
    port->ref();
    entries.push_back(Entry{port, gen, vring});
}

/* Frees 'n' packets whose enqueue copies came back. */
void
tx_completed(vhost_async_port *port, Vring &vr, rte_mbuf **pkts, int n)
{
    if (n) {
        rte_pktmbuf_free_bulk(pkts, n);
        vr.inflight.fetch_sub(n, std::memory_order_release);
        port->dir[kTx].add(port->dir[kTx].completed, n);
    }
}

/* Reaps the completed copies of 'vring' of 'port' through DMA device
 * 'dma'.  Returns the number reaped. */
int
poll_tx(vhost_async_port *port, int vid, uint16_t vring, int dma)
{
    Vring &vr = port->vrings[vring];
    rte_mbuf *pkts[kBurst];
    int total = 0;
    int n;

    do {
        n = rte_vhost_poll_enqueue_completed(vid, vring, pkts, kBurst, dma, 0);
        tx_completed(port, vr, pkts, n);
        total += n;
    } while (n == kBurst);
    return total;
}

/* Clears 'vring' through every device that holds copies for it, from a
 * vhost callback ('locked': the callback holds the vring's lock) or a
 * thread that may take it.  Waits for the devices to finish, but not longer
 * than kDrainTimeoutMs.  Packets to the guest are freed, and packets from
 * the guest too (their receiver is going away), and counted as cleared. */
void
clear_vring(vhost_async_port *port, int vid, uint16_t vring, bool locked)
{
    Vring &vr = port->vrings[vring];
    Counters &c = port->dir[vring_dir(vring)];
    long long deadline = time_msec() + kDrainTimeoutMs;
    uint64_t mask = vr.dma_mask.load(std::memory_order_acquire);
    int left;

    for (;;) {
        left = locked ? rte_vhost_async_get_inflight_thread_unsafe(vid, vring)
                      : rte_vhost_async_get_inflight(vid, vring);
        if (!left || !mask || time_msec() >= deadline) {
            break;
        }
        for (int dma = 0; dma < 64; dma++) {
            rte_mbuf *pkts[kBurst];
            int n;

            if (!(mask & (UINT64_C(1) << dma))) {
                continue;
            }
            n = locked
                    ? rte_vhost_clear_queue_thread_unsafe(vid, vring, pkts,
                                                          kBurst, dma, 0)
                    : rte_vhost_clear_queue(vid, vring, pkts, kBurst, dma, 0);
            if (n) {
                rte_pktmbuf_free_bulk(pkts, n);
                vr.inflight.fetch_sub(n, std::memory_order_release);
                c.add(c.cleared, n);
            }
        }
    }

    if (left > 0) {
        VLOG_WARN("%s: %d copies on vring %u did not complete within %lld "
                  "ms; their buffers stay with the DMA device.",
                  port->name.c_str(), left, vring, kDrainTimeoutMs);
    } else if (left == 0) {
        if (vring_dir(vring) == kRx) {
            /* The polling thread stores vhost's count there. */
            vr.inflight.store(0, std::memory_order_release);
        }
        /* To the guest, the count only goes up and down: a PMD thread may
         * still subtract completions it reaped just before this drain,
         * which a reset to 0 would turn into a negative count. */
        vr.dma_mask.store(0, std::memory_order_release);
    }
}

/* Copies in flight on the DMA device 'dma', by its own count. */
uint64_t
device_inflight(int dma)
{
    struct rte_dma_stats st;

    if (dma < 0 || rte_dma_stats_get(dma, 0, &st)) {
        return 0;
    }
    return st.submitted - st.completed;
}

bool
can_use_vring(const vhost_async_port *port, uint16_t vring)
{
    return vring < kMaxVrings &&
           port->vrings[vring].registered.load(std::memory_order_acquire);
}

/* Takes back the packets of 'vring' whose copies are complete, reaping the
 * completions of DMA device 'dma' on the way.  Packets to the guest are
 * freed; packets from the guest go, in order, to the vring's stash, which
 * the thread that polls the queue empties first.  Returns their number. */
int
reap(vhost_async_port *port, int vid, uint16_t vring, int dma)
{
    Vring &vr = port->vrings[vring];
    rte_mbuf *pkts[kBurst];
    int total = 0;
    int n;

    if (vring_dir(vring) == kTx) {
        return poll_tx(port, vid, vring, dma);
    }
    do {
        n = rte_vhost_clear_queue(vid, vring, pkts, kBurst, dma, 0);
        if (n) {
            /* Counted as completed when they leave the stash. */
            vr.stash.insert(vr.stash.end(), pkts, pkts + n);
            vr.inflight.fetch_sub(n, std::memory_order_release);
        }
        total += n;
    } while (n == kBurst);
    return total;
}

/* reap() through every device that holds copies for 'vring', for a thread
 * without a device of its own (or whose drain timed out).  vhost serializes
 * each device's use, so this is safe next to the owner's own polling. */
void
reap_all_devices(vhost_async_port *port, int vid, uint16_t vring)
{
    uint64_t mask =
        port->vrings[vring].dma_mask.load(std::memory_order_acquire);

    for (int dma = 0; dma < 64; dma++) {
        if (mask & (UINT64_C(1) << dma)) {
            reap(port, vid, vring, dma);
        }
    }
}

/* Whether 'vring' has no copy in flight by vhost's own count, which a
 * vhost callback's drain cannot make drift as it can 'vr.inflight' (then
 * set right).  A vring that a vhost callback holds counts as busy.  Only
 * then may a CPU copy take its turn. */
bool
vring_idle(Vring &vr, int vid, uint16_t vring)
{
    if (rte_vhost_async_get_inflight(vid, vring)) {
        return false;
    }
    if (vr.inflight.load(std::memory_order_relaxed)) {
        vr.inflight.store(0, std::memory_order_release);
    }
    return true;
}

/* Whether a CPU copy may take its turn on 'vring' now, without
 * overtaking a copy in flight: after taking back what the thread's device
 * 'dma' completed (every device's, for a thread without one), vhost must
 * have nothing in flight.  Packets from the guest taken back go to the
 * vring's stash, to be returned before any new one. */
bool
cpu_turn(vhost_async_port *port, Vring &vr, int vid, uint16_t vring, int dma)
{
    if (vring_idle(vr, vid, vring)) {
        return true;
    }
    if (dma >= 0) {
        reap(port, vid, vring, dma);
    } else {
        reap_all_devices(port, vid, vring);
    }
    return vring_idle(vr, vid, vring);
}

/* Copies 'cnt' packets to the guest with the CPU, retrying up to
 * 'max_retries' times while the guest makes room.  Returns how many went. */
int
cpu_enqueue(int vid, uint16_t vring, rte_mbuf **pkts, int cnt, int max_retries,
            int *retries)
{
    int sent = 0;

    do {
        int n = rte_vhost_enqueue_burst(vid, vring, pkts + sent, cnt - sent);
        if (!n) {
            break;
        }
        sent += n;
    } while (sent < cnt && (*retries)++ < max_retries);
    return sent;
}

/* Whether every one of the 'cnt' packets is shorter than 'min' bytes. */
bool
all_short(rte_mbuf *const *pkts, int cnt, unsigned int min)
{
    for (int i = 0; i < cnt; i++) {
        if (pkts[i]->pkt_len >= min) {
            return false;
        }
    }
    return true;
}

/* Folds the lengths of the 'n' frames received on 'vr' into its moving
 * average (over about 8 bursts) and updates 'vr.rx_short'. */
void
rx_track_length(Vring &vr, rte_mbuf *const *pkts, int n, unsigned int min)
{
    uint64_t sum = 0;

    if (!n) {
        return;
    }
    for (int i = 0; i < n; i++) {
        sum += pkts[i]->pkt_len;
    }
    /* s += x - s / 8 settles at exactly 8 * x, from below and from above:
     * (x - s) / 8 would stop short of x by the truncation. */
    uint64_t avg16 = sum * 16 / n;

    vr.rx_avg_state += avg16 - vr.rx_avg_state / 8;
    vr.rx_short = vr.rx_avg_state / 8 < uint64_t{min} * 16;
}

/* Moves up to 'n' packets of 'vr''s stash to 'pkts'.  Returns their
 * number. */
int
pop_stash(Vring &vr, Counters &c, rte_mbuf **pkts, int n)
{
    int k = std::min<int>(n, vr.stash.size());

    std::copy(vr.stash.begin(), vr.stash.begin() + k, pkts);
    vr.stash.erase(vr.stash.begin(), vr.stash.begin() + k);
    c.add(c.completed, k);
    return k;
}

} // namespace

struct vhost_async_port *
vhost_async_port_create(const char *name, struct seq *reconfigure_seq) noexcept
{
    auto *port = new vhost_async_port(name, reconfigure_seq);

    all_ports.push_back(port);
    return port;
}

void
vhost_async_port_destroy(struct vhost_async_port *port) noexcept
{
    if (port) {
        int vid = port->vid.load(std::memory_order_acquire);

        all_ports.erase(std::remove(all_ports.begin(), all_ports.end(), port),
                        all_ports.end());

        /* The port is deleted with a guest attached: its PMD threads were
         * reloaded without it, so nothing submits any more. */
        if (vid >= 0) {
            vhost_async_destroy_device(vhost_async_stop_device(port), vid);
        }
        port->unref();
    }
}

void
vhost_async_port_set_option(struct vhost_async_port *port,
                            const char *value) noexcept
{
    int option;

    if (!value) {
        option = -1;
    } else if (!strcmp(value, "true")) {
        option = 1;
    } else if (!strcmp(value, "false")) {
        option = 0;
    } else {
        /* Refusing the configuration would make the bridge delete the port
         * and detach its guest: keep the port as it is instead. */
        if (port->bad_option != value) {
            int cur = port->option.load();

            port->bad_option = value;
            VLOG_WARN("%s: invalid options:vhost-async-support '%s' (use "
                      "'true' or 'false'); it stays %s.",
                      port->name.c_str(), value,
                      cur < 0 ? "unset"
                      : cur   ? "true"
                              : "false");
        }
        return;
    }

    port->bad_option.clear();
    if (port->option.exchange(option) != option) {
        vhost_async_settings_changed();
    }
}

void
vhost_async_settings_changed(void) noexcept
{
    for (vhost_async_port *port : all_ports) {
        if (port->reregister_needed()) {
            /* netdev-dpdk registers the socket again when it reconfigures
             * the port, after the PMD threads let go of it. */
            seq_change(port->reconfigure_seq);
        } else if (port->socket_registered && port->socket_conflicts &&
                   port->asks_async()) {
            port->warn_refused();
        }
    }
}

bool
vhost_async_reregister_needed(const struct vhost_async_port *port) noexcept
{
    return port && port->reregister_needed();
}

void
vhost_async_socket_unregistered(struct vhost_async_port *port) noexcept
{
    if (port) {
        port->socket_registered = false;
        port->socket_async.store(false, std::memory_order_release);
    }
}

uint64_t
vhost_async_socket_flags(struct vhost_async_port *port,
                         uint64_t flags) noexcept
{
    port->socket_registered = true;
    port->socket_conflicts = flags & (RTE_VHOST_USER_IOMMU_SUPPORT |
                                      RTE_VHOST_USER_POSTCOPY_SUPPORT);
    port->socket_async.store(false, std::memory_order_release);
    if (!port->asks_async()) {
        return flags & ~RTE_VHOST_USER_ASYNC_COPY;
    }
    if (port->socket_conflicts) {
        port->warn_refused();
        return flags & ~RTE_VHOST_USER_ASYNC_COPY;
    }
    port->socket_async.store(true, std::memory_order_release);
    VLOG_INFO("%s: vhost socket registered for DMA copies "
              "(vhost-async-support); live migration is unavailable for this "
              "port.",
              port->name.c_str());
    return flags | RTE_VHOST_USER_ASYNC_COPY;
}

void
vhost_async_port_custom_stats(const struct vhost_async_port *port,
                              struct netdev_custom_stats *stats) noexcept
{
    static const char *const dir_names[2] = {"tx", "rx"};
    static const char *const names[] = {
        "async_submitted",        "async_completed",   "async_inflight",
        "async_cleared",          "async_order_drops", "cpu_copy_packets",
        "cpu_copy_short_packets",
    };
    constexpr size_t n_names = ARRAY_SIZE(names);

    if (!port || !port->socket_async) {
        return;
    }

    size_t base = stats->size;
    stats->counters = static_cast<netdev_custom_counter *>(xrealloc(
        stats->counters, (base + 2 * n_names) * sizeof *stats->counters));
    for (int d = 0; d < 2; d++) {
        const Counters &c = port->dir[d];
        uint64_t submitted = c.submitted.load(std::memory_order_relaxed);
        uint64_t completed = c.completed.load(std::memory_order_relaxed);
        uint64_t cleared = c.cleared.load(std::memory_order_relaxed);
        uint64_t done = completed + cleared;
        const uint64_t values[n_names] = {
            submitted,
            completed,
            submitted > done ? submitted - done : 0,
            cleared,
            c.order_drops.load(std::memory_order_relaxed),
            c.cpu.load(std::memory_order_relaxed),
            c.cpu_short.load(std::memory_order_relaxed),
        };

        for (size_t i = 0; i < n_names; i++) {
            if (d == kRx && !strcmp(names[i], "async_order_drops")) {
                /* Receiving never drops for order: it holds the queue. */
                continue;
            }
            netdev_custom_counter *ctr = &stats->counters[stats->size++];

            snprintf(ctr->name, sizeof ctr->name, "ovs_%s_%s", dir_names[d],
                     names[i]);
            ctr->value = values[i];
        }
    }
}

void
vhost_async_new_device(struct vhost_async_port *port, int vid) noexcept
{
    int n_vrings = rte_vhost_get_vring_num(vid);
    int n_registered = 0;

    if (!port || !port->socket_async) {
        return;
    }

    for (Counters &c : port->dir) {
        c.reset();
    }
    n_vrings = std::min(n_vrings, kMaxVrings);
    for (int i = 0; i < n_vrings; i++) {
        Vring &vr = port->vrings[i];

        vr.inflight.store(0, std::memory_order_relaxed);
        vr.dma_mask.store(0, std::memory_order_relaxed);
        if (!rte_vhost_async_channel_register(vid, i)) {
            vr.registered.store(true, std::memory_order_release);
            n_registered++;
        } else {
            VLOG_WARN("%s: could not register an async channel on vring %d: "
                      "it copies with the CPU.",
                      port->name.c_str(), i);
        }
    }
    port->vid.store(vid, std::memory_order_release);
    set_vid_port(vid, port);
    port->active.store(n_registered > 0, std::memory_order_release);
    VLOG_INFO("%s: %d of %d vrings use DMA copies.", port->name.c_str(),
              n_registered, n_vrings);
}

struct vhost_async_port *
vhost_async_stop_device(struct vhost_async_port *port) noexcept
{
    if (!port || !port->socket_async) {
        return nullptr;
    }
    port->active.store(false, std::memory_order_release);
    port->gen.fetch_add(1, std::memory_order_acq_rel);
    port->ref();
    return port;
}

void
vhost_async_destroy_device(struct vhost_async_port *port, int vid) noexcept
{
    uint64_t cleared = 0;
    int expected = vid;

    if (!port) {
        return;
    }
    if (!port->vid.compare_exchange_strong(expected, -1)) {
        /* Another thread tore this device down already. */
        port->unref();
        return;
    }
    for (int d = 0; d < 2; d++) {
        cleared -= port->dir[d].cleared.load();
    }
    for (int i = 0; i < kMaxVrings; i++) {
        Vring &vr = port->vrings[i];

        if (!vr.registered.load(std::memory_order_acquire)) {
            continue;
        }
        clear_vring(port, vid, i, false);
        port->free_stash(vr);
        if (rte_vhost_async_channel_unregister(vid, i)) {
            VLOG_WARN("%s: could not unregister the async channel of vring "
                      "%d.",
                      port->name.c_str(), i);
        }
        vr.registered.store(false, std::memory_order_release);
    }
    for (int d = 0; d < 2; d++) {
        cleared += port->dir[d].cleared.load();
    }
    if (cleared) {
        VLOG_INFO("%s: %" PRIu64 " packets in flight were cleared as the "
                  "guest went away.",
                  port->name.c_str(), cleared);
    }
    set_vid_port(vid, nullptr);
    port->unref();
}

void
vhost_async_vring_state_changed(int vid, uint16_t vring, int enable) noexcept
{
    vhost_async_port *port;

    if (enable || vring >= kMaxVrings) {
        return;
    }
    port = port_by_vid(vid);
    if (!port) {
        return;
    }
    if (can_use_vring(port, vring)) {
        /* vhost holds the vring's lock and will unmap guest memory or stop
         * the vring once this returns: the copies must be done by then. */
        clear_vring(port, vid, vring, true);
    }
    port->unref();
}

void
vhost_async_set_min_frame_size(unsigned int bytes) noexcept
{
    min_frame_size.store(bytes, std::memory_order_relaxed);
}

unsigned int
vhost_async_min_frame_size(void) noexcept
{
    return min_frame_size.load(std::memory_order_relaxed);
}

bool
vhost_async_active(const struct vhost_async_port *port) noexcept
{
    return port && port->active.load(std::memory_order_acquire);
}

int
vhost_async_send(struct vhost_async_port *port, int vid, uint16_t vring,
                 struct rte_mbuf **pkts, int cnt, int max_retries,
                 int *retries, int *n_unsent) noexcept
{
    Counters &c = port->dir[kTx];
    int dma = dpdk_dma_pmd_dev_id();
    int sent = 0;

    *retries = 0;
    if (!can_use_vring(port, vring)) {
        /* No async channel: nothing can be in flight. */
        sent = cpu_enqueue(vid, vring, pkts, cnt, max_retries, retries);
        c.add(c.cpu, sent);
        *n_unsent = cnt - sent;
        return 0; /* The caller frees them all: the copies are done. */
    }
    Vring &vr = port->vrings[vring];
    unsigned int min = min_frame_size.load(std::memory_order_relaxed);
    bool by_size = dma >= 0 && min && all_short(pkts, cnt, min);

    /* Without a device, or for short frames, the CPU copies, in order:
     * only once nothing is in flight. */
    if (dma < 0 || by_size) {
        if (cpu_turn(port, vr, vid, vring, dma)) {
            sent = cpu_enqueue(vid, vring, pkts, cnt, max_retries, retries);
            if (sent) {
                c.add(c.cpu, sent);
                if (by_size) {
                    c.add(c.cpu_short, sent);
                }
            }
            *n_unsent = cnt - sent;
            return 0;
        }
        if (dma < 0) {
            c.add(c.order_drops, cnt);
            *n_unsent = cnt;
            return 0;
        }
        /* Short frames behind copies in flight: the device takes them. */
    }

    uint64_t gen = port->gen.load(std::memory_order_acquire);
    uint64_t bit = UINT64_C(1) << dma;

    if (!(vr.dma_mask.load(std::memory_order_relaxed) & bit)) {
        vr.dma_mask.fetch_or(bit, std::memory_order_release);
    }
    for (;;) {
        int n = rte_vhost_submit_enqueue_burst(vid, vring, pkts + sent,
                                               cnt - sent, dma, 0);
        if (n) {
            vr.inflight.fetch_add(n, std::memory_order_release);
            sent += n;
        }
        if (sent == cnt || *retries >= max_retries) {
            break;
        }
        /* The ring is full: what the device finished frees room. */
        if (!poll_tx(port, vid, vring, dma) && !n) {
            break;
        }
        (*retries)++;
    }
    if (sent) {
        c.add(c.submitted, sent);
        remember(port, gen, vring);
    }
    *n_unsent = cnt - sent;
    return sent;
}

int
vhost_async_recv(struct vhost_async_port *port, int vid, uint16_t vring,
                 struct rte_mempool *mp, struct rte_mbuf **pkts,
                 int n) noexcept
{
    Counters &c = port->dir[kRx];
    int dma = dpdk_dma_pmd_dev_id();

    if (!can_use_vring(port, vring)) {
        return rte_vhost_dequeue_burst(vid, vring, mp, pkts, n);
    }
    Vring &vr = port->vrings[vring];
    unsigned int min = min_frame_size.load(std::memory_order_relaxed);
    bool by_size = dma >= 0 && min && vr.rx_short;

    /* Without a device, or while the queue's frames are short, the CPU
     * copies, in order: only once nothing is in flight.  What is taken
     * back on the way, and what a drain took back, goes first. */
    bool cpu = dma < 0 || by_size;
    bool idle = cpu && cpu_turn(port, vr, vid, vring, dma);

    if (!vr.stash.empty()) {
        return pop_stash(vr, c, pkts, n);
    }
    if (cpu) {
        if (!idle) {
            return 0; /* Still in flight: hold the queue, never reorder. */
        }
        int got = rte_vhost_dequeue_burst(vid, vring, mp, pkts, n);
        if (got) {
            c.add(c.cpu, got);
            if (by_size) {
                c.add(c.cpu_short, got);
                rx_track_length(vr, pkts, got, min);
            }
        }
        return got;
    }

    int64_t before = vr.inflight.load(std::memory_order_relaxed);
    int nr_inflight = 0;
    uint64_t bit = UINT64_C(1) << dma;

    if (!(vr.dma_mask.load(std::memory_order_relaxed) & bit)) {
        vr.dma_mask.fetch_or(bit, std::memory_order_release);
    }
    int got = rte_vhost_async_try_dequeue_burst(vid, vring, mp, pkts, n,
                                                &nr_inflight, dma, 0);
    if (min) {
        rx_track_length(vr, pkts, got, min);
    }
    if (nr_inflight >= 0) {
        int64_t submitted = nr_inflight - before + got;

        if (submitted > 0) {
            c.add(c.submitted, submitted);
        }
        if (nr_inflight != before) {
            vr.inflight.store(nr_inflight, std::memory_order_release);
        }
        if (nr_inflight) {
            remember(port, port->gen.load(std::memory_order_acquire), vring);
        }
    }
    if (got) {
        /* Most calls of a busy-polling thread find nothing. */
        c.add(c.completed, got);
    }
    return got;
}

unsigned int
vhost_async_pmd_poll(void) noexcept
{
    std::vector<Entry> &entries = pmd_queues.entries;
    unsigned int reaped = 0;
    int dma;

    if (OVS_LIKELY(entries.empty())) {
        return 0;
    }
    dma = dpdk_dma_pmd_dev_id();
    for (size_t i = 0; i < entries.size();) {
        Entry &e = entries[i];
        vhost_async_port *port = e.port;
        Vring &vr = port->vrings[e.vring];

        if (port->gen.load(std::memory_order_acquire) == e.gen && dma >= 0) {
            if (vring_dir(e.vring) == kTx) {
                reaped +=
                    poll_tx(port, port->vid.load(std::memory_order_acquire),
                            e.vring, dma);
            }
            if (vr.inflight.load(std::memory_order_acquire) > 0) {
                i++;
                continue;
            }
        }
        /* Nothing in flight, or the guest is gone (its teardown drained
         * the queue): forget the queue. */
        port->unref();
        e = entries.back();
        entries.pop_back();
    }
    return reaped;
}

void
vhost_async_pmd_drain(void) noexcept
{
    std::vector<Entry> &entries = pmd_queues.entries;
    long long deadline = time_msec() + kDrainTimeoutMs;
    int dma = dpdk_dma_pmd_dev_id();
    struct dpdk_dma_claim *claim = dpdk_dma_pmd_claim();

    while (!entries.empty() && dma >= 0) {
        /* The device's count is read first: once it is idle, the reaping
         * below takes back everything it completed.  Copies of other
         * threads on a shared queue are theirs to reap. */
        bool idle = !device_inflight(dma);

        for (Entry &e : entries) {
            vhost_async_port *port = e.port;

            if (port->gen.load(std::memory_order_acquire) == e.gen) {
                reap(port, port->vid.load(std::memory_order_acquire), e.vring,
                     dma);
            }
        }
        if (idle) {
            break;
        }
        if (time_msec() >= deadline) {
            VLOG_WARN("DMA device %d still has %" PRIu64 " copies in flight "
                      "after %lld ms; the PMD thread keeps it.",
                      dma, device_inflight(dma), kDrainTimeoutMs);
            break;
        }
    }

    /* Forget the queues: another thread may poll them after the reload. */
    for (Entry &e : entries) {
        e.port->unref();
    }
    entries.clear();

    if (claim) {
        int64_t left = device_inflight(dma);

        dpdk_dma_claim_inflight_add(claim,
                                    left - dpdk_dma_claim_inflight(claim));
    }
}
