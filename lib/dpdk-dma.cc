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

/* DMA devices and their owners: see dpdk-dma.h for what and why. */

#include <config.h>

#include "dpdk-dma.h"
#include "dpdk-dma-pool.h"

#include <atomic>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cinttypes>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <rte_dmadev.h>

#include "util.h"
extern "C" {
#include "seq.h" /* No C++ guard of its own. */
}
#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "timeval.h"
#include "unixctl.h"

VLOG_DEFINE_THIS_MODULE(dpdk_dma);

namespace {

/* Ring size of a device when its user does not ask for one (clamped to what
 * the device supports). */
constexpr unsigned int default_ring_size = 4096;

/* The largest ring size a device can have: nb_desc is 16 bits wide. */
constexpr unsigned int max_ring_size = 32768;

/* DPDK returns -errno; OVS speaks positive errno. */
int
to_errno(int rte_ret)
{
    return rte_ret < 0 ? -rte_ret : rte_ret;
}

bool
is_power_of_2(unsigned int x)
{
    return x && !(x & (x - 1));
}

} // namespace

/* A dmadev that EAL probed, usable or not, with the state of its claim. */
struct dma_device {
    enum state { DMA_FREE, DMA_CLAIMED, DMA_DISABLED };

    int id;
    std::string name;
    int numa;
    unsigned int ring_size = 0; /* 0 if unusable. */
    std::string unusable;       /* Why it cannot be used, or empty. */

    /* The claim: guarded by the pool's mutex. */
    state st = DMA_FREE;
    bool disabling = false;       /* Claimed, to be disabled on release. */
    unsigned int owner_core = 0;  /* Valid while claimed. */
    long long int claimed_at = 0; /* time_msec() of the current claim. */
    uint64_t n_claims = 0;
    uint64_t n_releases = 0;
    long long int owned_ms = 0; /* Total of the ended claims. */
};

/* A pool of DMA devices that threads claim.  The mutex guards the state of
 * every device's claim; the device list only grows (and not at all once
 * ovs-vswitchd's pool is set up), so device pointers stay valid for the
 * life of the pool. */
struct dpdk_dma_pool {
    mutable std::mutex mutex;
    std::vector<std::unique_ptr<dma_device>> devices;
    size_t n_claims = 0; /* Claims outstanding. */

    dma_device *
    find(const char *name) const
    {
        for (auto &dev : devices) {
            if (dev->name == name) {
                return dev.get();
            }
        }
        return nullptr;
    }

    /* Picks a free device, preferring 'numa_id', then an unknown node. */
    dma_device *
    pick(int numa_id)
    {
        dma_device *unknown = nullptr, *remote = nullptr;

        for (auto &dev : devices) {
            if (dev->st != dma_device::DMA_FREE || !dev->unusable.empty()) {
                continue;
            }
            if (dev->numa == numa_id) {
                return dev.get();
            } else if (dev->numa < 0 && !unknown) {
                unknown = dev.get();
            } else if (!remote) {
                remote = dev.get();
            }
        }
        return unknown ? unknown : remote;
    }

    void format_device(const dma_device &, struct ds *) const;
};

/* A claim on one device of a pool, held by one thread.  Destroying it gives
 * the device back (RAII): claims are only ever created by
 * dpdk_dma_pool_claim() and destroyed by dpdk_dma_claim_release() or by the
 * owning thread's exit. */
struct dpdk_dma_claim {
    dpdk_dma_claim(dpdk_dma_pool &pool_, dma_device &dev_)
        : pool(pool_), dev(dev_)
    {}

    ~dpdk_dma_claim()
    {
        std::lock_guard<std::mutex> lock(pool.mutex);

        ovs_assert(dev.st == dma_device::DMA_CLAIMED);
        dev.st =
            dev.disabling ? dma_device::DMA_DISABLED : dma_device::DMA_FREE;
        dev.disabling = false;
        dev.n_releases++;
        dev.owned_ms += time_msec() - dev.claimed_at;
        pool.n_claims--;
    }

    dpdk_dma_claim(const dpdk_dma_claim &) = delete;
    dpdk_dma_claim &operator=(const dpdk_dma_claim &) = delete;

    dpdk_dma_pool &pool;
    dma_device &dev;
};

void
dpdk_dma_pool::format_device(const dma_device &dev, struct ds *ds) const
{
    long long int owned = dev.owned_ms;

    ds_put_format(ds, "  %s (id %d, numa %d): ", dev.name.c_str(), dev.id,
                  dev.numa);
    if (!dev.unusable.empty()) {
        ds_put_format(ds, "unusable: %s\n", dev.unusable.c_str());
        return;
    }
    switch (dev.st) {
    case dma_device::DMA_FREE:
        ds_put_cstr(ds, "free");
        break;
    case dma_device::DMA_CLAIMED:
        ds_put_format(ds, "claimed by pmd on core %u", dev.owner_core);
        if (dev.disabling) {
            ds_put_cstr(ds, ", disabling");
        }
        owned += time_msec() - dev.claimed_at;
        break;
    case dma_device::DMA_DISABLED:
        ds_put_cstr(ds, "disabled");
        break;
    }
    ds_put_format(ds,
                  "\n    claims: %" PRIu64 ", releases: %" PRIu64
                  ", owned: %lld ms\n",
                  dev.n_claims, dev.n_releases, owned);
}

/* The C ABI of pools and claims. */

struct dpdk_dma_pool *
dpdk_dma_pool_create(void) noexcept
{
    return new dpdk_dma_pool;
}

void
dpdk_dma_pool_destroy(struct dpdk_dma_pool *pool) noexcept
{
    if (pool) {
        ovs_assert(!pool->n_claims);
        delete pool;
    }
}

int
dpdk_dma_pool_add(struct dpdk_dma_pool *pool, int dev_id, const char *name,
                  int numa_id) noexcept
{
    std::lock_guard<std::mutex> lock(pool->mutex);

    for (auto &dev : pool->devices) {
        if (dev->id == dev_id || dev->name == name) {
            return EEXIST;
        }
    }
    auto dev = std::make_unique<dma_device>();
    dev->id = dev_id;
    dev->name = name;
    dev->numa = numa_id;
    pool->devices.push_back(std::move(dev));
    return 0;
}

size_t
dpdk_dma_pool_n_free(const struct dpdk_dma_pool *pool) noexcept
{
    std::lock_guard<std::mutex> lock(pool->mutex);
    size_t n = 0;

    for (auto &dev : pool->devices) {
        n += dev->st == dma_device::DMA_FREE && dev->unusable.empty();
    }
    return n;
}

int
dpdk_dma_pool_claim(struct dpdk_dma_pool *pool, unsigned int core_id,
                    int numa_id, struct dpdk_dma_claim **claimp) noexcept
{
    std::lock_guard<std::mutex> lock(pool->mutex);
    dma_device *dev = pool->pick(numa_id);

    if (!dev) {
        *claimp = nullptr;
        return ENODEV;
    }
    dev->st = dma_device::DMA_CLAIMED;
    dev->owner_core = core_id;
    dev->claimed_at = time_msec();
    dev->n_claims++;
    pool->n_claims++;
    *claimp = new dpdk_dma_claim(*pool, *dev);
    return 0;
}

int
dpdk_dma_claim_release(struct dpdk_dma_claim **claimp) noexcept
{
    if (!*claimp) {
        return ENOENT;
    }
    delete *claimp;
    *claimp = nullptr;
    return 0;
}

int
dpdk_dma_claim_dev_id(const struct dpdk_dma_claim *claim) noexcept
{
    return claim->dev.id;
}

const char *
dpdk_dma_claim_dev_name(const struct dpdk_dma_claim *claim) noexcept
{
    return claim->dev.name.c_str();
}

bool
dpdk_dma_claim_revoked(const struct dpdk_dma_claim *claim) noexcept
{
    std::lock_guard<std::mutex> lock(claim->pool.mutex);
    return claim->dev.disabling;
}

int
dpdk_dma_pool_disable(struct dpdk_dma_pool *pool, const char *name) noexcept
{
    std::lock_guard<std::mutex> lock(pool->mutex);
    dma_device *dev = pool->find(name);

    if (!dev || !dev->unusable.empty()) {
        return ENOENT;
    }
    switch (dev->st) {
    case dma_device::DMA_FREE:
        dev->st = dma_device::DMA_DISABLED;
        return 0;
    case dma_device::DMA_CLAIMED:
        if (dev->disabling) {
            return EALREADY;
        }
        dev->disabling = true;
        return EINPROGRESS;
    case dma_device::DMA_DISABLED:
    default:
        return EALREADY;
    }
}

int
dpdk_dma_pool_enable(struct dpdk_dma_pool *pool, const char *name) noexcept
{
    std::lock_guard<std::mutex> lock(pool->mutex);
    dma_device *dev = pool->find(name);

    if (!dev || !dev->unusable.empty()) {
        return ENOENT;
    }
    if (dev->st == dma_device::DMA_DISABLED) {
        dev->st = dma_device::DMA_FREE;
        return 0;
    } else if (dev->disabling) {
        dev->disabling = false;
        return 0;
    }
    return EALREADY;
}

void
dpdk_dma_pool_format(const struct dpdk_dma_pool *pool, struct ds *ds) noexcept
{
    std::lock_guard<std::mutex> lock(pool->mutex);

    for (auto &dev : pool->devices) {
        pool->format_device(*dev, ds);
    }
}

/* ovs-vswitchd's DMA devices. */

namespace {

/* What a PMD thread has, for dpdk/dma-show. */
struct pmd_info {
    std::string device;      /* Empty for none. */
    std::string idle_reason; /* Why it wants none, or empty. */
    uint64_t n_fallbacks = 0;
};

/* PMD threads are listed by core, then by thread: two datapaths may each
 * have a PMD thread on the same core. */
using pmd_key = std::pair<unsigned int, const void *>;

/* The process's devices, pool and PMD threads.  It lives as long as the
 * process: PMD threads may still hold claims while static objects are
 * destroyed at exit. */
struct dma_manager {
    dma_manager() : reload_seq(seq_create()) {}

    void set_config(bool in_use, unsigned int ring_size,
                    dpdk_dma_attach_func *);
    void set_up_devices(unsigned int ring_size, dpdk_dma_attach_func *);
    std::string set_up_device(int16_t id, const struct rte_dma_info &,
                              unsigned int requested, unsigned int *ring);

    void set_pmd(const pmd_key &, const struct dpdk_dma_claim *,
                 const char *idle_reason, bool fell_back);
    void remove_pmd(const pmd_key &);
    bool any_pmd_on_cpu() const;
    void show(struct ds *, const char *name) const;
    const dma_device *device(const char *name) const;

    /* Main thread only. */
    bool registered = false;
    bool set_up = false;

    /* The pool, with every device that EAL probed, usable or not. */
    dpdk_dma_pool pool;

    /* The usable devices' ids: written by the main thread before it puts
     * the devices in use, read by any thread after. */
    std::vector<int> ready_ids;
    std::atomic<size_t> n_ready{0};

    std::atomic<bool> in_use{false};
    struct seq *reload_seq;

    /* Events of PMD threads for the coverage counters, which the main
     * thread adds up (see dpdk-dma-coverage.c). */
    std::atomic<unsigned int> n_no_free{0};
    std::atomic<unsigned int> n_cross_numa{0};

    mutable std::mutex pmds_mutex;
    std::map<pmd_key, pmd_info> pmds;
};

dma_manager &
manager()
{
    static dma_manager *m = new dma_manager;
    return *m;
}

void unixctl_show(struct unixctl_conn *, int argc, const char *argv[], void *);
void unixctl_disable(struct unixctl_conn *, int argc, const char *argv[],
                     void *);
void unixctl_enable(struct unixctl_conn *, int argc, const char *argv[],
                    void *);

void
dma_manager::set_config(bool use, unsigned int ring_size,
                        dpdk_dma_attach_func *attach)
{
    unsigned int no_free = n_no_free.exchange(0, std::memory_order_relaxed);
    unsigned int cross_numa =
        n_cross_numa.exchange(0, std::memory_order_relaxed);

    if (no_free || cross_numa) {
        dpdk_dma_coverage_add(no_free, cross_numa);
    }

    if (!registered) {
        registered = true;
        unixctl_command_register("dpdk/dma-show", "[device]", 0, 1,
                                 unixctl_show, nullptr);
        unixctl_command_register("dpdk/dma-disable", "device", 1, 1,
                                 unixctl_disable, nullptr);
        unixctl_command_register("dpdk/dma-enable", "device", 1, 1,
                                 unixctl_enable, nullptr);
    }

    if (use && !set_up) {
        /* Devices first: a PMD thread that sees them in use must find them
         * in the pool. */
        set_up = true;
        set_up_devices(ring_size, attach);
    }

    if (use != in_use.load(std::memory_order_relaxed)) {
        /* Release: the devices set up above are in the pool for any thread
         * that sees them in use. */
        in_use.store(use, std::memory_order_release);
        seq_change(reload_seq);
    }
}

void
dma_manager::set_up_devices(unsigned int ring_request_,
                            dpdk_dma_attach_func *attach)
{
    int16_t id;

    RTE_DMA_FOREACH_DEV(id)
    {
        auto dev = std::make_unique<dma_device>();
        struct rte_dma_info info;
        int err;

        memset(&info, 0, sizeof info);
        err = to_errno(rte_dma_info_get(id, &info));
        dev->id = id;
        dev->name = err || !info.dev_name ? "dmadev" + std::to_string(id)
                                          : info.dev_name;
        dev->numa = info.numa_node;

        if (err) {
            dev->unusable = std::string("cannot get its information: ") +
                            ovs_strerror(err);
        } else if (!(info.dev_capa & RTE_DMA_CAPA_MEM_TO_MEM)) {
            dev->unusable = "it cannot copy memory to memory";
        } else if (!(info.dev_capa & RTE_DMA_CAPA_OPS_COPY)) {
            dev->unusable = "it has no copy operation";
        } else if (!info.max_vchans) {
            dev->unusable = "it has no virtual channel";
        } else {
            dev->unusable =
                set_up_device(id, info, ring_request_, &dev->ring_size);
            if (dev->unusable.empty()) {
                const char *refused = attach(id);

                if (refused) {
                    /* It was started: it stays so, unused. */
                    dev->unusable = refused;
                }
            }
        }

        if (dev->unusable.empty()) {
            VLOG_INFO("DMA device %s (id %d, numa %d) is ready for vhost "
                      "copies, ring size %u.",
                      dev->name.c_str(), dev->id, dev->numa, dev->ring_size);
            ready_ids.push_back(id);
        } else {
            dev->ring_size = 0;
            VLOG_WARN("DMA device %s (id %d) cannot be used: %s.",
                      dev->name.c_str(), dev->id, dev->unusable.c_str());
        }
        std::lock_guard<std::mutex> lock(pool.mutex);
        pool.devices.push_back(std::move(dev));
    }
    n_ready.store(ready_ids.size(), std::memory_order_release);

    if (ready_ids.empty()) {
        VLOG_INFO("No usable DMA device: PMD threads copy vhost packets "
                  "with the CPU.");
    }
}

/* Configures and starts device 'id'.  Returns "" on success, otherwise why
 * it cannot be used. */
std::string
dma_manager::set_up_device(int16_t id, const struct rte_dma_info &info,
                           unsigned int requested, unsigned int *ring)
{
    unsigned int min = MAX(info.min_desc, 1);
    unsigned int max = MIN(info.max_desc, max_ring_size);
    unsigned int size;
    int err;

    if (max < min) {
        return "it reports no valid ring size (from " +
               std::to_string(info.min_desc) + " to " +
               std::to_string(info.max_desc) + ")";
    }
    if (requested && requested >= min && requested <= max) {
        size = requested;
    } else {
        /* Without a request, the largest power of 2 no greater than the
         * default and what the device supports; beyond what it supports,
         * the nearest power of 2 that it does. */
        size = requested > max ? max : MIN(default_ring_size, max);
        while (!is_power_of_2(size)) {
            size &= size - 1;
        }
        if (requested && requested < min) {
            size = 1;
            while (size < min && size <= max / 2) {
                size <<= 1;
            }
        }
        if (size < min || size > max) {
            return "it supports no power-of-2 ring size from " +
                   std::to_string(min) + " to " + std::to_string(max);
        }
        if (requested) {
            VLOG_WARN("DMA device %s supports ring sizes from %u to %u, so "
                      "it uses %u, its %s, instead of "
                      "vhost-async-dma-ring-size %u.",
                      info.dev_name, min, max, size,
                      requested > max ? "largest" : "smallest", requested);
        }
    }

    struct rte_dma_conf conf;
    memset(&conf, 0, sizeof conf);
    conf.nb_vchans = 1;
    err = to_errno(rte_dma_configure(id, &conf));
    if (err) {
        return std::string("configuring it failed: ") + ovs_strerror(err);
    }

    struct rte_dma_vchan_conf vconf;
    memset(&vconf, 0, sizeof vconf);
    vconf.direction = RTE_DMA_DIR_MEM_TO_MEM;
    vconf.nb_desc = size;
    err = to_errno(rte_dma_vchan_setup(id, 0, &vconf));
    if (err) {
        return std::string("setting up its channel failed: ") +
               ovs_strerror(err);
    }

    err = to_errno(rte_dma_start(id));
    if (err) {
        return std::string("starting it failed: ") + ovs_strerror(err);
    }

    *ring = size;
    return "";
}

void
dma_manager::set_pmd(const pmd_key &key, const struct dpdk_dma_claim *claim,
                     const char *idle_reason, bool fell_back)
{
    std::lock_guard<std::mutex> lock(pmds_mutex);
    pmd_info &pmd = pmds[key];

    pmd.device = claim ? claim->dev.name : "";
    pmd.idle_reason = idle_reason ? idle_reason : "";
    pmd.n_fallbacks += fell_back;
}

void
dma_manager::remove_pmd(const pmd_key &key)
{
    std::lock_guard<std::mutex> lock(pmds_mutex);
    pmds.erase(key);
}

bool
dma_manager::any_pmd_on_cpu() const
{
    std::lock_guard<std::mutex> lock(pmds_mutex);

    for (auto &pmd : pmds) {
        if (pmd.second.device.empty() && pmd.second.idle_reason.empty()) {
            return true;
        }
    }
    return false;
}

const dma_device *
dma_manager::device(const char *name) const
{
    std::lock_guard<std::mutex> lock(pool.mutex);
    return pool.find(name);
}

void
dma_manager::show(struct ds *ds, const char *name) const
{
    /* The devices are in use while vhost-async-support is on. */
    ds_put_format(ds, "vhost-async-support: %s\n",
                  in_use.load(std::memory_order_relaxed) ? "true" : "false");
    if (!name) {
        std::lock_guard<std::mutex> lock(pool.mutex);
        ds_put_format(ds, "DMA devices: %zu\n", pool.devices.size());
    }

    {
        std::lock_guard<std::mutex> lock(pool.mutex);

        for (auto &dev : pool.devices) {
            struct rte_dma_stats stats;

            if (name && dev->name != name) {
                continue;
            }
            pool.format_device(*dev, ds);
            if (!dev->unusable.empty()) {
                continue;
            }
            memset(&stats, 0, sizeof stats);
            ds_put_format(ds, "    ring size: %u, ", dev->ring_size);
            if (!rte_dma_stats_get(dev->id, 0, &stats)) {
                ds_put_format(ds,
                              "submitted: %" PRIu64 ", completed: %" PRIu64
                              ", errors: %" PRIu64 "\n",
                              stats.submitted, stats.completed, stats.errors);
            } else {
                ds_put_cstr(ds, "no counters\n");
            }
        }
    }

    if (!name) {
        std::lock_guard<std::mutex> lock(pmds_mutex);

        ds_put_format(ds, "PMD threads: %zu\n", pmds.size());
        for (auto &pmd : pmds) {
            const pmd_info &info = pmd.second;
            std::string what = info.device;

            if (what.empty()) {
                what = info.idle_reason.empty() ? "CPU copy"
                                                : "idle, " + info.idle_reason;
            }
            ds_put_format(ds, "  core %u: %s, fallbacks: %" PRIu64 "\n",
                          pmd.first.first, what.c_str(), info.n_fallbacks);
        }
    }
}

/* Replies to 'conn' with an error message formatted from 'format'. */
void OVS_PRINTF_FORMAT(2, 3)
    reply_error(struct unixctl_conn *conn, const char *format, ...)
{
    va_list args;
    char *msg;

    va_start(args, format);
    msg = xvasprintf(format, args);
    va_end(args);
    unixctl_command_reply_error(conn, msg);
    free(msg);
}

void
unixctl_show(struct unixctl_conn *conn, int argc, const char *argv[],
             void *aux OVS_UNUSED)
{
    dma_manager &m = manager();
    const char *name = argc > 1 ? argv[1] : nullptr;
    struct ds ds = DS_EMPTY_INITIALIZER;

    if (name && !m.device(name)) {
        reply_error(conn, "no DMA device named '%s'", name);
        return;
    }
    m.show(&ds, name);
    unixctl_command_reply(conn, ds_cstr(&ds));
    ds_destroy(&ds);
}

void
unixctl_disable(struct unixctl_conn *conn, int argc OVS_UNUSED,
                const char *argv[], void *aux OVS_UNUSED)
{
    dma_manager &m = manager();
    const char *name = argv[1];

    if (!m.device(name)) {
        reply_error(conn, "no DMA device named '%s'", name);
        return;
    }

    switch (dpdk_dma_pool_disable(&m.pool, name)) {
    case 0:
        VLOG_INFO("DMA device %s disabled.", name);
        unixctl_command_reply(conn, "disabled");
        break;
    case EINPROGRESS:
        VLOG_INFO("DMA device %s is being disabled: its PMD thread releases "
                  "it at its next reload.",
                  name);
        seq_change(m.reload_seq);
        unixctl_command_reply(conn, "disabling: its PMD thread releases it");
        break;
    case EALREADY:
        reply_error(conn, "DMA device '%s' is already disabled", name);
        break;
    default:
        reply_error(conn, "DMA device '%s' is unusable", name);
        break;
    }
}

void
unixctl_enable(struct unixctl_conn *conn, int argc OVS_UNUSED,
               const char *argv[], void *aux OVS_UNUSED)
{
    dma_manager &m = manager();
    const char *name = argv[1];

    if (!m.device(name)) {
        reply_error(conn, "no DMA device named '%s'", name);
        return;
    }

    switch (dpdk_dma_pool_enable(&m.pool, name)) {
    case 0:
        VLOG_INFO("DMA device %s enabled.", name);
        if (m.any_pmd_on_cpu()) {
            /* A PMD thread on CPU copy takes it at its reload. */
            seq_change(m.reload_seq);
        }
        unixctl_command_reply(conn, "enabled");
        break;
    case EALREADY:
        reply_error(conn, "DMA device '%s' is not disabled", name);
        break;
    default:
        reply_error(conn, "DMA device '%s' is unusable", name);
        break;
    }
}

/* The calling PMD thread's claim and what it last said about it. */
struct pmd_state {
    ~pmd_state()
    {
        /* dpdk_dma_pmd_exit() released the claim, unless the thread ended
         * without it. */
        dpdk_dma_claim_release(&claim);
    }

    pmd_key
    key() const
    {
        return pmd_key(core_id, this);
    }

    struct dpdk_dma_claim *claim = nullptr;
    bool on_cpu = false; /* Logged as copying with the CPU. */
    unsigned int core_id = 0;
};

thread_local pmd_state pmd;

/* Releases the calling thread's claim, saying 'why'.  Returns true if the
 * device is then free for another thread. */
bool
pmd_release(const char *why)
{
    std::string name = dpdk_dma_claim_dev_name(pmd.claim);
    bool freed = !dpdk_dma_claim_revoked(pmd.claim);

    dpdk_dma_claim_release(&pmd.claim);
    VLOG_INFO("PMD thread on core %u released DMA device %s (%s).",
              pmd.core_id, name.c_str(), why);
    return freed;
}

} // namespace

void
dpdk_dma_print_version() noexcept
{
    std::puts("ovs-dma " OVS_DMA_VERSION
              " (vhost-user copies offloaded to DMA engines)");
}

void
dpdk_dma_set_config(bool in_use, unsigned int ring_size,
                    dpdk_dma_attach_func *attach) noexcept
{
    manager().set_config(in_use, ring_size, attach);
}

bool
dpdk_dma_in_use(void) noexcept
{
    return manager().in_use.load(std::memory_order_acquire);
}

bool
dpdk_dma_reload_needed(uint64_t *seq) noexcept
{
    uint64_t cur = seq_read(manager().reload_seq);
    bool first = !*seq;

    if (*seq == cur) {
        return false;
    }
    *seq = cur;
    return !first;
}

void
dpdk_dma_reload_wait(uint64_t seq) noexcept
{
    seq_wait(manager().reload_seq, seq);
}

size_t
dpdk_dma_n_devices(void) noexcept
{
    return manager().n_ready.load(std::memory_order_acquire);
}

int
dpdk_dma_device_id(size_t index) noexcept
{
    return manager().ready_ids[index];
}

const char *
dpdk_dma_device_name(int dev_id) noexcept
{
    dma_manager &m = manager();
    std::lock_guard<std::mutex> lock(m.pool.mutex);

    for (auto &dev : m.pool.devices) {
        if (dev->id == dev_id) {
            return dev->name.c_str();
        }
    }
    return "unknown DMA device";
}

int
dpdk_dma_device_counts(int dev_id, uint64_t *submitted,
                       uint64_t *completed) noexcept
{
    struct rte_dma_stats st;
    int err;

    memset(&st, 0, sizeof st);
    err = to_errno(rte_dma_stats_get(dev_id, 0, &st));
    if (submitted) {
        *submitted = err ? UINT64_MAX : st.submitted;
    }
    if (completed) {
        *completed = err ? 0 : st.completed;
    }
    return err;
}

int
dpdk_dma_device_inflight(int dev_id, uint64_t *n) noexcept
{
    uint64_t submitted, completed;
    int err = dpdk_dma_device_counts(dev_id, &submitted, &completed);

    if (err) {
        *n = UINT64_MAX;
    } else {
        *n = submitted > completed ? submitted - completed : 0;
    }
    return err;
}

int
dpdk_dma_pmd_update(unsigned int core_id, int numa_id,
                    const char *idle_reason) noexcept
{
    dma_manager &m = manager();
    bool freed = false;
    bool fell_back = false;

    pmd.core_id = core_id;
    if (pmd.claim && (idle_reason || dpdk_dma_claim_revoked(pmd.claim))) {
        freed = pmd_release(idle_reason ? idle_reason : "device disabled");
    }

    if (!pmd.claim && !idle_reason) {
        struct dpdk_dma_claim *claim;

        if (!dpdk_dma_pool_claim(&m.pool, core_id, numa_id, &claim)) {
            int dev_numa = claim->dev.numa;

            pmd.claim = claim;
            pmd.on_cpu = false;
            if (dev_numa >= 0 && dev_numa != numa_id) {
                m.n_cross_numa.fetch_add(1, std::memory_order_relaxed);
                VLOG_WARN("PMD thread on core %u (numa %d) claimed DMA "
                          "device %s on numa %d: no free device on its own "
                          "numa node.",
                          core_id, numa_id, dpdk_dma_claim_dev_name(claim),
                          dev_numa);
            } else {
                VLOG_INFO("PMD thread on core %u claimed DMA device %s.",
                          core_id, dpdk_dma_claim_dev_name(claim));
            }
        } else if (!pmd.on_cpu) {
            pmd.on_cpu = fell_back = true;
            m.n_no_free.fetch_add(1, std::memory_order_relaxed);
            VLOG_INFO("PMD thread on core %u found no free DMA device: it "
                      "copies with the CPU.",
                      core_id);
        }
    } else if (idle_reason) {
        pmd.on_cpu = false;
    }

    if (dpdk_dma_in_use() || pmd.claim) {
        m.set_pmd(pmd.key(), pmd.claim, idle_reason, fell_back);
    } else {
        m.remove_pmd(pmd.key());
    }

    if (freed && m.any_pmd_on_cpu()) {
        /* A PMD thread on CPU copy may take the device just freed. */
        seq_change(m.reload_seq);
    }
    return pmd.claim ? pmd.claim->dev.id : -1;
}

void
dpdk_dma_pmd_exit(void) noexcept
{
    dma_manager &m = manager();
    bool freed = false;

    m.remove_pmd(pmd.key());
    if (pmd.claim) {
        freed = pmd_release("thread exiting");
    }
    pmd.on_cpu = false;
    if (freed) {
        /* Another PMD thread may be waiting for a device, and may not be
         * listed yet: wake them all. */
        seq_change(m.reload_seq);
    }
}

int
dpdk_dma_pmd_dev_id(void) noexcept
{
    return pmd.claim ? pmd.claim->dev.id : -1;
}
