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

#ifndef DPDK_DMA_H
#define DPDK_DMA_H 1

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* DMA engines for the vhost-user data path.
 * =========================================
 *
 * This module owns the DPDK dmadev devices (Intel DSA and CBDMA/IOAT
 * channels bound to vfio-pci, or software devices such as dma_skeleton) that
 * ovs-vswitchd uses to copy packets to and from vhost-user guests when
 * other_config:vhost-async-support is true.
 *
 * When the option is first seen true, after DPDK is initialized, every
 * dmadev that EAL probed is examined.  A usable one (it copies memory to
 * memory, has a virtual channel, and its id is below vhost's limit of 64) is
 * configured with one virtual channel, started, announced to vhost and put
 * into the pool.  The others are logged with the reason and left alone.
 *
 *
 * Ownership
 * ---------
 *
 * A dmadev is one hardware channel, and DPDK does not let two threads drive
 * it at once.  So a PMD thread claims a whole device for itself when it
 * starts, keeps it while it runs, and gives it back when it exits, when the
 * option is turned off, or when the device is taken out of service
 * (dpdk/dma-disable).  At each reload, a PMD thread without a device tries
 * again.  A PMD thread that finds no free device copies with the CPU, as
 * upstream Open vSwitch does.  Other threads never claim a device.
 *
 * A claim may not end while copies submitted through it are in flight: the
 * data path counts them with dpdk_dma_claim_inflight_add() and drains them
 * before its thread reloads or exits.
 *
 *
 * Thread-safety
 * -------------
 *
 * The pool functions are thread-safe: each pool has a mutex, taken at thread
 * start, reload and exit and by the management commands, never per packet.
 * dpdk_dma_pmd_*() act on the calling thread's own claim.  A claim belongs
 * to the thread that took it; only that thread may release it or change its
 * in-flight count. */

struct ds;
struct smap;

/* The C++ definitions of these functions throw nothing. */
#ifdef __cplusplus
#define DPDK_DMA_NOEXCEPT noexcept
#else
#define DPDK_DMA_NOEXCEPT
#endif

/* ovs-dma's release: the fork of Open vSwitch that this module is part of.
 * Its packages carry it too (Debian: 3.1.0-2+deb12u1+dma1). */
#define OVS_DMA_VERSION "1"

/* Prints the line of "ovs-vswitchd --version" that names ovs-dma and its
 * release, and whether this build can offload copies. */
void dpdk_dma_print_version(void) DPDK_DMA_NOEXCEPT;

/* Configuration.  Main thread only.
 *
 * dpdk_dma_set_config() takes the DMA options from 'ovs_other_config' (the
 * Open_vSwitch table's other_config) each time the configuration is read
 * after DPDK is initialized, that is, at each run of the main loop: it costs
 * little when nothing changed.  The first call registers the dpdk/dma-*
 * commands.  Turning vhost-async-support on sets the DMA devices up (once)
 * and makes PMD threads claim them at a reload; turning it off makes them
 * release their devices. */
void dpdk_dma_set_config(const struct smap *ovs_other_config)
    DPDK_DMA_NOEXCEPT;

/* Called instead of dpdk_dma_set_config() while DPDK is not initialized:
 * warns, once each time it is turned on, that other_config's
 * vhost-async-support cannot take effect. */
void dpdk_dma_check_without_dpdk(const struct smap *ovs_other_config)
    DPDK_DMA_NOEXCEPT;

/* Returns true if other_config:vhost-async-support is true. */
bool dpdk_dma_async_enabled(void) DPDK_DMA_NOEXCEPT;

/* Returns true, and updates '*seq', if PMD threads must reload because
 * their claims must change (a device was disabled, enabled or freed, the
 * option was toggled) since '*seq' was last updated.  Start from '*seq' = 0:
 * the first call only sets it.  dpdk_dma_reload_wait() makes the next
 * poll_block() wake up when a reload is needed. */
bool dpdk_dma_reload_needed(uint64_t *seq) DPDK_DMA_NOEXCEPT;
void dpdk_dma_reload_wait(uint64_t seq) DPDK_DMA_NOEXCEPT;

/* PMD threads.
 *
 * A PMD thread calls dpdk_dma_pmd_reload() when it starts and at each
 * reload, before it tells the main thread that the reload is done, and
 * dpdk_dma_pmd_exit() instead when it exits.  'busy' says whether it polls
 * any queue: a thread with nothing to poll needs no device.  Both first
 * drain the copies the thread has in flight.  In between,
 * dpdk_dma_pmd_dev_id() is its device, or -1 for CPU copy, and
 * dpdk_dma_pmd_claim() its claim, or NULL, and the thread calls
 * dpdk_dma_pmd_poll() on every iteration of its loop to reap the copies its
 * device completed.  dpdk_dma_pmd_poll() returns the number of packets it
 * reaped. */
void dpdk_dma_pmd_reload(unsigned int core_id, int numa_id, bool busy)
    DPDK_DMA_NOEXCEPT;
void dpdk_dma_pmd_exit(void) DPDK_DMA_NOEXCEPT;
unsigned int dpdk_dma_pmd_poll(void) DPDK_DMA_NOEXCEPT;
int dpdk_dma_pmd_dev_id(void) DPDK_DMA_NOEXCEPT;
struct dpdk_dma_claim *dpdk_dma_pmd_claim(void) DPDK_DMA_NOEXCEPT;

/* Pools and claims (DPDK builds only).
 *
 * ovs-vswitchd has one pool, filled from DPDK.  These functions let unit
 * tests build pools of their own, with devices that need not exist.
 *
 * Return values are 0 or a positive errno value:
 *
 *   - dpdk_dma_pool_add(): EEXIST if a device with that id or name is
 *     already in the pool.
 *
 *   - dpdk_dma_pool_claim(): ENODEV if no device is free; '*claimp' is then
 *     NULL.  Prefers a device on 'numa_id', then one whose NUMA node is
 *     unknown (-1), then any.
 *
 *   - dpdk_dma_claim_release(): releases '*claimp' and sets it to NULL.
 *     ENOENT if '*claimp' is already NULL (released twice), EBUSY if copies
 *     are still in flight (the claim is kept).
 *
 *   - dpdk_dma_pool_disable(): takes device 'name' out of service.  A free
 *     device is disabled at once.  A claimed one stays with its owner until
 *     the owner releases it (dpdk_dma_claim_revoked() tells the owner to) and
 *     is then disabled; the return value is then EINPROGRESS.  ENOENT if
 *     there is no such device, EALREADY if it is disabled or being disabled.
 *
 *   - dpdk_dma_pool_enable(): puts a disabled device back into service, or
 *     cancels a pending disable.  ENOENT if there is no such device,
 *     EALREADY if it is in service. */
struct dpdk_dma_pool;
struct dpdk_dma_claim;

struct dpdk_dma_pool *dpdk_dma_pool_create(void) DPDK_DMA_NOEXCEPT;
void dpdk_dma_pool_destroy(struct dpdk_dma_pool *) DPDK_DMA_NOEXCEPT;
int dpdk_dma_pool_add(struct dpdk_dma_pool *, int dev_id, const char *name,
                      int numa_id) DPDK_DMA_NOEXCEPT;
size_t dpdk_dma_pool_n_free(const struct dpdk_dma_pool *)
    DPDK_DMA_NOEXCEPT;

int dpdk_dma_pool_claim(struct dpdk_dma_pool *, unsigned int core_id,
                        int numa_id, struct dpdk_dma_claim **claimp)
    DPDK_DMA_NOEXCEPT;
int dpdk_dma_claim_release(struct dpdk_dma_claim **claimp)
    DPDK_DMA_NOEXCEPT;
int dpdk_dma_claim_dev_id(const struct dpdk_dma_claim *) DPDK_DMA_NOEXCEPT;
const char *dpdk_dma_claim_dev_name(const struct dpdk_dma_claim *)
    DPDK_DMA_NOEXCEPT;
bool dpdk_dma_claim_revoked(const struct dpdk_dma_claim *)
    DPDK_DMA_NOEXCEPT;
void dpdk_dma_claim_inflight_add(struct dpdk_dma_claim *, int64_t delta)
    DPDK_DMA_NOEXCEPT;
int64_t dpdk_dma_claim_inflight(const struct dpdk_dma_claim *)
    DPDK_DMA_NOEXCEPT;

int dpdk_dma_pool_disable(struct dpdk_dma_pool *, const char *name)
    DPDK_DMA_NOEXCEPT;
int dpdk_dma_pool_enable(struct dpdk_dma_pool *, const char *name)
    DPDK_DMA_NOEXCEPT;

/* Appends to 'ds' a description of each device of 'pool': its name, id, NUMA
 * node, state and claim counters. */
void dpdk_dma_pool_format(const struct dpdk_dma_pool *, struct ds *)
    DPDK_DMA_NOEXCEPT;

/* Adds to this module's coverage counters.  Main thread only.  They are
 * defined in C, in dpdk-dma-coverage.c, because coverage.h cannot be
 * compiled as C++. */
void dpdk_dma_coverage_add(unsigned int n_no_free_device,
                           unsigned int n_cross_numa_claim)
    DPDK_DMA_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* dpdk-dma.h */
