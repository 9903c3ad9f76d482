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

/* The DMA offload of builds without DPDK: no DMA device, every vhost copy
 * (there is no vhost) by the CPU.  What upstream files call of vhost-async.h
 * and dpdk-dma.h does nothing, but warn that the option cannot take
 * effect. */

#include <config.h>

#include "dpdk-dma.h"
#include "vhost-async.h"

#include <stdio.h>

#include "openvswitch/vlog.h"
#include "smap.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(vhost_async);

void
dpdk_dma_print_version(void)
{
    puts("ovs-dma " OVS_DMA_VERSION " (built without DPDK: no DMA offload)");
}

void
vhost_async_check_without_dpdk(const struct smap *ovs_other_config)
{
    static bool warned = false; /* Main thread only. */

    if (!smap_get_bool(ovs_other_config, "vhost-async-support", false)) {
        warned = false;
    } else if (!warned) {
        warned = true;
        VLOG_WARN("other_config:vhost-async-support is ignored: this build "
                  "of Open vSwitch has no DPDK.");
    }
}

bool
vhost_async_reload_needed(uint64_t *seq OVS_UNUSED)
{
    return false;
}

void
vhost_async_reload_wait(uint64_t seq OVS_UNUSED)
{
}

void
vhost_async_pmd_reload(unsigned int core_id OVS_UNUSED, int numa_id OVS_UNUSED,
                       bool busy OVS_UNUSED)
{
}

void
vhost_async_pmd_exit(void)
{
}

bool
vhost_async_pmd_has_device(void)
{
    return false;
}

unsigned int
vhost_async_pmd_poll(uint64_t *cycles OVS_UNUSED)
{
    return 0;
}
