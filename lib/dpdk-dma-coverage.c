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

/* Coverage counters of the DMA channel manager (dpdk-dma.cc), which cannot
 * define them itself because coverage.h cannot be compiled as C++.
 *
 * The events happen in PMD threads, which fold their coverage counts into
 * the totals only now and then, and never while they wait for work.  So the
 * manager counts them itself and the main thread adds them here. */

#include <config.h>

#include "dpdk-dma.h"

#include "coverage.h"

/* A PMD thread found no free DMA device and copies with the CPU. */
COVERAGE_DEFINE(dpdk_dma_no_free_device);
/* A PMD thread claimed a DMA device on another NUMA node than its own. */
COVERAGE_DEFINE(dpdk_dma_cross_numa_claim);

void
dpdk_dma_coverage_add(unsigned int n_no_free_device,
                      unsigned int n_cross_numa_claim)
{
    COVERAGE_ADD(dpdk_dma_no_free_device, n_no_free_device);
    COVERAGE_ADD(dpdk_dma_cross_numa_claim, n_cross_numa_claim);
}
