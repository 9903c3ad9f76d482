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

/* The DMA channel manager of builds without DPDK: no DMA devices, every PMD
 * thread copies with the CPU. */

#include <config.h>

#include "dpdk-dma.h"

#include <stdio.h>

#include "openvswitch/vlog.h"
#include "smap.h"
#include "util.h"

VLOG_DEFINE_THIS_MODULE(dpdk_dma);

void
dpdk_dma_print_version(void)
{
    puts("ovs-dma " OVS_DMA_VERSION " (built without DPDK: no DMA offload)");
}

void
dpdk_dma_set_config(const struct smap *ovs_other_config OVS_UNUSED)
{
}

void
dpdk_dma_check_without_dpdk(const struct smap *ovs_other_config)
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
dpdk_dma_async_enabled(void)
{
    return false;
}

bool
dpdk_dma_reload_needed(uint64_t *seq OVS_UNUSED)
{
    return false;
}

void
dpdk_dma_reload_wait(uint64_t seq OVS_UNUSED)
{
}

void
dpdk_dma_pmd_reload(unsigned int core_id OVS_UNUSED, int numa_id OVS_UNUSED,
                    bool busy OVS_UNUSED)
{
}

void
dpdk_dma_pmd_exit(void)
{
}

unsigned int
dpdk_dma_pmd_poll(void)
{
    return 0;
}

int
dpdk_dma_pmd_dev_id(void)
{
    return -1;
}

struct dpdk_dma_claim *
dpdk_dma_pmd_claim(void)
{
    return NULL;
}
