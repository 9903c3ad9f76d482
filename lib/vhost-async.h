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
 *
 * netdev-dpdk calls these hooks; the logic lives in vhost-async.cc.  With
 * other_config:vhost-async-support=true (or the per-interface option of the
 * same name), a vhost socket is registered for asynchronous copy, and then:
 *
 *   - A PMD thread that claimed a DMA device (dpdk-dma.h) submits the copies
 *     of the packets it sends to a guest, and of the packets it receives from
 *     a guest, to that device through DPDK's vhost async API.
 *
 *   - The submitting PMD thread reaps its completions on every iteration of
 *     its loop (vhost_async_pmd_poll()) from a short list of the queues it has
 *     copies in flight on, and drains that list before it reloads or exits.
 *
 *   - A thread without a device (a PMD thread that found none, the main
 *     thread) copies with the CPU, but only on a queue with nothing in
 *     flight, so that packets are never reordered.  So are short frames
 *     (vhost_async_set_min_frame_size()).
 *
 *   - Teardown (guest gone, vring disabled, memory table changed) drains the
 *     queue through every device that holds copies for it before vhost lets
 *     go of the queue.
 *
 * Thread safety: the data path functions are called by the thread polling or
 * sending on the queue; the vhost callbacks by DPDK's vhost thread; the rest
 * by the main thread. */

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
struct vhost_async_port;

/* Port life cycle (main thread).
 *
 * A port's socket is registered for asynchronous copy if its option (or,
 * without one, other_config:vhost-async-support) says so when the socket is
 * registered.  When that changes, vhost-async changes 'reconfigure_seq' (the
 * netdev's) and vhost_async_reregister_needed() becomes true: netdev-dpdk
 * then unregisters the socket, which detaches the guest, and registers it
 * again with vhost_async_socket_flags(), or says with
 * vhost_async_socket_unregistered() that it could not.  An invalid option
 * value is logged and leaves the option as it was. */
struct vhost_async_port *vhost_async_port_create(const char *name,
                                                 struct seq *reconfigure_seq)
    VHOST_ASYNC_NOEXCEPT;
void vhost_async_port_destroy(struct vhost_async_port *) VHOST_ASYNC_NOEXCEPT;
void vhost_async_port_set_option(struct vhost_async_port *, const char *value)
    VHOST_ASYNC_NOEXCEPT;
void vhost_async_settings_changed(void) VHOST_ASYNC_NOEXCEPT;

/* Frames shorter than 'bytes' are copied with the CPU even by a PMD thread
 * that has a DMA device (other_config:vhost-async-min-frame-size): handing
 * a short copy to a device costs the PMD thread more than the copy itself.
 * 0 sends every copy to the device.  Sending to a guest decides by burst
 * (all its frames are short), receiving by the moving average of the frame
 * lengths of the queue; either way, only once the queue has no copy in
 * flight, so that frames keep their order. */
#define VHOST_ASYNC_MIN_FRAME_SIZE_DEFAULT 256
void vhost_async_set_min_frame_size(unsigned int bytes) VHOST_ASYNC_NOEXCEPT;
unsigned int vhost_async_min_frame_size(void) VHOST_ASYNC_NOEXCEPT;
bool vhost_async_reregister_needed(const struct vhost_async_port *)
    VHOST_ASYNC_NOEXCEPT;
void vhost_async_socket_unregistered(struct vhost_async_port *)
    VHOST_ASYNC_NOEXCEPT;
uint64_t vhost_async_socket_flags(struct vhost_async_port *, uint64_t flags)
    VHOST_ASYNC_NOEXCEPT;
void vhost_async_port_custom_stats(const struct vhost_async_port *,
                                   struct netdev_custom_stats *)
    VHOST_ASYNC_NOEXCEPT;

/* vhost callbacks. */
void vhost_async_new_device(struct vhost_async_port *, int vid)
    VHOST_ASYNC_NOEXCEPT;
struct vhost_async_port *vhost_async_stop_device(struct vhost_async_port *)
    VHOST_ASYNC_NOEXCEPT;
void vhost_async_destroy_device(struct vhost_async_port *, int vid)
    VHOST_ASYNC_NOEXCEPT;
void vhost_async_vring_state_changed(int vid, uint16_t vring, int enable)
    VHOST_ASYNC_NOEXCEPT;

/* Data path. */
bool vhost_async_active(const struct vhost_async_port *) VHOST_ASYNC_NOEXCEPT;
int vhost_async_send(struct vhost_async_port *, int vid, uint16_t vring,
                     struct rte_mbuf **pkts, int cnt, int max_retries,
                     int *retries, int *n_unsent) VHOST_ASYNC_NOEXCEPT;
int vhost_async_recv(struct vhost_async_port *, int vid, uint16_t vring,
                     struct rte_mempool *, struct rte_mbuf **pkts, int n)
    VHOST_ASYNC_NOEXCEPT;
unsigned int vhost_async_pmd_poll(void) VHOST_ASYNC_NOEXCEPT;
void vhost_async_pmd_drain(void) VHOST_ASYNC_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* vhost-async.h */
