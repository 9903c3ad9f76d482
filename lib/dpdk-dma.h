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

/* DMA devices and the threads that own them.
 * ==========================================
 *
 * This module owns the DPDK dmadev devices (Intel DSA and CBDMA/IOAT
 * channels bound to vfio-pci, or software devices such as dma_skeleton) of
 * ovs-vswitchd, and decides which thread uses which.  It knows nothing of
 * what they copy: its user (vhost-async.h) turns them on, offers each one
 * to its own library as it is set up, and submits and reaps the copies.
 *
 * When its user first puts the devices in use (dpdk_dma_set_config()),
 * after DPDK is initialized, every dmadev that EAL probed is examined.  A
 * usable one (it copies memory to memory and has a virtual channel) is
 * configured with one virtual channel and started, then offered to the
 * user's 'attach' function; if that accepts it, it goes into the pool.  The
 * others are logged with the reason and left alone.  Devices are set up
 * once and never stopped: stopping a device loses the copies it holds.
 *
 *
 * Ownership
 * ---------
 *
 * A dmadev is one hardware channel, and DPDK does not let two threads drive
 * it at once.  So a PMD thread claims a whole device for itself when it
 * starts, keeps it across its reloads, and gives it back when it exits,
 * when the devices go out of use, when it has nothing to poll, or when the
 * device is taken out of service (dpdk/dma-disable).  A PMD thread that
 * finds no free device does without, as upstream Open vSwitch does; it
 * tries again at each reload.  Other threads never claim a device.
 *
 * Whether a device still holds copies is the device's own count
 * (dpdk_dma_device_inflight()).  The user must not let a claim go while
 * the device holds copies of its thread: dpdk_dma_pmd_update() and
 * dpdk_dma_pmd_exit() come after it has drained them.
 *
 *
 * Thread-safety
 * -------------
 *
 * The configuration functions are for the main thread.  The set of devices
 * in the pool never changes once it is set up, so dpdk_dma_n_devices() and
 * dpdk_dma_device_id() may be called by any thread without a lock;
 * dpdk_dma_device_name(), for messages, takes the pool's mutex.
 * dpdk_dma_pmd_*() act on the calling thread's own claim.  The pool has a
 * mutex, taken at thread start, reload and exit and by the management
 * commands, never per packet. */

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
 * The user calls dpdk_dma_set_config() each time the configuration is read
 * after DPDK is initialized, with whether the devices are wanted ('in_use')
 * and the number of descriptors it wants in each device's ring ('ring_size',
 * a power of 2, or 0 for the default of 4096).  The first call registers the
 * dpdk/dma-* commands.  The first call with 'in_use' sets the devices up,
 * offering each one to 'attach', which returns NULL to accept it or why it
 * refuses it; a device whose ring cannot be 'ring_size' gets the nearest
 * size it can have, with a warning.  Devices are set up once: a later
 * 'ring_size' changes nothing.  A change of 'in_use' makes PMD threads
 * reload, to claim or release devices. */
typedef const char *dpdk_dma_attach_func(int dev_id);
void dpdk_dma_set_config(bool in_use, unsigned int ring_size,
                         dpdk_dma_attach_func *attach) DPDK_DMA_NOEXCEPT;
bool dpdk_dma_in_use(void) DPDK_DMA_NOEXCEPT;

/* Returns true, and updates '*seq', if PMD threads must reload because
 * their claims must change (a device was disabled, enabled or freed, the
 * devices went in or out of use) since '*seq' was last updated.  Start from
 * '*seq' = 0: the first call only sets it.  dpdk_dma_reload_wait() makes
 * the next poll_block() wake up when a reload is needed. */
bool dpdk_dma_reload_needed(uint64_t *seq) DPDK_DMA_NOEXCEPT;
void dpdk_dma_reload_wait(uint64_t seq) DPDK_DMA_NOEXCEPT;

/* The devices of the pool, whoever owns them: there are
 * dpdk_dma_n_devices(), with dmadev ids dpdk_dma_device_id(0) and up. */
size_t dpdk_dma_n_devices(void) DPDK_DMA_NOEXCEPT;
int dpdk_dma_device_id(size_t index) DPDK_DMA_NOEXCEPT;

/* Returns the name of device 'dev_id', or "unknown DMA device" if it is not
 * in the pool. */
const char *dpdk_dma_device_name(int dev_id) DPDK_DMA_NOEXCEPT;

/* Stores in '*submitted' and '*completed' device 'dev_id''s own counters of
 * the copies submitted to it and completed by it (including failed ones;
 * some drivers count a copy completed only once it is reaped), and in '*n'
 * how many copies it holds: submitted, not completed.  Returns 0, or a
 * positive errno value if the device cannot tell ('*n' is then UINT64_MAX).
 * Any of the pointers may be null. */
int dpdk_dma_device_counts(int dev_id, uint64_t *submitted,
                           uint64_t *completed) DPDK_DMA_NOEXCEPT;
int dpdk_dma_device_inflight(int dev_id, uint64_t *n) DPDK_DMA_NOEXCEPT;

/* PMD threads.
 *
 * A PMD thread calls dpdk_dma_pmd_update() when it starts and at each
 * reload, and dpdk_dma_pmd_exit() when it exits, each time once the copies
 * submitted through its device are back.  With a null 'idle_reason', it
 * wants a device: it keeps the one it has unless it is being disabled, or
 * claims one, preferring its NUMA node.  Otherwise it releases its device
 * and 'idle_reason' says why ("no queue to poll"), for the log and
 * dpdk/dma-show.  Returns the thread's device, or -1 for none; so does
 * dpdk_dma_pmd_dev_id() until the next update. */
int dpdk_dma_pmd_update(unsigned int core_id, int numa_id,
                        const char *idle_reason) DPDK_DMA_NOEXCEPT;
void dpdk_dma_pmd_exit(void) DPDK_DMA_NOEXCEPT;
int dpdk_dma_pmd_dev_id(void) DPDK_DMA_NOEXCEPT;

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
