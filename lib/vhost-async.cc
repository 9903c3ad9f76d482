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

/* Asynchronous (DMA) vhost copies: see vhost-async.h for the rules. */

#include <config.h>

#include "vhost-async.h"

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstddef>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <rte_cycles.h>
#include <rte_dmadev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_vhost.h>
#include <rte_vhost_async.h>

#ifdef __linux__
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "dpdk-dma.h"
#include "vhost-async-size.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/netdev.h"
#include "openvswitch/vlog.h"
#include "smap.h"
#include "timeval.h"
#include "unixctl.h"
extern "C" {
#include "seq.h" /* No C++ guard of its own. */

/* From ovs-rcu.h and ovs-thread.h, which C++ cannot include. */
void ovsrcu_quiesce(void);
void ovsrcu_quiesce_start(void);
void ovsrcu_quiesce_end(void);
bool ovsrcu_is_quiescent(void);
int count_cpu_cores(void);
}
#include "util.h"

VLOG_DEFINE_THIS_MODULE(vhost_async);

namespace {

/* vhost has at most this many vrings per device (128 queue pairs).  Vrings
 * beyond it, if a future vhost allowed them, would copy with the CPU. */
constexpr int max_vrings = 256;

/* Largest burst vhost takes or returns in one call. */
constexpr int burst_size = 32;

/* A thread that waits for DMA devices warns this often. */
constexpr long long warn_interval_ms = 1000;

enum direction { DIR_TX = 0, DIR_RX = 1 }; /* To the guest, from it. */

direction
vring_dir(uint16_t vring)
{
    /* Even vrings are the guest's receive queues, where OVS enqueues. */
    return vring % 2 ? DIR_RX : DIR_TX;
}

std::atomic<bool> async_enabled{false};
std::atomic<unsigned int> min_frame_size{VHOST_ASYNC_MIN_FRAME_SIZE_DEFAULT};

/* Port counters.  Each thread counts in a slot of its own. */
enum counter {
    CTR_SUBMITTED,   /* Packets given to a DMA device. */
    CTR_COMPLETED,   /* ...whose copies came back. */
    CTR_CLEARED,     /* ...freed by a teardown, the guest gone. */
    CTR_CPU,         /* Copied with the CPU instead. */
    CTR_CPU_SHORT,   /* ...for being short. */
    CTR_ORDER_DROPS, /* Dropped: copies in flight would not complete. */
    CTR_ORDER_WAITS, /* Copied with the CPU after copies in flight. */
    N_COUNTERS
};

struct alignas(CACHE_LINE_SIZE) slot_counters {
    std::atomic<uint64_t> n[2][N_COUNTERS];
};

/* Thread slots: a thread takes one the first time it counts, and gives it
 * back when it ends; the next thread that takes it goes on adding to the
 * same counters.  A thread that finds none (more threads than
 * count_slots()) counts in the port's shared slot, atomically. */
std::mutex slots_mutex;
std::vector<bool> slots_used;

size_t
count_slots()
{
    /* PMD threads (at most one per core and datapath), the main thread,
     * DPDK's vhost thread, and room to spare. */
    static const size_t n = 2 * std::max(count_cpu_cores(), 1) + 8;
    return n;
}

struct thread_slot {
    ~thread_slot()
    {
        if (index >= 0) {
            std::lock_guard<std::mutex> lock(slots_mutex);
            slots_used[index] = false;
        }
    }

    int index = -1;
    bool none = false; /* None was free. */
};

thread_local thread_slot this_slot;

int
get_slot()
{
    if (OVS_UNLIKELY(this_slot.index < 0 && !this_slot.none)) {
        std::lock_guard<std::mutex> lock(slots_mutex);

        slots_used.resize(count_slots());
        for (size_t i = 0; i < slots_used.size(); i++) {
            if (!slots_used[i]) {
                slots_used[i] = true;
                this_slot.index = i;
                return i;
            }
        }
        this_slot.none = true;
        VLOG_WARN("more threads use vhost async counters than the %zu "
                  "slots for them: this one counts in a shared slot.",
                  slots_used.size());
    }
    return this_slot.index;
}

/* One vring of a port.  Allocated when a guest first has it, freed with the
 * port, so that a pointer to it stays valid for the port's life. */
struct async_vring {
    /* An async channel is registered on this vring.  Written by the vhost
     * thread while no thread uses the vring for copies. */
    std::atomic<bool> registered{false};

    /* vhost still has the channel of a guest that went after it unmapped
     * the vring (vhost refuses to unregister it then): the next guest's
     * attach unregisters it first.  vhost callbacks only. */
    bool stale_channel = false;

    /* Transmit vrings.  Written only by a sender, which holds the vring's
     * send lock (netdev-dpdk's tx_lock): 'tx_submits' counts the bursts
     * submitted to DMA devices, and 'tx_idle_at' is what it was when a
     * sender last heard vhost say that nothing was in flight on the vring.
     * While the two are equal, nothing can be: copies only complete
     * meanwhile, and a sender need not ask vhost. */
    alignas(CACHE_LINE_SIZE) uint64_t tx_submits = 0;
    uint64_t tx_idle_at = 0;

    /* Receive vrings.  These members belong to the thread that polls the
     * vring, one at a time: dpif-netdev moves a queue between PMD threads
     * only across their reloads, which order the old poller and the new
     * one; vhost callbacks reset them while no thread polls the port. */
    alignas(CACHE_LINE_SIZE) std::atomic<bool> polling{false};
    std::vector<rte_mbuf *> held; /* Taken back, returned first. */
    size_t held_head = 0;
    std::atomic<uint64_t> n_held{0}; /* held.size() - held_head. */
    uint64_t seen_drained = 0;       /* n_drained when last absorbed. */
    std::atomic<uint64_t> n_absorbed{0};
    /* vhost's count of copies in flight on the vring: what vhost said after
     * the poller's last call, less what the poller took back since.  Exact:
     * only the poller submits, and a drain that takes copies back from
     * another thread empties the vring. */
    int inflight = 0;
    bool listed = false;  /* On the poller's list. */
    uint64_t len_avg = 0; /* 8 x average length, in 1/16 byte. */
    bool rx_short = true; /* That average is below min_frame_size. */

    /* Starts the poller's state afresh, for a new guest.  No thread may
     * poll the vring. */
    void
    reset_poller()
    {
        inflight = 0;
        listed = false;
        len_avg = 0;
        rx_short = true;
    }

    /* Packets from the guest that a vring state change took back, for the
     * poller, which moves them to 'held'.  The vhost thread appends under
     * the mutex, then counts them in 'n_drained'. */
    alignas(CACHE_LINE_SIZE) std::mutex drained_mutex;
    std::vector<rte_mbuf *> drained;
    std::atomic<uint64_t> n_drained{0};
};

} // namespace

struct vhost_async_port {
    vhost_async_port(const char *name_, struct seq *reconfigure_seq_)
        : name(name_), reconfigure_seq(reconfigure_seq_),
          counters(new slot_counters[count_slots()]())
    {}

    ~vhost_async_port()
    {
        for (auto &p : vrings) {
            struct async_vring *vr = p.load(std::memory_order_relaxed);

            if (vr) {
                free_held(*vr, false);
                delete vr;
            }
        }
    }

    /* Returns vring 'i', allocating it first if it has never existed.
     * vhost callbacks only. */
    struct async_vring &
    make_vring(int i)
    {
        struct async_vring *vr = vrings[i].load(std::memory_order_relaxed);

        if (!vr) {
            vr = new async_vring;
            vrings[i].store(vr, std::memory_order_release);
        }
        return *vr;
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
    count(direction d, counter c, uint64_t n)
    {
        if (!n) {
            return;
        }

        int slot = get_slot();
        if (OVS_LIKELY(slot >= 0)) {
            std::atomic<uint64_t> &x = counters[slot].n[d][c];

            x.store(x.load(std::memory_order_relaxed) + n,
                    std::memory_order_relaxed);
        } else {
            shared.n[d][c].fetch_add(n, std::memory_order_relaxed);
        }
    }

    uint64_t
    total(direction d, counter c) const
    {
        uint64_t sum = shared.n[d][c].load(std::memory_order_relaxed);

        for (size_t i = 0; i < count_slots(); i++) {
            sum += counters[i].n[d][c].load(std::memory_order_relaxed);
        }
        return sum;
    }

    /* Frees the packets from the guest that 'vr' holds, and counts them as
     * cleared if 'count_cleared'.  No thread may poll the vring. */
    void
    free_held(struct async_vring &vr, bool count_cleared)
    {
        std::lock_guard<std::mutex> lock(vr.drained_mutex);
        size_t n = vr.held.size() - vr.held_head + vr.drained.size();

        rte_pktmbuf_free_bulk(vr.held.data() + vr.held_head,
                              vr.held.size() - vr.held_head);
        rte_pktmbuf_free_bulk(vr.drained.data(), vr.drained.size());
        if (count_cleared) {
            count(DIR_RX, CTR_CLEARED, n);
        }
        vr.held.clear();
        vr.held_head = 0;
        vr.n_held.store(0, std::memory_order_relaxed);
        vr.drained.clear();
        vr.seen_drained = vr.n_drained.load(std::memory_order_relaxed);
        vr.n_absorbed.store(vr.seen_drained, std::memory_order_relaxed);
    }

    struct async_vring *
    get_vring(uint16_t vring) const
    {
        return vring < max_vrings
                   ? vrings[vring].load(std::memory_order_acquire)
                   : nullptr;
    }

    /* Whether the settings ask for asynchronous copy on this port. */
    bool
    asks_async() const
    {
        int opt = option.load(std::memory_order_relaxed);

        return opt >= 0 ? opt : async_enabled.load(std::memory_order_relaxed);
    }

    /* Whether the port's socket should be registered for asynchronous copy
     * now, given the settings and the socket's other flags. */
    bool
    wants_async() const
    {
        return asks_async() && !socket_conflicts && !socket_vduse;
    }

    void
    warn_refused() const
    {
        if (socket_vduse) {
            VLOG_WARN("%s: vhost-async-support is refused: the port is a "
                      "VDUSE device, which needs the vhost IOMMU, and the "
                      "asynchronous vhost API cannot be used with it; the "
                      "port copies with the CPU.",
                      name.c_str());
            return;
        }
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
    std::string bad_keys;   /* Unknown option names logged (main thread). */

    /* The socket was registered, and for asynchronous copy; it was
     * registered with an option that rules asynchronous copy out.  Written by
     * the main thread while no guest is attached. */
    bool socket_registered = false;
    uint64_t socket_conflicts = 0;
    /* Whether the socket is a VDUSE device ("/dev/vduse/..."): DPDK runs
     * those with its IOMMU support, which excludes asynchronous copy. */
    bool socket_vduse = false;
    std::atomic<bool> socket_async{false};

    /* The attached guest's vhost device id, until destroy_device() has
     * cleared its vrings; -1 without one.  'tearing' is set while
     * destroy_device() clears them. */
    std::atomic<int> vid{-1};
    std::atomic<bool> tearing{false};

    /* Even while a guest is attached, odd from the moment it starts to go:
     * a PMD thread's list entry is valid only while the generation is the
     * one it was made in. */
    std::atomic<uint64_t> gen{1};

    /* Allocated by the vhost thread when a guest first has the vring, freed
     * with the port: a pointer read once stays valid. */
    std::atomic<struct async_vring *> vrings[max_vrings] = {};

    /* PMD threads' list entries for the port's vrings: a thread adds one
     * before its first vhost call for the entry and removes it after its
     * last, so that a teardown that sees none knows no thread uses the
     * guest's vid any more. */
    std::atomic<unsigned int> n_listed{0};

    std::unique_ptr<slot_counters[]> counters;
    slot_counters shared{};
};

namespace {

/* Every port, for settings_changed() (main thread). */
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

/* Returns the number of packets that a vhost call that could return 'max'
 * returned, 'n', or 0 if 'n' is an error (the "_thread_unsafe" calls return
 * (uint16_t) -1 when the caller does not hold the vring's lock). */
int
checked(uint16_t n, int max)
{
    if (OVS_UNLIKELY(n > max)) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

        VLOG_WARN_RL(&rl,
                     "vhost returned %u packets where at most %d can "
                     "be: taken as an error.",
                     n, max);
        return 0;
    }
    return n;
}

/* A vring on which the calling PMD thread has copies in flight. */
struct listed_vring {
    vhost_async_port *port; /* Holds a ref. */
    uint64_t gen;
    int vid;
    uint16_t vring;
    unsigned int stalled; /* Polls in a row that took nothing back. */

    /* Transmit vrings: when to ask vhost again.  0 once vhost said, after
     * the thread's last submission to the vring, that nothing is in flight
     * on it: the thread need not poll it until it submits again.  -1 to ask
     * on the next poll (vhost could not tell).  Otherwise what vhost said
     * last, plus what the thread submitted since, less what it took back
     * since, at most ask_cap: once it has taken that many back, or nothing
     * for stall_ask polls in a row (other threads took its copies back),
     * it asks vhost.  A hint of the thread's own, never a count that
     * anything else relies on. */
    int ask_after;
    unsigned int idle; /* Polls in a row with 'ask_after' 0. */

    /* Whether the guest that the entry was made for is still attached. */
    bool
    valid() const
    {
        return port->gen.load(std::memory_order_acquire) == gen;
    }

    /* Whether vhost still holds the guest's vrings: the guest is attached,
     * or going but destroy_device() has not cleared them yet.  It makes the
     * port's vid -1 once it has, then waits for RCU, so that a thread that
     * saw the vid in its RCU read section may use it. */
    bool
    live() const
    {
        /* The vid first: new_device() stores it after the generation, so
         * that a vid reused by the next guest comes with its generation. */
        if (port->vid.load(std::memory_order_acquire) != vid) {
            return false;
        }

        uint64_t g = port->gen.load(std::memory_order_acquire);
        return (g == gen || g == gen + 1) &&
               port->get_vring(vring)->registered.load(
                   std::memory_order_acquire);
    }
};

/* A listed vring from which nothing came back for this many polls in a row
 * is polled through every device: the copies ahead of the thread's may be on
 * a device that no thread polls any more. */
constexpr unsigned int stall_sweep = 1024;

/* A listed transmit vring from which nothing came back for this many polls
 * in a row is asked about: on a vring that several threads send to, one
 * takes back the others' copies that complete ahead of its own.  No hint
 * exceeds the largest virtqueue. */
constexpr unsigned int stall_ask = 32;
constexpr int ask_cap = 32768;

/* A transmit vring with nothing in flight stays listed for this many polls,
 * so that a thread that sends to it again soon does not list it again. */
constexpr unsigned int idle_unlist = 1024;

/* The calling PMD thread's device and lists: written by the thread only. */
struct pmd_queues {
    ~pmd_queues()
    {
        vhost_async_size_destroy(size);
        for (auto &e : tx) {
            drop_entry(e);
        }
        for (auto &e : rx) {
            drop_entry(e);
        }
    }

    static void
    drop_entry(listed_vring &e)
    {
        e.port->n_listed.fetch_sub(1, std::memory_order_release);
        e.port->unref();
    }

    int dma = -1;
    unsigned int core_id = 0;
    std::vector<listed_vring> tx, rx;

    /* What copies cost the thread, for vhost-async-min-frame-size=auto:
     * made when the thread first has a device. */
    vhost_async_size *size = nullptr;
};

thread_local pmd_queues pmd;

/* Adds 'vring' of 'port' to 'list' unless it is there, for the guest of
 * generation 'gen', read before the copies were made.  If the guest had
 * started to go (an odd generation), the entry is made for the attached
 * guest's generation, so that it is born going: the thread reaps the
 * copies through its device until the teardown clears the vring. */
listed_vring &
list_vring(std::vector<listed_vring> &list, vhost_async_port *port,
           uint64_t gen, int vid, uint16_t vring)
{
    gen &= ~uint64_t{1};
    /* A vring with copies in flight is usually listed already, as the last
     * one when the thread polls a single one. */
    for (auto e = list.rbegin(); e != list.rend(); ++e) {
        if (e->port == port && e->vring == vring && e->gen == gen) {
            return *e;
        }
    }
    port->ref();
    port->n_listed.fetch_add(1, std::memory_order_relaxed);
    list.push_back(listed_vring{port, gen, vid, vring, 0, 0, 0});
    return list.back();
}

/* Removes entry 'i' of 'list'. */
void
unlist(std::vector<listed_vring> &list, size_t i)
{
    pmd_queues::drop_entry(list[i]);
    list[i] = list.back();
    list.pop_back();
}

/* Frees 'n' packets to the guest whose copies came back, and counts them in
 * 'ctr' (completed, or cleared for a guest that is going). */
void
tx_done(vhost_async_port *port, rte_mbuf **pkts, int n,
        enum counter ctr = CTR_COMPLETED)
{
    if (n) {
        rte_pktmbuf_free_bulk(pkts, n);
        port->count(DIR_TX, ctr, n);
    }
}

/* Reaps the completions of DMA device 'dma' and takes back the packets to
 * the guest of 'vring' whose copies are complete, counted in 'ctr'.
 * Returns their number. */
int
poll_tx(vhost_async_port *port, int vid, uint16_t vring, int dma,
        enum counter ctr = CTR_COMPLETED)
{
    rte_mbuf *pkts[burst_size];
    int total = 0;
    int n;

    do {
        n = checked(rte_vhost_poll_enqueue_completed(vid, vring, pkts,
                                                     burst_size, dma, 0),
                    burst_size);
        tx_done(port, pkts, n, ctr);
        total += n;
    } while (n == burst_size);
    return total;
}

/* poll_tx() through every DMA device: copies on a vring may come from
 * several threads' devices, and vhost lets any thread reap any device. */
int
poll_tx_all(vhost_async_port *port, int vid, uint16_t vring,
            enum counter ctr = CTR_COMPLETED)
{
    size_t n_devs = dpdk_dma_n_devices();
    int total = 0;

    for (size_t i = 0; i < n_devs; i++) {
        total += poll_tx(port, vid, vring, dpdk_dma_device_id(i), ctr);
    }
    return total;
}

/* Whether transmit vring 'vring' (that is 'vr') has no copy in flight, as
 * a sender that holds its send lock.  Asks vhost only if a burst was
 * submitted since vhost last said so. */
bool
tx_idle(struct async_vring &vr, int vid, uint16_t vring)
{
    if (vr.tx_idle_at == vr.tx_submits) {
        return true;
    }
    if (!rte_vhost_async_get_inflight(vid, vring)) {
        vr.tx_idle_at = vr.tx_submits;
        return true;
    }
    return false;
}

/* Waits, up to VHOST_ASYNC_ORDER_WAIT_MS, until 'vring' has no copy in
 * flight, reaping through every device.  Returns true if it has none, and
 * sets '*waited' if it had to wait. */
bool
wait_tx_idle(vhost_async_port *port, struct async_vring &vr, int vid,
             uint16_t vring, bool *waited)
{
    *waited = false;
    if (tx_idle(vr, vid, vring)) {
        return true;
    }

    long long deadline = time_msec() + VHOST_ASYNC_ORDER_WAIT_MS;
    for (;;) {
        if (!poll_tx_all(port, vid, vring)) {
            /* Nothing came back: let the threads that complete the copies
             * run (a software DMA engine's thread may share this CPU). */
            xnanosleep_no_quiesce(20 * 1000);
        }
        if (tx_idle(vr, vid, vring)) {
            *waited = true;
            return true;
        }
        if (time_msec() >= deadline) {
            return false;
        }
    }
}

/* A CPU burst of vhost-async-min-frame-size=auto waits this many polls of
 * the sender's device, at most, for the vring to empty. */
constexpr int settle_polls = 64;

/* Reaps 'vring' through the sender's device 'dma' until it has no copy in
 * flight, for at most settle_polls polls, if the calling thread has copies
 * of its own there (it cannot reap other threads').  Asks vhost only after
 * a poll that took something back.  Returns true if the vring is empty. */
bool
settle_tx(vhost_async_port *port, struct async_vring &vr, int vid,
          uint16_t vring, int dma)
{
    bool own =
        std::any_of(pmd.tx.begin(), pmd.tx.end(), [&](const listed_vring &e) {
            return e.port == port && e.vring == vring && e.ask_after;
        });
    if (!own) {
        return false;
    }
    for (int i = 0; i < settle_polls; i++) {
        if (poll_tx(port, vid, vring, dma) && tx_idle(vr, vid, vring)) {
            return true;
        }
    }
    return tx_idle(vr, vid, vring);
}

/* Fences for the handoff below, asymmetric: the poller's side runs on every
 * burst and the callbacks' side only when a vring is drained, so the poller
 * orders its store and load with a compiler barrier only, and a callback,
 * between its store and its load, makes every running thread of the process
 * execute a full barrier (membarrier(2)'s private expedited command; the
 * threads not running pass one as they are switched in).  Without
 * membarrier (kernels before 4.14), both sides use a full fence. */
bool
membarrier_ready()
{
#if defined(__linux__) && defined(__NR_membarrier)
    static const bool ready = [] {
        long cmds = syscall(__NR_membarrier, MEMBARRIER_CMD_QUERY, 0);

        return cmds >= 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
               !syscall(__NR_membarrier,
                        MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0);
    }();
    return ready;
#else
    return false;
#endif
}

void
light_fence()
{
    if (OVS_LIKELY(membarrier_ready())) {
        std::atomic_signal_fence(std::memory_order_seq_cst);
    } else {
        std::atomic_thread_fence(std::memory_order_seq_cst);
    }
}

void
heavy_fence()
{
#if defined(__linux__) && defined(__NR_membarrier)
    if (membarrier_ready()) {
        /* The pollers count on it: a full fence here alone would not do.
         * The kernel fails it only when short of memory. */
        for (int tries = 0;; tries++) {
            if (!syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED,
                         0)) {
                return;
            }
            if (tries == 1000) {
                ovs_abort(errno, "membarrier(MEMBARRIER_CMD_PRIVATE_"
                                 "EXPEDITED) keeps failing");
            }
            xnanosleep_no_quiesce(1000 * 1000);
        }
    }
#endif
    std::atomic_thread_fence(std::memory_order_seq_cst);
}

/* The thread that polls receive vring 'vr' is in a section of its own
 * between poll_begin() and poll_end(): a vhost callback that took packets
 * back waits for the section to end before it lets vhost go on, so that a
 * poller that did not see them cannot get later packets from vhost first.
 * Each side stores, fences, then loads what the other stores (the poller
 * 'polling', then 'n_drained'; the callback the reverse), so that one of
 * the two sees the other.  On entry, the poller moves what the callbacks
 * took back to the end of what it holds. */
void
poll_begin(struct async_vring &vr)
{
    vr.polling.store(true, std::memory_order_relaxed);
    light_fence();
    if (OVS_UNLIKELY(vr.n_drained.load(std::memory_order_relaxed) !=
                     vr.seen_drained)) {
        std::lock_guard<std::mutex> lock(vr.drained_mutex);

        vr.held.insert(vr.held.end(), vr.drained.begin(), vr.drained.end());
        vr.drained.clear();
        vr.seen_drained = vr.n_drained.load(std::memory_order_relaxed);
        vr.n_held.store(vr.held.size() - vr.held_head,
                        std::memory_order_relaxed);
        vr.n_absorbed.store(vr.seen_drained, std::memory_order_relaxed);
        /* A callback takes back everything in flight. */
        vr.inflight = 0;
    }
}

void
poll_end(struct async_vring &vr)
{
    vr.polling.store(false, std::memory_order_release);
}

/* Waits, after the callback's store of 'n_drained', until the thread that
 * polls 'vr' (if any) is out of its section.  It cannot be waiting for
 * anything the caller holds: in its section it only try-locks the vring. */
void
wait_poller_out(struct async_vring &vr)
{
    heavy_fence();
    while (vr.polling.load(std::memory_order_acquire)) {
        rte_pause();
    }
}

/* Moves up to 'n' packets that 'vr' holds to 'pkts', as the poller.
 * Returns their number. */
int
pop_held(vhost_async_port *port, struct async_vring &vr, rte_mbuf **pkts,
         int n)
{
    int k = std::min<size_t>(n, vr.held.size() - vr.held_head);

    std::copy(vr.held.begin() + vr.held_head,
              vr.held.begin() + vr.held_head + k, pkts);
    vr.held_head += k;
    if (vr.held_head == vr.held.size()) {
        vr.held.clear();
        vr.held_head = 0;
    }
    vr.n_held.store(vr.held.size() - vr.held_head, std::memory_order_relaxed);
    port->count(DIR_RX, CTR_COMPLETED, k);
    return k;
}

/* Takes back, as the poller, the packets from the guest of 'vring' whose
 * copies are complete, reaping device 'dma' (every device if -1), into
 * what 'vr' holds.  Returns how many it took. */
int
take_back_rx(int vid, uint16_t vring, struct async_vring &vr, int dma)
{
    size_t n_devs = dma >= 0 ? 1 : dpdk_dma_n_devices();
    rte_mbuf *pkts[burst_size];
    int total = 0;

    for (size_t i = 0; i < n_devs; i++) {
        int dev = dma >= 0 ? dma : dpdk_dma_device_id(i);
        int n;

        do {
            n = checked(
                rte_vhost_clear_queue(vid, vring, pkts, burst_size, dev, 0),
                burst_size);
            vr.held.insert(vr.held.end(), pkts, pkts + n);
            total += n;
        } while (n == burst_size);
    }
    vr.n_held.store(vr.held.size() - vr.held_head, std::memory_order_relaxed);
    vr.inflight -= std::min(total, vr.inflight);
    return total;
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

/* The size class of a burst of 'cnt' packets to a guest, for
 * vhost-async-min-frame-size=auto: by its bytes per copy, a segment being a
 * copy.  Stores the number of copies in '*copies'. */
unsigned int
burst_class(rte_mbuf *const *pkts, int cnt, unsigned int *copies)
{
    uint64_t bytes = 0;
    unsigned int segs = 0;

    for (int i = 0; i < cnt; i++) {
        bytes += pkts[i]->pkt_len;
        segs += pkts[i]->nb_segs;
    }
    *copies = segs;
    return vhost_async_size_class(segs ? bytes / segs : 0);
}

/* The copies of the first 'sent' of 'cnt' packets that need 'copies'. */
unsigned int
copies_of(int sent, int cnt, unsigned int copies)
{
    return sent == cnt ? copies : (uint64_t{copies} * sent + cnt - 1) / cnt;
}

/* Folds the lengths of the 'n' frames received on 'vr' into its moving
 * average (over about 8 bursts) and updates 'vr.rx_short'. */
void
track_length(struct async_vring &vr, rte_mbuf *const *pkts, int n,
             unsigned int min)
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

    vr.len_avg += avg16 - vr.len_avg / 8;
    vr.rx_short = vr.len_avg / 8 < uint64_t{min} * 16;
}

/* Names the devices that hold copies, with their counts, for a warning. */
std::string
devices_holding_copies()
{
    std::string s;
    size_t n_devs = dpdk_dma_n_devices();

    for (size_t i = 0; i < n_devs; i++) {
        int id = dpdk_dma_device_id(i);
        uint64_t n;

        if (!dpdk_dma_device_inflight(id, &n) && n) {
            s += s.empty() ? "" : ", ";
            s += std::string(dpdk_dma_device_name(id)) + " (" +
                 std::to_string(n) + ")";
        }
    }
    return s.empty() ? "none by their counters" : s;
}

/* Each DMA device's count of the copies it was given, for
 * devices_caught_up(). */
std::vector<uint64_t>
devices_submitted()
{
    size_t n_devs = dpdk_dma_n_devices();
    std::vector<uint64_t> v(n_devs, 0);

    for (size_t i = 0; i < n_devs; i++) {
        if (dpdk_dma_device_counts(dpdk_dma_device_id(i), &v[i], nullptr)) {
            v[i] = 0;
        }
    }
    return v;
}

/* Whether every DMA device has completed, by its own counters, as many
 * copies as 'submitted' says it had been given: every copy made before is
 * done.  A device whose counters cannot be read is taken as done. */
bool
devices_caught_up(const std::vector<uint64_t> &submitted)
{
    for (size_t i = 0; i < submitted.size(); i++) {
        uint64_t completed;

        if (!dpdk_dma_device_counts(dpdk_dma_device_id(i), nullptr,
                                    &completed) &&
            completed < submitted[i]) {
            return false;
        }
    }
    return true;
}

/* Waits a little in a loop that waits for DMA devices: spins first, then
 * sleeps, without quiescing. */
void
backoff(long long start)
{
    if (time_msec() - start < 2) {
        rte_pause();
    } else {
        xnanosleep_no_quiesce(20 * 1000);
    }
}

/* vhost's count of copies in flight on 'vring' of guest 'vid', or -1 if
 * vhost cannot say: the vring's memory is not mapped any more.  vhost only
 * try-locks the vring, and a busy one is asked again. */
int
inflight_of(int vid, uint16_t vring)
{
    int n = -1;

    for (int i = 0; i < 100 && n < 0; i++) {
        n = rte_vhost_async_get_inflight(vid, vring);
    }
    return n;
}

/* Unregisters the async channel of 'vring' of guest 'vid'.  vhost refuses
 * while copies are in flight, and while another thread holds the vring for
 * a moment.  Returns true if it is unregistered. */
bool
try_unregister(int vid, uint16_t vring)
{
    for (int i = 0; i < 100; i++) {
        if (!rte_vhost_async_channel_unregister(vid, vring)) {
            return true;
        }
    }
    return false;
}

/* Takes back, through every DMA device, what vhost has completed on
 * 'vring' of guest 'vid', which is gone: frees it and counts it as cleared
 * on 'port'.  Returns how many. */
int
clear_pass(vhost_async_port *port, int vid, uint16_t vring)
{
    size_t n_devs = dpdk_dma_n_devices();
    int total = 0;

    for (size_t i = 0; i < n_devs; i++) {
        rte_mbuf *pkts[burst_size];
        int n;

        do {
            n = checked(rte_vhost_clear_queue(vid, vring, pkts, burst_size,
                                              dpdk_dma_device_id(i), 0),
                        burst_size);
            rte_pktmbuf_free_bulk(pkts, n);
            port->count(vring_dir(vring), CTR_CLEARED, n);
            total += n;
        } while (n == burst_size);
    }
    return total;
}

/* Clears 'vring' (that is 'vr') of 'port', whose guest 'vid' is gone, every
 * copy through every device, then unregisters its async channel: waits,
 * however long it takes, until vhost has no copy in flight on it.  No
 * thread submits copies to the vring any more.  The waiting thread passes
 * quiescent points (it holds nothing that RCU protects): a stuck device
 * holds up this guest only.
 *
 * When the guest unmapped the vring, vhost neither says what is in flight
 * on it nor unregisters its channel (it frees it with the device).  Then
 * the copies the devices were given before the teardown began are waited
 * for by the devices' own counters, and once they are all done, one more
 * pass through every device takes back the last of them: vhost reaps all
 * that a device completed in one call. */
void
clear_gone(vhost_async_port *port, struct async_vring &vr, int vid,
           uint16_t vring)
{
    const std::vector<uint64_t> submitted = devices_submitted();
    long long start = time_msec();
    long long next_warn = start + warn_interval_ms;

    for (;;) {
        bool caught_up = devices_caught_up(submitted);
        int progress = clear_pass(port, vid, vring);
        int left = inflight_of(vid, vring);

        if (!left) {
            /* PMD threads stop polling it before vhost frees its state. */
            vr.registered.store(false, std::memory_order_release);
            if (try_unregister(vid, vring)) {
                return;
            }
        } else if (left < 0 && caught_up && !progress) {
            vr.registered.store(false, std::memory_order_release);
            vr.stale_channel = !try_unregister(vid, vring);
            return;
        }
        if (!progress) {
            long long now = time_msec();

            if (now >= next_warn) {
                next_warn = now + warn_interval_ms;
                VLOG_WARN(
                    "%s: the guest is gone with %s copies in flight "
                    "on vring %u after %lld ms; waiting for the DMA "
                    "devices that hold copies: %s.",
                    port->name.c_str(),
                    left < 0 ? "uncounted" : std::to_string(left).c_str(),
                    vring, now - start, devices_holding_copies().c_str());
            }
            if (!ovsrcu_is_quiescent()) {
                ovsrcu_quiesce();
            }
            backoff(start);
        }
    }
}

/* Waits until no PMD thread lists a vring of 'port'. */
void
wait_unlisted(vhost_async_port *port)
{
    long long start = time_msec();

    while (port->n_listed.load(std::memory_order_acquire)) {
        if (!ovsrcu_is_quiescent()) {
            ovsrcu_quiesce();
        }
        backoff(start);
    }
}

/* Takes back, through DMA device 'dma', the packets from the guest of
 * 'vring' whose copies are complete, when the guest is going: they are
 * freed and counted as cleared.  The vring's poller state is left to the
 * teardown. */
void
clear_rx_going(vhost_async_port *port, int vid, uint16_t vring, int dma)
{
    rte_mbuf *pkts[burst_size];
    int n;

    do {
        n = checked(
            rte_vhost_clear_queue(vid, vring, pkts, burst_size, dma, 0),
            burst_size);
        rte_pktmbuf_free_bulk(pkts, n);
        port->count(DIR_RX, CTR_CLEARED, n);
    } while (n == burst_size);
}

/* The PMD thread's drain: reaps through its device, quiescing while it
 * waits, until the device holds nothing by its own counters and no receive
 * vring it polls has a copy in flight.  Vrings of a guest that is going are
 * polled too while vhost still holds them, so that the device empties
 * without waiting for the teardown (which may be waiting for RCU while the
 * main thread waits for this thread's reload).  A vring to the guest whose
 * last copies came from other threads' devices is not waited for: they
 * keep it listed. */
void
pmd_drain()
{
    long long start = time_msec();
    long long next_warn = start + warn_interval_ms;
    bool warned_counters = false;
    int dma = pmd.dma;

    if (dma < 0) {
        ovs_assert(pmd.tx.empty() && pmd.rx.empty());
        return;
    }
    for (;;) {
        /* The device's count first: once it holds nothing, the polls below
         * see every copy it made complete. */
        uint64_t dev_left;
        int err = dpdk_dma_device_inflight(dma, &dev_left);
        std::string busy;

        for (size_t i = 0; i < pmd.tx.size();) {
            listed_vring &e = pmd.tx[i];

            if (!e.live()) {
                unlist(pmd.tx, i);
                continue;
            }
            poll_tx(e.port, e.vid, e.vring, dma,
                    e.valid() ? CTR_COMPLETED : CTR_CLEARED);
            if (!rte_vhost_async_get_inflight(e.vid, e.vring)) {
                unlist(pmd.tx, i);
                continue;
            }
            if (err) {
                /* Without the device's counters, vhost's say when. */
                busy +=
                    " " + e.port->name + " vring " + std::to_string(e.vring);
            }
            i++;
        }
        for (size_t i = 0; i < pmd.rx.size();) {
            listed_vring &e = pmd.rx[i];
            struct async_vring &vr = *e.port->get_vring(e.vring);

            if (!e.live()) {
                unlist(pmd.rx, i);
                continue;
            } else if (!e.valid()) {
                clear_rx_going(e.port, e.vid, e.vring, dma);
                i++;
                continue;
            }
            poll_begin(vr);
            take_back_rx(e.vid, e.vring, vr, dma);
            if (!vr.inflight) {
                vr.listed = false;
            }
            poll_end(vr);
            if (!vr.listed) {
                unlist(pmd.rx, i);
                continue;
            }
            busy += " " + e.port->name + " vring " + std::to_string(e.vring);
            i++;
        }

        if (busy.empty() && (err || !dev_left)) {
            /* Takes back what the device completed, while it is still the
             * thread's: it may go to another thread after this. */
            for (auto &e : pmd.tx) {
                if (e.live()) {
                    while (poll_tx(e.port, e.vid, e.vring, dma,
                                   e.valid() ? CTR_COMPLETED : CTR_CLEARED)) {
                        continue;
                    }
                }
            }
            break;
        }
        if (err && !warned_counters) {
            warned_counters = true;
            VLOG_WARN("PMD thread on core %u cannot read the counters of DMA "
                      "device %s (%s): it waits for vhost's counts only.",
                      pmd.core_id, dpdk_dma_device_name(dma),
                      ovs_strerror(err));
        }

        /* A guest teardown may be waiting for RCU. */
        ovsrcu_quiesce();
        long long now = time_msec();
        if (now >= next_warn) {
            next_warn = now + warn_interval_ms;
            VLOG_WARN("PMD thread on core %u waits for DMA device %s after "
                      "%lld ms: %s in flight on it; vrings not empty:%s.",
                      pmd.core_id, dpdk_dma_device_name(dma), now - start,
                      err ? "unknown" : std::to_string(dev_left).c_str(),
                      busy.empty() ? " none" : busy.c_str());
        }
        backoff(start);
    }
}

/* After a drain, when the thread has let its device go: forgets the
 * vrings it lists.  What other threads' devices still hold on a vring, they
 * reap.  Every receive vring is empty: the next thread that polls one
 * starts afresh. */
void
pmd_forget()
{
    while (!pmd.tx.empty()) {
        unlist(pmd.tx, 0);
    }
    while (!pmd.rx.empty()) {
        listed_vring &e = pmd.rx[0];

        if (e.valid()) {
            e.port->get_vring(e.vring)->listed = false;
        }
        unlist(pmd.rx, 0);
    }
}

/* Drains 'vring' of guest 'vid' from a vhost callback or message hook,
 * which holds every vring's lock: completes every copy in flight on it,
 * through every device, however long it takes.  Copies to the guest are
 * complete once vhost gives them back; packets from the guest go to the
 * thread that polls the vring.  'what' says what happens, for a warning. */
void
drain_locked(int vid, uint16_t vring, const char *what)
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
    vhost_async_port *port = vring < max_vrings ? port_by_vid(vid) : nullptr;
    struct async_vring *vr = port ? port->get_vring(vring) : nullptr;

    if (!vr || !vr->registered.load(std::memory_order_acquire)) {
        if (port) {
            port->unref();
        }
        return;
    }

    direction d = vring_dir(vring);
    std::vector<rte_mbuf *> taken;
    long long start = time_msec();
    long long next_warn = start + warn_interval_ms;
    int left = rte_vhost_async_get_inflight_thread_unsafe(vid, vring);

    if (left < 0) {
        VLOG_WARN_RL(&rl,
                     "%s: vring %u %s while its lock is not held: its "
                     "copies cannot be drained now.",
                     port->name.c_str(), vring, what);
    }
    while (left > 0) {
        size_t n_devs = dpdk_dma_n_devices();
        int progress = 0;

        for (size_t i = 0; i < n_devs; i++) {
            rte_mbuf *pkts[burst_size];
            int n;

            do {
                n = checked(rte_vhost_clear_queue_thread_unsafe(
                                vid, vring, pkts, burst_size,
                                dpdk_dma_device_id(i), 0),
                            burst_size);
                if (d == DIR_TX) {
                    tx_done(port, pkts, n);
                } else {
                    taken.insert(taken.end(), pkts, pkts + n);
                }
                progress += n;
            } while (n == burst_size);
        }
        left = rte_vhost_async_get_inflight_thread_unsafe(vid, vring);
        if (left > 0 && !progress) {
            long long now = time_msec();

            if (now >= next_warn) {
                next_warn = now + warn_interval_ms;
                VLOG_WARN("%s: vring %u %s with %d copies in flight after "
                          "%lld ms; waiting for the DMA devices that hold "
                          "copies: %s.",
                          port->name.c_str(), vring, what, left, now - start,
                          devices_holding_copies().c_str());
            }
            backoff(start);
        }
    }

    if (!taken.empty()) {
        {
            std::lock_guard<std::mutex> lock(vr->drained_mutex);

            vr->drained.insert(vr->drained.end(), taken.begin(), taken.end());
            vr->n_drained.store(vr->n_drained.load(std::memory_order_relaxed) +
                                    taken.size(),
                                std::memory_order_seq_cst);
        }
        /* A poller that looked before the store above must not get later
         * packets from vhost first: it cannot while this holds the lock. */
        wait_poller_out(*vr);
    }
    port->unref();
}

/* Whether the guest has set up 'vring' of guest 'vid': its rings and its
 * size (vhost reads them without a lock). */
bool
vring_ready(int vid, uint16_t vring)
{
    struct rte_vhost_vring v;

    return !rte_vhost_get_vhost_vring(vid, vring, &v) && v.desc && v.avail &&
           v.used && v.size;
}

/* Registers an async channel on 'vring' (that is 'vr') of 'port''s guest
 * 'vid', from a vhost callback that holds every vring lock if 'locked'.  A
 * vring that the guest has not set up yet is left for later, when it
 * enables it.  Returns true if the vring has a channel. */
bool
register_channel(vhost_async_port *port, struct async_vring &vr, int vid,
                 uint16_t vring, bool locked)
{
    if (!vring_ready(vid, vring)) {
        VLOG_DBG("%s: vring %u is not set up yet: it gets an async channel "
                 "once the guest enables it.",
                 port->name.c_str(), vring);
        return false;
    }
    if (vr.stale_channel) {
        /* Nothing is in flight on it. */
        vr.stale_channel = false;
        if (locked) {
            rte_vhost_async_channel_unregister_thread_unsafe(vid, vring);
        } else {
            rte_vhost_async_channel_unregister(vid, vring);
        }
    }

    int err = locked
                  ? rte_vhost_async_channel_register_thread_unsafe(vid, vring)
                  : rte_vhost_async_channel_register(vid, vring);
    if (err) {
        VLOG_WARN("%s: could not register an async channel on vring %u: it "
                  "copies with the CPU.",
                  port->name.c_str(), vring);
        return false;
    }
    vr.registered.store(true, std::memory_order_release);
    return true;
}

/* Registers an async channel on 'vring' of guest 'vid', which the guest
 * enabled after it was attached (a queue of a multiqueue guest that it
 * enables later), or enabled again.  vhost calls this holding every vring's
 * lock, so no thread is inside a copy on the vring, and no thread polls it
 * asynchronously: the poller's state starts afresh. */
void
register_late(int vid, uint16_t vring)
{
    vhost_async_port *port = vring < max_vrings ? port_by_vid(vid) : nullptr;

    if (!port) {
        return;
    }

    struct async_vring &vr = port->make_vring(vring);
    if (!vr.registered.load(std::memory_order_relaxed) &&
        !port->tearing.load(std::memory_order_relaxed) &&
        port->vid.load(std::memory_order_relaxed) == vid) {
        vr.reset_poller();
        if (register_channel(port, vr, vid, vring, true)) {
            VLOG_INFO("%s: vring %u uses DMA copies.", port->name.c_str(),
                      vring);
        }
    }
    port->unref();
}

/* vhost-user's VHOST_USER_SET_VRING_ENABLE, and the layout of a message as
 * the vhost-user protocol defines it: a 12-byte header (request, flags,
 * size), then the payload, here a vring state (index, num). */
constexpr uint32_t vhost_user_set_vring_enable = 18;
struct vhost_user_state_msg {
    uint32_t request;
    uint32_t flags;
    uint32_t size;
    uint32_t index;
    uint32_t num;
};
static_assert(offsetof(vhost_user_state_msg, index) == 12 &&
                  sizeof(vhost_user_state_msg) == 20,
              "a vhost-user message header is 12 bytes");

/* Called by vhost before it handles each message from the guest, holding
 * every vring's lock for the messages that change them.  A vring that the
 * guest disables is drained here, while it is still enabled: once it is
 * disabled, vhost frees the packets of the copies it completes without
 * putting them in the used ring, and the guest never sees them (a
 * virtio-user guest disables its vrings whenever its memory map changes). */
enum rte_vhost_msg_result
pre_message(int vid, void *msg_)
{
    const struct vhost_user_state_msg *msg =
        static_cast<const struct vhost_user_state_msg *>(msg_);

    if (msg->request == vhost_user_set_vring_enable && !msg->num &&
        msg->index < max_vrings) {
        drain_locked(vid, msg->index, "is being disabled");
    }
    return RTE_VHOST_MSG_RESULT_NOT_HANDLED;
}

/* Offers DMA device 'dev_id' to vhost (dpdk-dma.h's attach function). */
const char *
attach_device(int dev_id)
{
    if (dev_id >= RTE_DMADEV_DEFAULT_MAX) {
        return "its id is beyond vhost's limit of " OVS_STRINGIZE(
            RTE_DMADEV_DEFAULT_MAX) " devices";
    }
    /* vhost says only that it failed, with -1, and logs why. */
    if (rte_vhost_async_dma_configure(dev_id, 0)) {
        return "vhost refused it (see the VHOST_CONFIG log)";
    }
    return nullptr;
}

/* Returns 1 for "true", 0 for "false" (in any case, like smap_get_bool()),
 * or -1. */
int
parse_bool(const char *value)
{
    if (!strcasecmp(value, "true")) {
        return 1;
    } else if (!strcasecmp(value, "false")) {
        return 0;
    }
    return -1;
}

/* Largest other_config:vhost-async-min-frame-size: longer than any frame. */
constexpr unsigned int max_min_frame_size = 65535;

/* The value of other_config:vhost-async-min-frame-size that 'size' is. */
std::string
min_frame_size_name(unsigned int size)
{
    return size == VHOST_ASYNC_MIN_FRAME_SIZE_AUTO ? "auto"
                                                   : std::to_string(size);
}

/* vhost-async/show: what the PMD threads learned of copy costs. */
void
unixctl_show(struct unixctl_conn *conn, int argc OVS_UNUSED,
             const char *argv[] OVS_UNUSED, void *aux OVS_UNUSED)
{
    unsigned int size = vhost_async_min_frame_size();
    struct ds ds = DS_EMPTY_INITIALIZER;

    ds_put_format(&ds, "vhost-async-support: %s\n",
                  vhost_async_enabled() ? "true" : "false");
    ds_put_format(&ds, "vhost-async-min-frame-size: %s\n",
                  min_frame_size_name(size).c_str());
    if (size == VHOST_ASYNC_MIN_FRAME_SIZE_AUTO) {
        vhost_async_size_format(&ds);
    }
    unixctl_command_reply(conn, ds_cstr(&ds));
    ds_destroy(&ds);
}

/* Applies other_config:vhost-async-min-frame-size from 'cfg', or keeps the
 * current value if it is invalid.  The value is logged when it changes
 * while vhost-async-support is on ('async_on'), and when that is turned on
 * ('turned_on'): with it off, the module stays silent. */
void
set_min_frame_size(const struct smap *cfg, bool async_on, bool turned_on)
{
    static std::string bad; /* Last invalid value logged (main thread). */
    const char *value = smap_get(cfg, "vhost-async-min-frame-size");
    unsigned int size = VHOST_ASYNC_MIN_FRAME_SIZE_DEFAULT;

    if (value && !strcmp(value, "auto")) {
        size = VHOST_ASYNC_MIN_FRAME_SIZE_AUTO;
    } else if (value && !(str_to_uint(value, 10, &size) &&
                          size <= max_min_frame_size)) {
        if (bad != value) {
            bad = value;
            VLOG_WARN(
                "other_config:vhost-async-min-frame-size has invalid "
                "value '%s': expected auto or a number of bytes from "
                "0 to %u; it stays %s.",
                value, max_min_frame_size,
                min_frame_size_name(vhost_async_min_frame_size()).c_str());
        }
        return;
    }
    bad.clear();
    if (async_on && (size != vhost_async_min_frame_size() || turned_on)) {
        VLOG_INFO("vhost-async-min-frame-size is %s: %s.",
                  min_frame_size_name(size).c_str(),
                  size == VHOST_ASYNC_MIN_FRAME_SIZE_AUTO
                      ? "each PMD thread learns which copies cost it less "
                        "by DMA (vhost-async/show)"
                  : size ? "shorter frames are copied with the CPU"
                         : "every frame is copied by DMA devices");
    }
    vhost_async_set_min_frame_size(size);
}

/* The largest DMA ring size: a device's ring index is 16 bits wide. */
constexpr unsigned int max_ring_size = 32768;

/* Returns other_config:vhost-async-dma-ring-size from 'cfg', or 0 (the
 * devices' default) if it is not set or invalid, which is logged.  DMA
 * devices are set up once, the first time 'async_on': a change after that
 * is logged as taking effect at the next start. */
unsigned int
ring_size(const struct smap *cfg, bool async_on)
{
    static std::string bad; /* Last invalid value logged (main thread). */
    static bool set_up;     /* Devices set up with 'requested'. */
    static unsigned int requested;
    const char *value = smap_get(cfg, "vhost-async-dma-ring-size");
    unsigned int size = 0;

    if (value && !(str_to_uint(value, 10, &size) && size &&
                   !(size & (size - 1)) && size <= max_ring_size)) {
        size = 0;
        if (bad != value) {
            bad = value;
            VLOG_WARN("other_config:vhost-async-dma-ring-size has invalid "
                      "value '%s': expected a power of 2 no greater than %u; "
                      "using the default.",
                      value, max_ring_size);
        }
    } else {
        bad.clear();
    }
    if (!set_up && async_on) {
        set_up = true;
        requested = size;
    } else if (set_up && size != requested) {
        requested = size;
        VLOG_INFO("other_config:vhost-async-dma-ring-size changed: DMA "
                  "devices are set up once, so it applies when ovs-vswitchd "
                  "restarts.");
    }
    return size;
}

/* Asks every port whose socket must be registered again to reconfigure. */
void
settings_changed()
{
    for (vhost_async_port *port : all_ports) {
        if (port->reregister_needed()) {
            /* netdev-dpdk registers the socket again when it reconfigures
             * the port, after the PMD threads let go of it. */
            seq_change(port->reconfigure_seq);
        } else if (port->socket_registered &&
                   (port->socket_conflicts || port->socket_vduse) &&
                   port->asks_async()) {
            port->warn_refused();
        }
    }
}

} // namespace

/* Configuration. */

void
vhost_async_set_config(const struct smap *ovs_other_config) noexcept
{
    static std::string bad; /* Last invalid value logged (main thread). */
    static bool registered = false;

    if (!registered) {
        registered = true;
        unixctl_command_register("vhost-async/show", "", 0, 0, unixctl_show,
                                 nullptr);
    }

    const char *value = smap_get(ovs_other_config, "vhost-async-support");
    bool was = async_enabled.load(std::memory_order_relaxed);
    bool enable = was;

    int parsed = value ? parse_bool(value) : 0;

    if (parsed >= 0) {
        enable = parsed;
        bad.clear();
    } else if (bad != value) {
        bad = value;
        VLOG_WARN("other_config:vhost-async-support has invalid value "
                  "'%s': expected true or false; it stays %s.",
                  value, was ? "true" : "false");
    }

    set_min_frame_size(ovs_other_config, enable, enable && !was);

    /* The devices first: a PMD thread that sees the option on must find
     * them in the pool. */
    dpdk_dma_set_config(enable, ring_size(ovs_other_config, enable),
                        attach_device);
    if (enable != was) {
        async_enabled.store(enable, std::memory_order_release);
        VLOG_INFO("vhost-async-support is %s: PMD threads %s DMA devices.",
                  enable ? "on" : "off", enable ? "claim" : "release");
        settings_changed();
    }
}

void
vhost_async_check_without_dpdk(const struct smap *ovs_other_config) noexcept
{
    static bool warned = false; /* Main thread only. */

    if (!smap_get_bool(ovs_other_config, "vhost-async-support", false)) {
        warned = false;
    } else if (!warned) {
        warned = true;
        VLOG_WARN("other_config:vhost-async-support is ignored: DPDK is not "
                  "initialized (see other_config:dpdk-init).");
    }
}

bool
vhost_async_enabled(void) noexcept
{
    return async_enabled.load(std::memory_order_acquire);
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

/* Port life cycle. */

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
        all_ports.erase(std::remove(all_ports.begin(), all_ports.end(), port),
                        all_ports.end());
        /* A guest still attached holds a reference until destroy_device(),
         * which unregistering the socket calls. */
        port->unref();
    }
}

void
vhost_async_port_set_options(struct vhost_async_port *port,
                             const struct smap *options,
                             bool only_ours) noexcept
{
    const char *value = smap_get(options, "vhost-async-support");
    int option = value ? parse_bool(value) : -1;

    if (only_ours) {
        std::string unknown;
        struct smap_node *node;

        SMAP_FOR_EACH(node, options)
        {
            if (strcmp(node->key, "vhost-async-support")) {
                unknown +=
                    std::string(unknown.empty() ? "" : ", ") + node->key;
            }
        }
        if (unknown != port->bad_keys) {
            port->bad_keys = unknown;
            if (!unknown.empty()) {
                VLOG_WARN("%s: options not known to a dpdkvhostuser port "
                          "are ignored: %s.",
                          port->name.c_str(), unknown.c_str());
            }
        }
    }

    if (value && option < 0) {
        /* Refusing the configuration would make the bridge delete the port
         * and detach its guest: keep the port as it is instead. */
        if (port->bad_option != value) {
            static const char *const names[] = {"unset", "false", "true"};
            int cur = port->option.load(std::memory_order_relaxed);

            port->bad_option = value;
            VLOG_WARN("%s: invalid options:vhost-async-support '%s' (use "
                      "'true' or 'false'); it stays %s.",
                      port->name.c_str(), value, names[cur + 1]);
        }
        return;
    }

    port->bad_option.clear();
    if (port->option.exchange(option, std::memory_order_relaxed) != option) {
        settings_changed();
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
vhost_async_socket_flags(struct vhost_async_port *port, const char *path,
                         uint64_t flags) noexcept
{
    static const char vduse_dir[] = "/dev/vduse/";

    port->socket_registered = true;
    port->socket_conflicts = flags & (RTE_VHOST_USER_IOMMU_SUPPORT |
                                      RTE_VHOST_USER_POSTCOPY_SUPPORT);
    port->socket_vduse =
        path && !strncmp(path, vduse_dir, sizeof vduse_dir - 1);
    port->socket_async.store(false, std::memory_order_release);
    if (!port->asks_async()) {
        return flags & ~RTE_VHOST_USER_ASYNC_COPY;
    }
    if (port->socket_conflicts || port->socket_vduse) {
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
vhost_async_port_custom_stats(const struct vhost_async_port *port, int vid,
                              struct netdev_custom_stats *stats) noexcept
{
    static const char *const dir_names[2] = {"tx", "rx"};
    static const char *const names[] = {
        "async_submitted",  "async_completed",        "async_inflight",
        "async_cleared",    "async_order_drops",      "async_order_waits",
        "cpu_copy_packets", "cpu_copy_short_packets",
    };
    constexpr size_t n_names = ARRAY_SIZE(names);

    if (!port || !port->socket_async.load(std::memory_order_acquire)) {
        return;
    }

    /* In flight: vhost's counts, and for packets from the guest, those
     * taken back and not yet returned. */
    uint64_t inflight[2] = {0, 0};
    for (int q = 0; q < max_vrings; q++) {
        const struct async_vring *vr = port->get_vring(q);

        if (!vr) {
            continue;
        }
        if (vid >= 0 && vr->registered.load(std::memory_order_acquire)) {
            int n = -1;

            /* vhost only try-locks the vring: a busy one is asked again. */
            for (int i = 0; i < 100 && n < 0; i++) {
                n = rte_vhost_async_get_inflight(vid, q);
            }
            inflight[vring_dir(q)] += std::max(n, 0);
        }
        if (vring_dir(q) == DIR_RX) {
            inflight[DIR_RX] +=
                vr->n_held.load(std::memory_order_relaxed) +
                (vr->n_drained.load(std::memory_order_relaxed) -
                 vr->n_absorbed.load(std::memory_order_relaxed));
        }
    }

    size_t base = stats->size;
    stats->counters = static_cast<netdev_custom_counter *>(xrealloc(
        stats->counters, (base + 2 * n_names) * sizeof *stats->counters));
    for (int d = 0; d < 2; d++) {
        direction dir = static_cast<direction>(d);
        const uint64_t values[n_names] = {
            port->total(dir, CTR_SUBMITTED),
            port->total(dir, CTR_COMPLETED),
            inflight[d],
            port->total(dir, CTR_CLEARED),
            port->total(dir, CTR_ORDER_DROPS),
            port->total(dir, CTR_ORDER_WAITS),
            port->total(dir, CTR_CPU),
            port->total(dir, CTR_CPU_SHORT),
        };

        for (size_t i = 0; i < n_names; i++) {
            if (d == DIR_RX && !strncmp(names[i], "async_order_", 12)) {
                /* Receiving never waits or drops for order: only the
                 * queue's poller copies from it. */
                continue;
            }
            netdev_custom_counter *ctr = &stats->counters[stats->size++];

            snprintf(ctr->name, sizeof ctr->name, "ovs_%s_%s", dir_names[d],
                     names[i]);
            ctr->value = values[i];
        }
    }
}

/* vhost callbacks. */

bool
vhost_async_new_device(struct vhost_async_port *port, int vid) noexcept
{
    int n_vrings = rte_vhost_get_vring_num(vid);
    int n_registered = 0;

    if (!port || !port->socket_async.load(std::memory_order_acquire)) {
        return false;
    }

    /* Registers the process for membarrier(2) once, before any thread can
     * poll a vring of this guest: a switch without async copies never
     * does. */
    membarrier_ready();
    n_vrings = std::min(n_vrings, max_vrings);
    for (int i = 0; i < n_vrings; i++) {
        struct async_vring &vr = port->make_vring(i);

        /* No thread polls the port: the poller's state starts afresh. */
        vr.reset_poller();
        if (register_channel(port, vr, vid, i, false)) {
            n_registered++;
        }
    }
    port->tearing.store(false, std::memory_order_relaxed);

    /* A new generation, even, then the vid (see listed_vring::live()). */
    uint64_t gen = port->gen.load(std::memory_order_relaxed);
    port->gen.store(gen + (gen % 2 ? 1 : 2), std::memory_order_release);
    port->vid.store(vid, std::memory_order_release);
    set_vid_port(vid, port);

    static const struct rte_vhost_user_extern_ops ops = {pre_message, nullptr};
    rte_vhost_extern_callback_register(vid, &ops, nullptr);

    VLOG_INFO("%s: %d of %d vrings use DMA copies%s.", port->name.c_str(),
              n_registered, n_vrings,
              n_registered < n_vrings ? "; the others once the guest enables "
                                        "them"
                                      : "");
    return true;
}

struct vhost_async_port *
vhost_async_stop_device(struct vhost_async_port *port) noexcept
{
    if (!port || port->vid.load(std::memory_order_acquire) < 0) {
        return nullptr;
    }

    /* Odd: the guest is going, and every list entry of its vrings stops
     * being valid. */
    uint64_t gen = port->gen.load(std::memory_order_relaxed);
    if (!(gen % 2)) {
        port->gen.store(gen + 1, std::memory_order_release);
    }
    port->ref();
    return port;
}

struct vhost_async_port *
vhost_async_stop_vid(int vid) noexcept
{
    vhost_async_port *port = port_by_vid(vid);
    vhost_async_port *stopped = vhost_async_stop_device(port);

    if (port) {
        port->unref();
    }
    return stopped;
}

void
vhost_async_destroy_device(struct vhost_async_port *port, int vid) noexcept
{
    uint64_t cleared = 0;

    if (!port) {
        return;
    }
    if (port->vid.load(std::memory_order_acquire) != vid ||
        port->tearing.exchange(true, std::memory_order_acq_rel)) {
        /* Another thread tears this device down, or did. */
        port->unref();
        return;
    }
    for (int d = 0; d < 2; d++) {
        cleared -= port->total(static_cast<direction>(d), CTR_CLEARED);
    }
    for (int i = 0; i < max_vrings; i++) {
        struct async_vring *vr = port->get_vring(i);

        if (!vr || !vr->registered.load(std::memory_order_acquire)) {
            continue;
        }
        clear_gone(port, *vr, vid, i);
        if (vring_dir(i) == DIR_RX) {
            port->free_held(*vr, true);
        }
    }
    for (int d = 0; d < 2; d++) {
        cleared += port->total(static_cast<direction>(d), CTR_CLEARED);
    }
    if (cleared) {
        VLOG_INFO("%s: %" PRIu64 " packets in flight were cleared as the "
                  "guest went away.",
                  port->name.c_str(), cleared);
    }

    /* PMD threads may still list the guest's vrings: once they see the vid
     * go, they drop their entries, and vhost may free the device once none
     * is left (each thread does so on its next poll or drain). */
    port->vid.store(-1, std::memory_order_release);
    set_vid_port(vid, nullptr);
    wait_unlisted(port);
    port->unref();
}

void
vhost_async_vring_state_changed(int vid, uint16_t vring, int enable) noexcept
{
    if (!enable) {
        drain_locked(vid, vring, "changes state");
    } else {
        register_late(vid, vring);
    }
}

int
vhost_async_unregister_socket(const char *path) noexcept
{
    bool quiescent = ovsrcu_is_quiescent();
    int err;

    if (!quiescent) {
        ovsrcu_quiesce_start();
    }
    err = rte_vhost_driver_unregister(path);
    if (!quiescent) {
        ovsrcu_quiesce_end();
    }
    return err;
}

/* Data path. */

int
vhost_async_send(struct vhost_async_port *port, int vid, uint16_t vring,
                 struct rte_mbuf **pkts, int cnt, int max_retries,
                 int *retries, int *n_unsent) noexcept
{
    static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);
    struct async_vring *vr = port->get_vring(vring);
    int dma = pmd.dma;
    int sent = 0;

    *retries = 0;
    if (!vr || !vr->registered.load(std::memory_order_acquire)) {
        /* No async channel: nothing can be in flight. */
        sent = cpu_enqueue(vid, vring, pkts, cnt, max_retries, retries);
        port->count(DIR_TX, CTR_CPU, sent);
        *n_unsent = cnt - sent;
        return 0; /* The caller frees them all: the copies are done. */
    }

    unsigned int min = min_frame_size.load(std::memory_order_relaxed);
    bool by_size = false;
    bool learn = false; /* vhost-async-min-frame-size=auto. */
    unsigned int cls = 0;
    unsigned int copies = 0;

    if (dma >= 0 && min) {
        if (min == VHOST_ASYNC_MIN_FRAME_SIZE_AUTO) {
            learn = true;
            cls = burst_class(pkts, cnt, &copies);
            by_size =
                !vhost_async_size_use_dma(pmd.size, VHOST_ASYNC_SIZE_TX, cls);
        } else {
            by_size = all_short(pkts, cnt, min);
        }
    }

    /* Without a device, or for short frames, the CPU copies, in order:
     * only once nothing is in flight. */
    if (dma < 0 || by_size) {
        bool waited = false;
        bool idle = dma < 0 ? wait_tx_idle(port, *vr, vid, vring, &waited)
                            : tx_idle(*vr, vid, vring);

        if (!idle && learn) {
            /* The copies ahead are a trial's, or the class just moved
             * to the CPU: reap them rather than let the whole queue stay
             * on the device for as long as the load keeps it busy. */
            idle = settle_tx(port, *vr, vid, vring, dma);
        }
        if (idle) {
            sent = cpu_enqueue(vid, vring, pkts, cnt, max_retries, retries);
            if (learn) {
                vhost_async_size_record(pmd.size, VHOST_ASYNC_SIZE_TX, cls,
                                        copies_of(sent, cnt, copies));
            }
            port->count(DIR_TX, CTR_CPU, sent);
            if (by_size) {
                port->count(DIR_TX, CTR_CPU_SHORT, sent);
            }
            if (waited) {
                port->count(DIR_TX, CTR_ORDER_WAITS, sent);
            }
            *n_unsent = cnt - sent;
            return 0;
        }
        if (dma < 0) {
            VLOG_WARN_RL(&rl,
                         "%s: copies in flight on vring %u did not "
                         "complete within %d ms: %d packets sent without a "
                         "DMA device are dropped to keep their order.",
                         port->name.c_str(), vring, VHOST_ASYNC_ORDER_WAIT_MS,
                         cnt);
            port->count(DIR_TX, CTR_ORDER_DROPS, cnt);
            *n_unsent = cnt;
            return 0;
        }
        /* Short frames behind copies in flight: the device takes them. */
    }

    uint64_t gen = port->gen.load(std::memory_order_acquire);
    int reaped = 0;
    for (;;) {
        int n = rte_vhost_submit_enqueue_burst(vid, vring, pkts + sent,
                                               cnt - sent, dma, 0);
        sent += n;
        if (sent == cnt || *retries >= max_retries) {
            break;
        }
        /* The ring is full: what the device finished frees room. */
        int k = poll_tx(port, vid, vring, dma);
        if (!k && !n) {
            break;
        }
        reaped += k;
        (*retries)++;
    }
    if (learn) {
        vhost_async_size_record(pmd.size, VHOST_ASYNC_SIZE_TX, cls,
                                copies_of(sent, cnt, copies));
    }
    if (sent) {
        listed_vring &e = list_vring(pmd.tx, port, gen, vid, vring);

        port->count(DIR_TX, CTR_SUBMITTED, sent);
        e.ask_after = std::min(
            std::max(1, std::max(e.ask_after, 0) + sent - reaped), ask_cap);
        e.idle = 0;
        e.stalled = 0;
        /* Not idle any more: the next sender without a device asks vhost. */
        vr->tx_submits++;
    }
    *n_unsent = cnt - sent;
    return sent;
}

int
vhost_async_recv(struct vhost_async_port *port, int vid, uint16_t vring,
                 struct rte_mempool *mp, struct rte_mbuf **pkts,
                 int n) noexcept
{
    struct async_vring *vr = port->get_vring(vring);
    int dma = pmd.dma;
    int got;

    if (!vr || !vr->registered.load(std::memory_order_acquire)) {
        return rte_vhost_dequeue_burst(vid, vring, mp, pkts, n);
    }

    poll_begin(*vr);
    if (OVS_UNLIKELY(vr->held_head < vr->held.size())) {
        /* What drains took back goes first. */
        got = pop_held(port, *vr, pkts, n);
        poll_end(*vr);
        return got;
    }

    unsigned int min = min_frame_size.load(std::memory_order_relaxed);
    bool by_size = false;
    bool learn = false; /* vhost-async-min-frame-size=auto. */
    unsigned int cls = 0;

    if (dma >= 0 && min) {
        if (min == VHOST_ASYNC_MIN_FRAME_SIZE_AUTO) {
            learn = true;
            cls = vhost_async_size_class(vr->len_avg / (8 * 16));
            by_size =
                !vhost_async_size_use_dma(pmd.size, VHOST_ASYNC_SIZE_RX, cls);
        } else {
            by_size = vr->rx_short;
        }
    }

    if (dma < 0 || by_size) {
        /* The CPU copies, in order: only once nothing is in flight.  What
         * is complete goes first; while copies are in flight, the queue
         * waits. */
        if (vr->inflight) {
            take_back_rx(vid, vring, *vr, dma);
            got = pop_held(port, *vr, pkts, n);
            if (learn) {
                vhost_async_size_record(pmd.size, VHOST_ASYNC_SIZE_RX, cls,
                                        got);
            }
        } else {
            got = rte_vhost_dequeue_burst(vid, vring, mp, pkts, n);
            if (learn && got) {
                vhost_async_size_record(pmd.size, VHOST_ASYNC_SIZE_RX, cls,
                                        got);
            }
            port->count(DIR_RX, CTR_CPU, got);
            if (by_size) {
                port->count(DIR_RX, CTR_CPU_SHORT, got);
            }
        }
        if (min && dma >= 0) {
            track_length(*vr, pkts, got, min);
        }
        poll_end(*vr);
        return got;
    }

    /* The generation before the copies: a guest that starts to go after
     * this clears them itself. */
    uint64_t gen = port->gen.load(std::memory_order_acquire);
    int nr_inflight = -1;
    got = rte_vhost_async_try_dequeue_burst(vid, vring, mp, pkts, n,
                                            &nr_inflight, dma, 0);
    if (min) {
        track_length(*vr, pkts, got, min);
    }
    int submitted = nr_inflight >= 0 ? nr_inflight - vr->inflight + got : 0;
    if (learn && (got || submitted > 0)) {
        /* A copy from a guest counts once, when it is delivered, as by the
         * CPU; an iteration that only submitted worked all the same. */
        vhost_async_size_record(pmd.size, VHOST_ASYNC_SIZE_RX, cls, got);
    }
    if (nr_inflight >= 0) {
        if (submitted > 0) {
            port->count(DIR_RX, CTR_SUBMITTED, submitted);
        }
        vr->inflight = nr_inflight;
        if (nr_inflight && !vr->listed) {
            vr->listed = true;
            list_vring(pmd.rx, port, gen, vid, vring);
        }
    }
    port->count(DIR_RX, CTR_COMPLETED, got);
    poll_end(*vr);
    return got;
}

/* PMD threads. */

void
vhost_async_pmd_reload(unsigned int core_id, int numa_id, bool busy) noexcept
{
    const char *idle = nullptr;
    if (!vhost_async_enabled()) {
        idle = "vhost-async-support is off";
    } else if (!busy) {
        idle = "no queue to poll";
    }
    int old = pmd.dma;

    pmd.core_id = core_id;
    pmd_drain();
    pmd.dma = dpdk_dma_pmd_update(core_id, numa_id, idle);
    if (old >= 0 && pmd.dma != old) {
        pmd_forget();
    }
    if (pmd.dma != old || (pmd.dma >= 0 && !pmd.size)) {
        /* What copies cost is learned afresh with another device. */
        vhost_async_size_destroy(pmd.size);
        pmd.size = pmd.dma >= 0
                       ? vhost_async_size_create(core_id, rte_get_tsc_hz())
                       : nullptr;
    }
}

void
vhost_async_pmd_exit(void) noexcept
{
    int old = pmd.dma;

    pmd_drain();
    dpdk_dma_pmd_exit();
    pmd.dma = -1;
    vhost_async_size_destroy(pmd.size);
    pmd.size = nullptr;
    if (old >= 0) {
        pmd_forget();
    }
}

bool
vhost_async_pmd_has_device(void) noexcept
{
    return pmd.dma >= 0;
}

/* Asks vhost what is in flight on listed transmit vring 'e', after the
 * thread took back all it thought it had there, or nothing for a while. */
void
ask_inflight(listed_vring &e)
{
    int left = rte_vhost_async_get_inflight(e.vid, e.vring);

    /* vhost says -1 if another thread holds the vring's lock (or the vring
     * is not usable now): ask again on the next poll. */
    e.ask_after = left < 0 ? -1 : std::min(left, ask_cap);
}

unsigned int
vhost_async_pmd_poll(uint64_t *cycles) noexcept
{
    uint64_t start = 0;

    if (pmd.size && min_frame_size.load(std::memory_order_relaxed) ==
                        VHOST_ASYNC_MIN_FRAME_SIZE_AUTO) {
        /* vhost-async-min-frame-size=auto: the thread calls this once per
         * iteration, which is the policy's clock. */
        start = rte_get_tsc_cycles();
        vhost_async_size_iteration(pmd.size, start);
    }
    if (pmd.tx.empty() && pmd.rx.empty()) {
        return 0;
    }

    if (cycles && !start) {
        start = rte_get_tsc_cycles();
    }
    unsigned int reaped = 0;

    /* Receive vrings are reaped as they are polled; the entries of a guest
     * whose teardown is done go, so that it need not wait for them. */
    for (size_t i = 0; i < pmd.rx.size();) {
        if (!pmd.rx[i].live()) {
            unlist(pmd.rx, i);
        } else {
            i++;
        }
    }
    for (size_t i = 0; i < pmd.tx.size();) {
        listed_vring &e = pmd.tx[i];

        if (!e.live()) {
            /* The guest's teardown cleared the vring. */
            unlist(pmd.tx, i);
            continue;
        }
        if (!e.ask_after) {
            /* Nothing in flight since vhost said so. */
            if (++e.idle >= idle_unlist) {
                unlist(pmd.tx, i);
            } else {
                i++;
            }
            continue;
        }

        enum counter ctr = e.valid() ? CTR_COMPLETED : CTR_CLEARED;
        int n = poll_tx(e.port, e.vid, e.vring, pmd.dma, ctr);

        reaped += n;
        if (n) {
            e.stalled = 0;
        }
        if (e.ask_after < 0 || n >= e.ask_after) {
            ask_inflight(e);
        } else if (n) {
            e.ask_after -= n;
        } else if (++e.stalled >= stall_sweep) {
            e.stalled = 0;
            reaped += poll_tx_all(e.port, e.vid, e.vring, ctr);
            ask_inflight(e);
        } else if (e.stalled % stall_ask == 0) {
            ask_inflight(e);
        }
        i++;
    }
    if (cycles) {
        *cycles += rte_get_tsc_cycles() - start;
    }
    return reaped;
}

bool
vhost_async_reload_needed(uint64_t *seq) noexcept
{
    return dpdk_dma_reload_needed(seq);
}

void
vhost_async_reload_wait(uint64_t seq) noexcept
{
    dpdk_dma_reload_wait(seq);
}
