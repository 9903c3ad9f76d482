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

/* The DMA channel manager: see dpdk-dma.h for what it does and why. */

#include <config.h>

#include "dpdk-dma.h"
#include "vhost-async.h"

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
#include <rte_vhost_async.h>

#include "util.h"
extern "C" {
#include "seq.h"
}
#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "smap.h"
#include "timeval.h"
#include "unixctl.h"

VLOG_DEFINE_THIS_MODULE(dpdk_dma);

namespace {

/* vhost keeps its DMA devices in a table of this many entries, indexed by
 * dmadev id. */
constexpr int kVhostMaxDmaId = RTE_DMADEV_DEFAULT_MAX;

/* Ring size of a device when other_config:vhost-async-dma-ring-size does not
 * say otherwise (clamped to what the device supports). */
constexpr unsigned int kDefaultRingSize = 4096;

/* The largest ring size a device can have: nb_desc is 16 bits wide. */
constexpr unsigned int kMaxRingSize = 32768;

/* Largest other_config:vhost-async-min-frame-size: longer than any frame. */
constexpr unsigned int kMaxMinFrameSize = 65535;

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

/* A device in a pool, with the state of its claim. */
struct PoolDevice {
    enum class State { kFree, kClaimed, kDisabled };

    PoolDevice(int id_, std::string name_, int numa_)
        : id(id_), name(std::move(name_)), numa(numa_)
    {}

    const int id;
    const std::string name;
    const int numa;

    State state = State::kFree;
    bool disabling = false;       /* Claimed, to be disabled on release. */
    unsigned int owner_core = 0;  /* Valid while kClaimed. */
    long long int claimed_at = 0; /* time_msec() of the current claim. */

    uint64_t n_claims = 0;
    uint64_t n_releases = 0;
    long long int owned_ms = 0; /* Total of the ended claims. */
};

} // namespace

/* A pool of DMA devices that threads claim.  The mutex guards every device's
 * state; the device list only grows, so device pointers stay valid for the
 * life of the pool. */
struct dpdk_dma_pool {
    using Device = PoolDevice;

    mutable std::mutex mutex;
    std::vector<std::unique_ptr<Device>> devices;
    size_t n_claims = 0; /* Claims outstanding. */

    Device *
    find(const char *name)
    {
        for (auto &dev : devices) {
            if (dev->name == name) {
                return dev.get();
            }
        }
        return nullptr;
    }

    /* Picks a free device, preferring 'numa_id', then an unknown node. */
    Device *
    pick(int numa_id)
    {
        Device *unknown = nullptr, *remote = nullptr;

        for (auto &dev : devices) {
            if (dev->state != Device::State::kFree) {
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

    void format_device(const Device &, struct ds *) const;
};

/* A claim on one device of a pool, held by one thread.  Destroying it gives
 * the device back (RAII): claims are only ever created by
 * dpdk_dma_pool_claim() and destroyed by dpdk_dma_claim_release() or by the
 * owning thread's exit. */
struct dpdk_dma_claim {
    dpdk_dma_claim(dpdk_dma_pool &pool_, PoolDevice &dev_)
        : pool(pool_), dev(dev_)
    {}

    ~dpdk_dma_claim()
    {
        std::lock_guard<std::mutex> lock(pool.mutex);

        ovs_assert(dev.state == PoolDevice::State::kClaimed);
        ovs_assert(!inflight.load(std::memory_order_relaxed));
        dev.state = dev.disabling ? PoolDevice::State::kDisabled
                                  : PoolDevice::State::kFree;
        dev.disabling = false;
        dev.n_releases++;
        dev.owned_ms += time_msec() - dev.claimed_at;
        pool.n_claims--;
    }

    dpdk_dma_claim(const dpdk_dma_claim &) = delete;
    dpdk_dma_claim &operator=(const dpdk_dma_claim &) = delete;

    dpdk_dma_pool &pool;
    PoolDevice &dev;

    /* Copies submitted through this claim and not yet completed.  Written
     * by the owner only; read by anyone. */
    std::atomic<int64_t> inflight{0};
};

void
dpdk_dma_pool::format_device(const Device &dev, struct ds *ds) const
{
    long long int owned = dev.owned_ms;

    ds_put_format(ds, "  %s (id %d, numa %d): ", dev.name.c_str(), dev.id,
                  dev.numa);
    switch (dev.state) {
    case Device::State::kFree:
        ds_put_cstr(ds, "free");
        break;
    case Device::State::kClaimed:
        ds_put_format(ds, "claimed by pmd on core %u", dev.owner_core);
        if (dev.disabling) {
            ds_put_cstr(ds, ", disabling");
        }
        owned += time_msec() - dev.claimed_at;
        break;
    case Device::State::kDisabled:
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
    pool->devices.push_back(
        std::make_unique<PoolDevice>(dev_id, name, numa_id));
    return 0;
}

size_t
dpdk_dma_pool_n_free(const struct dpdk_dma_pool *pool) noexcept
{
    std::lock_guard<std::mutex> lock(pool->mutex);
    size_t n = 0;

    for (auto &dev : pool->devices) {
        n += dev->state == PoolDevice::State::kFree;
    }
    return n;
}

int
dpdk_dma_pool_claim(struct dpdk_dma_pool *pool, unsigned int core_id,
                    int numa_id, struct dpdk_dma_claim **claimp) noexcept
{
    std::lock_guard<std::mutex> lock(pool->mutex);
    PoolDevice *dev = pool->pick(numa_id);

    if (!dev) {
        *claimp = nullptr;
        return ENODEV;
    }
    dev->state = PoolDevice::State::kClaimed;
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
    struct dpdk_dma_claim *claim = *claimp;

    if (!claim) {
        return ENOENT;
    }
    if (claim->inflight.load(std::memory_order_relaxed)) {
        return EBUSY;
    }
    delete claim;
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

void
dpdk_dma_claim_inflight_add(struct dpdk_dma_claim *claim,
                            int64_t delta) noexcept
{
    /* Only the owner writes, so a relaxed read-modify-write is enough and
     * stays off the bus-locked path of fetch_add. */
    int64_t n = claim->inflight.load(std::memory_order_relaxed) + delta;

    ovs_assert(n >= 0);
    claim->inflight.store(n, std::memory_order_relaxed);
}

int64_t
dpdk_dma_claim_inflight(const struct dpdk_dma_claim *claim) noexcept
{
    return claim->inflight.load(std::memory_order_relaxed);
}

int
dpdk_dma_pool_disable(struct dpdk_dma_pool *pool, const char *name) noexcept
{
    std::lock_guard<std::mutex> lock(pool->mutex);
    PoolDevice *dev = pool->find(name);

    if (!dev) {
        return ENOENT;
    }
    switch (dev->state) {
    case PoolDevice::State::kFree:
        dev->state = PoolDevice::State::kDisabled;
        return 0;
    case PoolDevice::State::kClaimed:
        if (dev->disabling) {
            return EALREADY;
        }
        dev->disabling = true;
        return EINPROGRESS;
    case PoolDevice::State::kDisabled:
    default:
        return EALREADY;
    }
}

int
dpdk_dma_pool_enable(struct dpdk_dma_pool *pool, const char *name) noexcept
{
    std::lock_guard<std::mutex> lock(pool->mutex);
    PoolDevice *dev = pool->find(name);

    if (!dev) {
        return ENOENT;
    }
    if (dev->state == PoolDevice::State::kDisabled) {
        dev->state = PoolDevice::State::kFree;
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

/* A dmadev that EAL probed, usable or not. */
struct DmaDev {
    int id;
    std::string name;
    int numa;
    unsigned int ring_size; /* 0 if unusable. */
    std::string unusable;   /* Why it cannot be used, or empty. */
};

/* What a PMD thread has, for dpdk/dma-show. */
struct PmdInfo {
    std::string device; /* Empty for CPU copy. */
    bool idle = false;  /* Polls no queue, so needs no device. */
    uint64_t n_fallbacks = 0;
};

/* PMD threads are listed by core, then by thread: two datapaths may each
 * have a PMD thread on the same core. */
using PmdKey = std::pair<unsigned int, const void *>;

class Manager {
public:
    /* The manager lives as long as the process: PMD threads may still hold
     * claims while static objects are destroyed at exit. */
    static Manager &
    get()
    {
        static Manager *manager = new Manager;
        return *manager;
    }

    void set_config(const struct smap *);
    bool
    async_enabled() const
    {
        return async_.load(std::memory_order_acquire);
    }

    uint64_t
    reload_seq() const
    {
        return seq_read(reload_seq_);
    }
    void
    request_reload()
    {
        seq_change(reload_seq_);
    }
    void
    wait_reload(uint64_t seq) const
    {
        seq_wait(reload_seq_, seq);
    }

    dpdk_dma_pool &
    pool()
    {
        return *pool_;
    }

    void set_pmd(const PmdKey &, const struct dpdk_dma_claim *, bool idle,
                 bool fell_back);
    void
    count_no_free()
    {
        n_no_free_.fetch_add(1);
    }
    void
    count_cross_numa()
    {
        n_cross_numa_.fetch_add(1);
    }
    void remove_pmd(const PmdKey &);
    bool any_pmd_on_cpu() const;

    void show(struct ds *, const char *name) const;
    bool has_device(const char *name) const;

private:
    Manager() : reload_seq_(seq_create()), pool_(dpdk_dma_pool_create()) {}

    bool parse_async(const struct smap *, bool current);
    unsigned int parse_ring_size(const struct smap *);
    void set_min_frame_size(const struct smap *, bool async_on,
                            bool turned_on);
    void setup_devices(unsigned int ring_size);
    std::string setup_device(int16_t id, const struct rte_dma_info &,
                             unsigned int requested, unsigned int *ring);

    static void unixctl_show(struct unixctl_conn *, int argc,
                             const char *argv[], void *);
    static void unixctl_disable(struct unixctl_conn *, int argc,
                                const char *argv[], void *);
    static void unixctl_enable(struct unixctl_conn *, int argc,
                               const char *argv[], void *);

    /* Main thread only. */
    bool registered_ = false;
    bool set_up_ = false;
    std::string bad_async_;         /* Last invalid value logged. */
    std::string bad_ring_;          /* Last invalid value logged. */
    std::string bad_min_;           /* Last invalid value logged. */
    unsigned int ring_request_ = 0; /* 0 for the default. */
    std::vector<DmaDev> devs_;      /* By id, set up once. */

    std::atomic<bool> async_{false};
    struct seq *reload_seq_;

    /* Events of PMD threads for the coverage counters, which the main
     * thread adds up (see dpdk-dma-coverage.c). */
    std::atomic<unsigned int> n_no_free_{0};
    std::atomic<unsigned int> n_cross_numa_{0};
    dpdk_dma_pool *pool_;

    mutable std::mutex pmds_mutex_;
    std::map<PmdKey, PmdInfo> pmds_;
};

void
Manager::set_config(const struct smap *cfg)
{
    unsigned int n_no_free = n_no_free_.exchange(0);
    unsigned int n_cross_numa = n_cross_numa_.exchange(0);

    if (n_no_free || n_cross_numa) {
        dpdk_dma_coverage_add(n_no_free, n_cross_numa);
    }

    if (!registered_) {
        registered_ = true;
        unixctl_command_register("dpdk/dma-show", "[device]", 0, 1,
                                 unixctl_show, nullptr);
        unixctl_command_register("dpdk/dma-disable", "device", 1, 1,
                                 unixctl_disable, nullptr);
        unixctl_command_register("dpdk/dma-enable", "device", 1, 1,
                                 unixctl_enable, nullptr);
    }

    unsigned int ring_size = parse_ring_size(cfg);
    bool was_enabled = async_enabled();
    bool enable = parse_async(cfg, was_enabled);

    set_min_frame_size(cfg, enable, enable && !was_enabled);

    if (enable && !set_up_) {
        /* Devices first: a PMD thread that sees the option on must find
         * them in the pool. */
        set_up_ = true;
        ring_request_ = ring_size;
        setup_devices(ring_size);
    } else if (set_up_ && ring_size != ring_request_) {
        ring_request_ = ring_size;
        VLOG_INFO("other_config:vhost-async-dma-ring-size changed: DMA "
                  "devices are set up once, so it applies when "
                  "ovs-vswitchd restarts.");
    }

    if (enable != was_enabled) {
        /* Release: the devices set up above are in the pool for any
         * thread that sees the option on. */
        async_.store(enable, std::memory_order_release);
        VLOG_INFO("vhost-async-support is %s: PMD threads %s DMA devices.",
                  enable ? "on" : "off", enable ? "claim" : "release");
        request_reload();
        vhost_async_settings_changed();
    }
}

/* Returns the value of other_config:vhost-async-support in 'cfg', or
 * 'current' if it is invalid. */
bool
Manager::parse_async(const struct smap *cfg, bool current)
{
    const char *value = smap_get(cfg, "vhost-async-support");

    if (!value || !strcasecmp(value, "false")) {
        bad_async_.clear();
        return false;
    } else if (!strcasecmp(value, "true")) {
        bad_async_.clear();
        return true;
    } else if (bad_async_ != value) {
        bad_async_ = value;
        VLOG_WARN("other_config:vhost-async-support has invalid value "
                  "'%s': expected true or false; it stays %s.",
                  value, current ? "true" : "false");
    }
    return current;
}

unsigned int
Manager::parse_ring_size(const struct smap *cfg)
{
    const char *value = smap_get(cfg, "vhost-async-dma-ring-size");
    unsigned int size;

    if (!value) {
        bad_ring_.clear();
        return 0;
    }
    if (str_to_uint(value, 10, &size) && is_power_of_2(size) &&
        size <= kMaxRingSize) {
        bad_ring_.clear();
        return size;
    }
    if (bad_ring_ != value) {
        bad_ring_ = value;
        VLOG_WARN("other_config:vhost-async-dma-ring-size has invalid value "
                  "'%s': expected a power of 2 no greater than %u; using "
                  "the default.",
                  value, kMaxRingSize);
    }
    return 0;
}

/* Applies other_config:vhost-async-min-frame-size from 'cfg' to the data
 * path, or keeps the current value if it is invalid.  The value is logged
 * when it changes while vhost-async-support is on ('async_on'), and when
 * that is turned on: with it off, the DMA module stays silent. */
void
Manager::set_min_frame_size(const struct smap *cfg, bool async_on,
                            bool turned_on)
{
    const char *value = smap_get(cfg, "vhost-async-min-frame-size");
    unsigned int size = VHOST_ASYNC_MIN_FRAME_SIZE_DEFAULT;

    if (value &&
        !(str_to_uint(value, 10, &size) && size <= kMaxMinFrameSize)) {
        if (bad_min_ != value) {
            bad_min_ = value;
            VLOG_WARN("other_config:vhost-async-min-frame-size has invalid "
                      "value '%s': expected a number of bytes from 0 to %u; "
                      "it stays %u.",
                      value, kMaxMinFrameSize, vhost_async_min_frame_size());
        }
        return;
    }
    bad_min_.clear();
    if (async_on && (size != vhost_async_min_frame_size() || turned_on)) {
        VLOG_INFO("vhost-async-min-frame-size is %u: %s.", size,
                  size ? "shorter frames are copied with the CPU"
                       : "every frame is copied by DMA devices");
    }
    vhost_async_set_min_frame_size(size);
}

void
Manager::setup_devices(unsigned int ring_request)
{
    int16_t id;
    int n_usable = 0;

    RTE_DMA_FOREACH_DEV(id)
    {
        struct rte_dma_info info;
        DmaDev dev;
        int err;

        memset(&info, 0, sizeof info);
        err = to_errno(rte_dma_info_get(id, &info));
        dev.id = id;
        dev.name = err || !info.dev_name ? "dmadev" + std::to_string(id)
                                         : info.dev_name;
        dev.numa = info.numa_node;
        dev.ring_size = 0;

        if (err) {
            dev.unusable = std::string("cannot get its information: ") +
                           ovs_strerror(err);
        } else if (!(info.dev_capa & RTE_DMA_CAPA_MEM_TO_MEM)) {
            dev.unusable = "it cannot copy memory to memory";
        } else if (!(info.dev_capa & RTE_DMA_CAPA_OPS_COPY)) {
            dev.unusable = "it has no copy operation";
        } else if (!info.max_vchans) {
            dev.unusable = "it has no virtual channel";
        } else if (id >= kVhostMaxDmaId) {
            dev.unusable = "its id is beyond vhost's limit of " +
                           std::to_string(kVhostMaxDmaId) + " devices";
        } else {
            dev.unusable =
                setup_device(id, info, ring_request, &dev.ring_size);
        }

        if (dev.unusable.empty()) {
            n_usable++;
            dpdk_dma_pool_add(pool_, dev.id, dev.name.c_str(), dev.numa);
            VLOG_INFO("DMA device %s (id %d, numa %d) is ready for vhost "
                      "copies, ring size %u.",
                      dev.name.c_str(), dev.id, dev.numa, dev.ring_size);
        } else {
            VLOG_WARN("DMA device %s (id %d) cannot be used: %s.",
                      dev.name.c_str(), dev.id, dev.unusable.c_str());
        }
        devs_.push_back(std::move(dev));
    }

    if (!n_usable) {
        VLOG_INFO("No usable DMA device: PMD threads copy vhost packets "
                  "with the CPU.");
    }
}

/* Configures, starts and announces to vhost device 'id'.  Returns "" on
 * success, otherwise why it cannot be used. */
std::string
Manager::setup_device(int16_t id, const struct rte_dma_info &info,
                      unsigned int requested, unsigned int *ring)
{
    unsigned int min = MAX(info.min_desc, 1);
    unsigned int max = MIN(info.max_desc, kMaxRingSize);
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
        size = requested > max ? max : MIN(kDefaultRingSize, max);
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

    /* vhost says only that it failed, with -1, and logs why. */
    if (rte_vhost_async_dma_configure(id, 0)) {
        err = to_errno(rte_dma_stop(id));
        if (err) {
            VLOG_WARN("DMA device %s: stopping it failed: %s", info.dev_name,
                      ovs_strerror(err));
        }
        return "vhost refused it (see the VHOST_CONFIG log)";
    }

    *ring = size;
    return "";
}

void
Manager::set_pmd(const PmdKey &key, const struct dpdk_dma_claim *claim,
                 bool idle, bool fell_back)
{
    std::lock_guard<std::mutex> lock(pmds_mutex_);
    PmdInfo &pmd = pmds_[key];

    pmd.device = claim ? claim->dev.name : "";
    pmd.idle = idle;
    pmd.n_fallbacks += fell_back;
}

void
Manager::remove_pmd(const PmdKey &key)
{
    std::lock_guard<std::mutex> lock(pmds_mutex_);
    pmds_.erase(key);
}

bool
Manager::any_pmd_on_cpu() const
{
    std::lock_guard<std::mutex> lock(pmds_mutex_);

    for (auto &pmd : pmds_) {
        if (pmd.second.device.empty() && !pmd.second.idle) {
            return true;
        }
    }
    return false;
}

bool
Manager::has_device(const char *name) const
{
    for (auto &dev : devs_) {
        if (dev.name == name) {
            return true;
        }
    }
    return false;
}

void
Manager::show(struct ds *ds, const char *name) const
{
    ds_put_format(ds, "vhost-async-support: %s\n",
                  async_enabled() ? "true" : "false");
    if (!name) {
        ds_put_format(ds, "DMA devices: %zu\n", devs_.size());
    }
    for (auto &dev : devs_) {
        if (name && dev.name != name) {
            continue;
        }
        if (!dev.unusable.empty()) {
            ds_put_format(ds, "  %s (id %d, numa %d): unusable: %s\n",
                          dev.name.c_str(), dev.id, dev.numa,
                          dev.unusable.c_str());
            continue;
        }
        {
            std::lock_guard<std::mutex> lock(pool_->mutex);
            pool_->format_device(*pool_->find(dev.name.c_str()), ds);
        }

        struct rte_dma_stats stats;
        memset(&stats, 0, sizeof stats);
        ds_put_format(ds, "    ring size: %u, ", dev.ring_size);
        if (!rte_dma_stats_get(dev.id, 0, &stats)) {
            ds_put_format(ds,
                          "submitted: %" PRIu64 ", completed: %" PRIu64
                          ", errors: %" PRIu64 "\n",
                          stats.submitted, stats.completed, stats.errors);
        } else {
            ds_put_cstr(ds, "no counters\n");
        }
    }

    if (!name) {
        std::lock_guard<std::mutex> lock(pmds_mutex_);

        ds_put_format(ds, "PMD threads: %zu\n", pmds_.size());
        for (auto &pmd : pmds_) {
            const PmdInfo &info = pmd.second;

            ds_put_format(ds, "  core %u: %s, fallbacks: %" PRIu64 "\n",
                          pmd.first.first,
                          !info.device.empty() ? info.device.c_str()
                          : info.idle          ? "idle, no queue to poll"
                                               : "CPU copy",
                          info.n_fallbacks);
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
Manager::unixctl_show(struct unixctl_conn *conn, int argc, const char *argv[],
                      void *aux OVS_UNUSED)
{
    Manager &m = get();
    const char *name = argc > 1 ? argv[1] : nullptr;
    struct ds ds = DS_EMPTY_INITIALIZER;

    if (name && !m.has_device(name)) {
        reply_error(conn, "no DMA device named '%s'", name);
        return;
    }
    m.show(&ds, name);
    unixctl_command_reply(conn, ds_cstr(&ds));
    ds_destroy(&ds);
}

void
Manager::unixctl_disable(struct unixctl_conn *conn, int argc OVS_UNUSED,
                         const char *argv[], void *aux OVS_UNUSED)
{
    Manager &m = get();
    const char *name = argv[1];

    if (!m.has_device(name)) {
        reply_error(conn, "no DMA device named '%s'", name);
        return;
    }

    switch (dpdk_dma_pool_disable(m.pool_, name)) {
    case 0:
        VLOG_INFO("DMA device %s disabled.", name);
        unixctl_command_reply(conn, "disabled");
        break;
    case EINPROGRESS:
        VLOG_INFO("DMA device %s is being disabled: its PMD thread releases "
                  "it at its next reload.",
                  name);
        m.request_reload();
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
Manager::unixctl_enable(struct unixctl_conn *conn, int argc OVS_UNUSED,
                        const char *argv[], void *aux OVS_UNUSED)
{
    Manager &m = get();
    const char *name = argv[1];

    if (!m.has_device(name)) {
        reply_error(conn, "no DMA device named '%s'", name);
        return;
    }

    switch (dpdk_dma_pool_enable(m.pool_, name)) {
    case 0:
        VLOG_INFO("DMA device %s enabled.", name);
        if (m.any_pmd_on_cpu()) {
            /* A PMD thread on CPU copy takes it at its reload. */
            m.request_reload();
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
struct PmdState {
    ~PmdState()
    {
        /* dpdk_dma_pmd_exit() released the claim, unless copies were in
         * flight: then the device stays claimed, as it must. */
        if (claim && !dpdk_dma_claim_inflight(claim)) {
            dpdk_dma_claim_release(&claim);
        }
    }

    PmdKey
    key() const
    {
        return PmdKey(core_id, this);
    }

    struct dpdk_dma_claim *claim = nullptr;
    bool on_cpu = false; /* Logged as copying with the CPU. */
    unsigned int core_id = 0;
};

thread_local PmdState pmd_state;

/* Releases the calling thread's claim, saying 'why'.  Returns true if the
 * device is then free for another thread.  Keeps the claim, and returns
 * false, if copies are still in flight. */
bool
pmd_release(const char *why)
{
    PmdState &pmd = pmd_state;
    std::string name = dpdk_dma_claim_dev_name(pmd.claim);
    int64_t inflight = dpdk_dma_claim_inflight(pmd.claim);
    bool freed = !dpdk_dma_claim_revoked(pmd.claim);

    if (dpdk_dma_claim_release(&pmd.claim)) {
        static struct vlog_rate_limit rl = VLOG_RATE_LIMIT_INIT(1, 5);

        VLOG_WARN_RL(&rl,
                     "PMD thread on core %u keeps DMA device %s: %" PRId64
                     " copies are in flight.",
                     pmd.core_id, name.c_str(), inflight);
        return false;
    }
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
dpdk_dma_set_config(const struct smap *ovs_other_config) noexcept
{
    Manager::get().set_config(ovs_other_config);
}

void
dpdk_dma_check_without_dpdk(const struct smap *ovs_other_config) noexcept
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
dpdk_dma_async_enabled(void) noexcept
{
    return Manager::get().async_enabled();
}

bool
dpdk_dma_reload_needed(uint64_t *seq) noexcept
{
    uint64_t cur = Manager::get().reload_seq();
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
    Manager::get().wait_reload(seq);
}

void
dpdk_dma_pmd_reload(unsigned int core_id, int numa_id, bool busy) noexcept
{
    Manager &m = Manager::get();
    PmdState &pmd = pmd_state;
    bool want = m.async_enabled() && busy;
    bool freed = false;
    bool fell_back = false;

    /* Copies in flight go back to their queues before anything changes. */
    vhost_async_pmd_drain();
    pmd.core_id = core_id;
    if (pmd.claim && (!want || dpdk_dma_claim_revoked(pmd.claim))) {
        const char *why = !m.async_enabled() ? "vhost-async-support is off"
                          : !busy            ? "no queue to poll"
                                             : "device disabled";

        /* With copies in flight it keeps the device until a later
         * reload (the data path drains before it reloads). */
        freed = pmd_release(why);
    }

    if (!pmd.claim && want) {
        struct dpdk_dma_claim *claim;

        if (!dpdk_dma_pool_claim(&m.pool(), core_id, numa_id, &claim)) {
            int dev_numa = claim->dev.numa;

            pmd.claim = claim;
            pmd.on_cpu = false;
            if (dev_numa >= 0 && dev_numa != numa_id) {
                m.count_cross_numa();
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
            m.count_no_free();
            VLOG_INFO("PMD thread on core %u found no free DMA device: it "
                      "copies with the CPU.",
                      core_id);
        }
    } else if (!want) {
        pmd.on_cpu = false;
    }

    if (m.async_enabled() || pmd.claim) {
        m.set_pmd(pmd.key(), pmd.claim, !busy, fell_back);
    } else {
        m.remove_pmd(pmd.key());
    }

    if (freed && m.any_pmd_on_cpu()) {
        /* A PMD thread on CPU copy may take the device just freed. */
        m.request_reload();
    }
}

void
dpdk_dma_pmd_exit(void) noexcept
{
    Manager &m = Manager::get();
    PmdState &pmd = pmd_state;
    bool freed = false;

    vhost_async_pmd_drain();
    m.remove_pmd(pmd.key());
    if (pmd.claim) {
        freed = pmd_release("thread exiting");
        if (pmd.claim) {
            VLOG_ERR("PMD thread on core %u exits with %" PRId64 " copies in "
                     "flight on DMA device %s, which stays claimed.",
                     pmd.core_id, dpdk_dma_claim_inflight(pmd.claim),
                     dpdk_dma_claim_dev_name(pmd.claim));
        }
    }
    pmd.on_cpu = false;
    if (freed) {
        /* Another PMD thread may be waiting for a device, and may not be
         * listed yet: wake them all. */
        m.request_reload();
    }
}

unsigned int
dpdk_dma_pmd_poll(void) noexcept
{
    return vhost_async_pmd_poll();
}

int
dpdk_dma_pmd_dev_id(void) noexcept
{
    struct dpdk_dma_claim *claim = pmd_state.claim;

    return claim ? claim->dev.id : -1;
}

struct dpdk_dma_claim *
dpdk_dma_pmd_claim(void) noexcept
{
    return pmd_state.claim;
}
