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

#ifndef DPDK_DMA_POOL_H
#define DPDK_DMA_POOL_H 1

/* Pools of DMA devices, for unit tests.
 *
 * ovs-vswitchd has one pool, which dpdk-dma.h fills from DPDK and its PMD
 * threads claim from.  These functions build pools of their own, with
 * devices that need not exist, so that a test can check the rules of
 * claiming: a device has at most one owner, a thread prefers a device of
 * its NUMA node, a device being disabled stays with its owner until the
 * owner releases it.  Nothing of ovs-vswitchd calls them.
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
 *   - dpdk_dma_claim_release(): releases '*claimp' and sets it to NULL;
 *     ENOENT if '*claimp' is already NULL (released twice).  The caller
 *     must have drained the copies it submitted through the device.
 *
 *   - dpdk_dma_pool_disable(): takes device 'name' out of service.  A free
 *     device is disabled at once.  A claimed one stays with its owner until
 *     the owner releases it (dpdk_dma_claim_revoked() tells the owner to) and
 *     is then disabled; the return value is then EINPROGRESS.  ENOENT if
 *     there is no such device, EALREADY if it is disabled or being disabled.
 *
 *   - dpdk_dma_pool_enable(): puts a disabled device back into service, or
 *     cancels a pending disable.  ENOENT if there is no such device,
 *     EALREADY if it is in service.
 *
 * Thread-safety: every function is thread-safe; a claim belongs to the
 * thread that took it, and only that thread may release it. */

#include <stddef.h>

#include "dpdk-dma.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ds;
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

int dpdk_dma_pool_disable(struct dpdk_dma_pool *, const char *name)
    DPDK_DMA_NOEXCEPT;
int dpdk_dma_pool_enable(struct dpdk_dma_pool *, const char *name)
    DPDK_DMA_NOEXCEPT;

/* Appends to 'ds' a description of each device of 'pool': its name, id, NUMA
 * node, state and claim counters. */
void dpdk_dma_pool_format(const struct dpdk_dma_pool *, struct ds *)
    DPDK_DMA_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* dpdk-dma-pool.h */
