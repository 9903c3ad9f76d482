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

#ifndef VHOST_ASYNC_H
#define VHOST_ASYNC_H 1

/* Asynchronous (DMA) copies for vhost-user ports.
 * ===============================================
 *
 * With other_config:vhost-async-support=true (or the per-interface option of
 * the same name), a vhost socket is registered for asynchronous copy, and the
 * packets to and from its guest are copied by the DMA device (dpdk-dma.h)
 * of the PMD thread that sends or receives them, through DPDK's vhost async
 * API.  netdev-dpdk and dpif-netdev call the hooks below; this module owns
 * the logic, and dpdk-dma.h, below it, the devices.
 *
 *
 * Rules
 * -----
 *
 * What is in flight on a vring is vhost's count, and what a DMA device holds
 * is the device's count: this module keeps no count of its own of either.
 *
 *   - Order.  vhost returns the copies of a vring in the order they were
 *     submitted, whichever device made them.  A CPU copy on a vring with
 *     copies in flight would overtake them: it is done only on a vring that
 *     vhost says has none, or to which no burst was submitted since vhost
 *     said so (senders keep that under the vring's send lock).  A PMD
 *     thread with a device copies short frames
 *     (vhost_async_set_min_frame_size()) with the CPU only then, and
 *     submits them to its device otherwise.  A thread without a device
 *     (the main thread, a PMD thread that found none) waits for the vring
 *     to empty, reaping through every device, for at most
 *     VHOST_ASYNC_ORDER_WAIT_MS; if it must give up, the packets are
 *     dropped and counted (ovs_tx_async_order_drops).
 *
 *   - The submitter reaps.  A PMD thread that submits copies to a vring
 *     lists it, and polls it on every iteration of its loop
 *     (vhost_async_pmd_poll()) until vhost says that nothing is in flight on
 *     it.  It asks vhost only once it has taken back as many copies as it
 *     submitted, after a few polls that brought nothing, or again when
 *     vhost could not tell.  It receives from a guest's vring with its
 *     device, which reaps at the same time.
 *
 *   - Drains are by device.  Before a reload or exit, a PMD thread reaps
 *     through its device until its device holds nothing, by the device's
 *     counters, and no receive vring it polls has a copy in flight,
 *     quiescing RCU while it waits, so that a guest teardown that waits for
 *     RCU can go on.  It reaps the vrings of a guest that is going too, while
 *     vhost still has them, so that its device empties without the
 *     teardown.  A vring to a guest whose later copies are on other threads'
 *     devices is left to those threads; a listed vring that gives nothing
 *     back for a while is polled through every device, in case one of them
 *     lost its thread.  Packets from a guest that a drain takes back are
 *     kept for the thread that polls the vring next, which returns them
 *     first.
 *
 *   - Teardown waits.  When the guest goes (destroy_device), after no thread
 *     submits any more, each vring is cleared through every device until
 *     vhost says nothing is in flight, however long a device takes (with a
 *     warning each second), and only then is its async channel
 *     unregistered.  Before vhost handles a message that disables a vring,
 *     and when it says a vring's state changes
 *     (vhost_async_vring_state_changed()), holding every vring lock, the
 *     copies of the vring are completed while the guest still sees them;
 *     copies from the guest that it takes back are delivered by the thread
 *     that polls the vring, before any later one.  Only copies into a vring
 *     whose guest is gone are cleared (and counted).  A vring the guest
 *     makes ready after it attached (a queue it enables later) gets its
 *     async channel then.
 *
 *   - Device errors are not recovered.  vhost 22.11 does not give back a
 *     copy that a DMA device failed: a vring with one never empties, and
 *     the threads that wait for it warn each second (see dma.rst).
 *
 *   - Counters have one writer: each thread counts in a slot of its own
 *     (a cache line per thread and port), and vhost_async_port_custom_stats()
 *     adds them up.
 *
 *
 * Thread-safety
 * -------------
 *
 * vhost_async_send() is called with the vring's send lock held (netdev-dpdk
 * serializes the senders of each vring), vhost_async_recv() by the only
 * thread that polls the vring (dpif-netdev moves a queue between PMD threads
 * only across reloads), the vhost callbacks by DPDK's vhost thread (or by the
 * thread that unregisters a socket), vhost_async_pmd_*() by PMD threads, and
 * the rest by the main thread. */

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#define VHOST_ASYNC_NOEXCEPT noexcept
#else
#define VHOST_ASYNC_NOEXCEPT
#endif

struct netdev_custom_stats;
struct rte_mbuf;
struct rte_mempool;
struct seq;
struct smap;
struct vhost_async_port;

/* Configuration.  Main thread only.
 *
 * vhost_async_set_config() reads other_config:vhost-async-support,
 * vhost-async-min-frame-size and (through dpdk-dma.h) the DMA devices'
 * options from the Open_vSwitch table's other_config, each time the
 * configuration is read after DPDK is initialized.  Invalid values are
 * logged and leave the setting as it was.  dpdk_init() of a build without
 * DPDK, or with DPDK not initialized, calls vhost_async_check_without_dpdk()
 * instead, which warns that the option cannot take effect. */
void vhost_async_set_config(const struct smap *ovs_other_config)
    VHOST_ASYNC_NOEXCEPT;
void vhost_async_check_without_dpdk(const struct smap *ovs_other_config)
    VHOST_ASYNC_NOEXCEPT;
bool vhost_async_enabled(void) VHOST_ASYNC_NOEXCEPT;

/* Frames shorter than 'bytes' are copied with the CPU even by a PMD thread
 * that has a DMA device (other_config:vhost-async-min-frame-size): handing
 * a short copy to a device costs the PMD thread more than the copy itself.
 * 0 sends every copy to the device.  Sending to a guest decides by burst
 * (all its frames are short), receiving by the moving average of the frame
 * lengths of the queue; either way, a CPU copy only once the vring has no
 * copy in flight, so that frames keep their order.
 *
 * VHOST_ASYNC_MIN_FRAME_SIZE_AUTO ("auto", the default): each PMD thread
 * finds, from its own cycle counts, which copies cost it less by its DMA
 * device, by size class and direction (vhost-async-size.h). */
#define VHOST_ASYNC_MIN_FRAME_SIZE_AUTO UINT_MAX
#define VHOST_ASYNC_MIN_FRAME_SIZE_DEFAULT VHOST_ASYNC_MIN_FRAME_SIZE_AUTO
void vhost_async_set_min_frame_size(unsigned int bytes) VHOST_ASYNC_NOEXCEPT;
unsigned int vhost_async_min_frame_size(void) VHOST_ASYNC_NOEXCEPT;

/* How long a thread without a DMA device waits, at most, for the copies in
 * flight on a vring before its own CPU copy, in milliseconds. */
#define VHOST_ASYNC_ORDER_WAIT_MS 100

/* Port life cycle (main thread).
 *
 * A port's socket is registered for asynchronous copy if its option (or,
 * without one, other_config:vhost-async-support) says so when the socket is
 * registered.  When that changes, vhost-async changes 'reconfigure_seq' (the
 * netdev's) and vhost_async_reregister_needed() becomes true: netdev-dpdk
 * then unregisters the socket, which detaches the guest, and registers it
 * again with vhost_async_socket_flags() (given the socket's path and the
 * vhost flags it is registered with, it adds RTE_VHOST_USER_ASYNC_COPY or
 * takes it away; it refuses asynchronous copy, with a warning, to a socket
 * with IOMMU or postcopy support and to a VDUSE device), or says with
 * vhost_async_socket_unregistered() that it could not.  The port goes with
 * vhost_async_port_destroy(); a guest still attached is torn down by
 * destroy_device() when the socket is unregistered.
 *
 * vhost_async_port_set_options() takes the port's options (the Interface's
 * 'options' column): options:vhost-async-support.  An invalid value is
 * logged and leaves the option as it was.  With 'only_ours', the port has
 * no other option (a dpdkvhostuser port): others are logged, once, as
 * ignored. */
struct vhost_async_port *vhost_async_port_create(const char *name,
                                                 struct seq *reconfigure_seq)
    VHOST_ASYNC_NOEXCEPT;
void vhost_async_port_destroy(struct vhost_async_port *) VHOST_ASYNC_NOEXCEPT;
void vhost_async_port_set_options(struct vhost_async_port *,
                                  const struct smap *options, bool only_ours)
    VHOST_ASYNC_NOEXCEPT;
bool vhost_async_reregister_needed(const struct vhost_async_port *)
    VHOST_ASYNC_NOEXCEPT;
void vhost_async_socket_unregistered(struct vhost_async_port *)
    VHOST_ASYNC_NOEXCEPT;
uint64_t vhost_async_socket_flags(struct vhost_async_port *, const char *path,
                                  uint64_t flags) VHOST_ASYNC_NOEXCEPT;

/* Appends the port's counters to 'stats': for each direction (tx to the
 * guest, rx from it) the packets submitted to DMA devices, completed, in
 * flight (vhost's count, and for rx the completed ones not yet returned),
 * cleared at a teardown, copied with the CPU (and of those, for being
 * short), and for tx the packets dropped to keep order.  'vid' is the
 * guest's vhost device id, or -1: the caller holds a lock that keeps the
 * device from going meanwhile (netdev-dpdk's dev->mutex). */
void vhost_async_port_custom_stats(const struct vhost_async_port *, int vid,
                                   struct netdev_custom_stats *)
    VHOST_ASYNC_NOEXCEPT;

/* vhost callbacks.
 *
 * new_device() registers the async channels of the guest's vrings with
 * vhost_async_new_device(), which returns whether the guest's copies go
 * through vhost_async_send() and vhost_async_recv(): the caller keeps that
 * next to the guest's vid, where its data path tests it inline, and it stays
 * so for the guest's life.  When the
 * guest goes, destroy_device() calls vhost_async_stop_device() (or
 * vhost_async_stop_vid() for a port that netdev-dpdk no longer lists) before
 * it waits for RCU, so that no thread submits any more after the wait, and
 * vhost_async_destroy_device() with what that returned after the wait. */
bool vhost_async_new_device(struct vhost_async_port *, int vid)
    VHOST_ASYNC_NOEXCEPT;
struct vhost_async_port *vhost_async_stop_device(struct vhost_async_port *)
    VHOST_ASYNC_NOEXCEPT;
struct vhost_async_port *vhost_async_stop_vid(int vid) VHOST_ASYNC_NOEXCEPT;
void vhost_async_destroy_device(struct vhost_async_port *, int vid)
    VHOST_ASYNC_NOEXCEPT;
void vhost_async_vring_state_changed(int vid, uint16_t vring, int enable)
    VHOST_ASYNC_NOEXCEPT;

/* Unregisters the vhost-user socket 'path' (rte_vhost_driver_unregister())
 * from a thread that RCU knows, which is quiescent meanwhile: DPDK waits for
 * a vhost callback of that socket in progress, and destroy_device() waits
 * for RCU.  Returns DPDK's return value. */
int vhost_async_unregister_socket(const char *path) VHOST_ASYNC_NOEXCEPT;

/* Data path.
 *
 * The send and receive paths of a guest for which vhost_async_new_device()
 * returned true call vhost_async_send() and vhost_async_recv(), once per
 * burst.  vhost_async_send() gives 'cnt' packets to vring
 * 'vring' and returns how many of them, from the first, vhost keeps until
 * their copies complete; the caller frees the others (copied with the CPU,
 * or dropped: '*n_unsent' of them).  vhost_async_recv() returns up to 'n'
 * packets from the guest. */
int vhost_async_send(struct vhost_async_port *, int vid, uint16_t vring,
                     struct rte_mbuf **pkts, int cnt, int max_retries,
                     int *retries, int *n_unsent) VHOST_ASYNC_NOEXCEPT;
int vhost_async_recv(struct vhost_async_port *, int vid, uint16_t vring,
                     struct rte_mempool *, struct rte_mbuf **pkts, int n)
    VHOST_ASYNC_NOEXCEPT;

/* PMD threads (dpif-netdev).
 *
 * A PMD thread calls vhost_async_pmd_reload() when it starts and at each
 * reload, before it tells the main thread that the reload is done, and
 * vhost_async_pmd_exit() instead when it exits; 'busy' says whether it polls
 * any queue (a thread with nothing to poll needs no device).  Both drain
 * the thread's copies first.  In between, the thread calls
 * vhost_async_pmd_poll() on every iteration of its loop (it returns at once
 * if the thread lists nothing, as it does without a device; dpif-netdev
 * calls it only if vhost_async_pmd_has_device()): it returns the number of
 * packets whose copies it reaped and, unless 'cycles' is null, adds to
 * '*cycles' the TSC cycles it took, if it had anything listed (it reads no
 * TSC otherwise, except with vhost-async-min-frame-size=auto, whose policy
 * takes each call as the end of an iteration).  A guest's teardown waits
 * for the
 * threads to let go of its vrings on their next poll.  dpif_netdev_run()
 * reloads the PMD threads when vhost_async_reload_needed() (DMA device
 * claims must change). */
void vhost_async_pmd_reload(unsigned int core_id, int numa_id, bool busy)
    VHOST_ASYNC_NOEXCEPT;
void vhost_async_pmd_exit(void) VHOST_ASYNC_NOEXCEPT;
bool vhost_async_pmd_has_device(void) VHOST_ASYNC_NOEXCEPT;
unsigned int vhost_async_pmd_poll(uint64_t *cycles) VHOST_ASYNC_NOEXCEPT;
bool vhost_async_reload_needed(uint64_t *seq) VHOST_ASYNC_NOEXCEPT;
void vhost_async_reload_wait(uint64_t seq) VHOST_ASYNC_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* vhost-async.h */
