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

/* Unit tests of the DMA device layer: its pools and claims, through their C
 * interface for tests (lib/dpdk-dma-pool.h), with made-up devices, and its
 * device counts (lib/dpdk-dma.h) on the fake dmadev of
 * tests/fake-vhost-dma.h. */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "command-line.h"
#include "dpdk-dma.h"
#include "dpdk-dma-pool.h"
#include "fake-vhost-dma.h"
#include "openvswitch/dynamic-string.h"
#include "openvswitch/vlog.h"
#include "ovs-atomic.h"
#include "ovs-thread.h"
#include "ovstest.h"
#include "util.h"

#ifdef DPDK_NETDEV

/* A pool with devices dma0...dma<n-1>, ids 0...n-1, on the NUMA nodes that
 * 'numa' gives (all 0 if NULL). */
static struct dpdk_dma_pool *
make_pool(int n, const int *numa)
{
    struct dpdk_dma_pool *pool = dpdk_dma_pool_create();

    for (int i = 0; i < n; i++) {
        char name[16];

        snprintf(name, sizeof name, "dma%d", i);
        ovs_assert(!dpdk_dma_pool_add(pool, i, name, numa ? numa[i] : 0));
    }
    return pool;
}

/* Prints the pool's description, less the time owned (it varies). */
static void
print_pool(const struct dpdk_dma_pool *pool)
{
    struct ds ds = DS_EMPTY_INITIALIZER;
    char *p;

    dpdk_dma_pool_format(pool, &ds);
    while ((p = strstr(ds_cstr(&ds), ", owned: ")) != NULL) {
        char *end = strchr(p, '\n');

        memmove(p, end, strlen(end) + 1);
        ds.length = strlen(ds.string);
    }
    fputs(ds_cstr(&ds), stdout);
    ds_destroy(&ds);
}

static void
test_add(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct dpdk_dma_pool *pool = make_pool(2, NULL);

    ovs_assert(dpdk_dma_pool_add(pool, 0, "other", 0) == EEXIST);
    ovs_assert(dpdk_dma_pool_add(pool, 7, "dma1", 0) == EEXIST);
    ovs_assert(!dpdk_dma_pool_add(pool, 7, "dma7", 1));
    ovs_assert(dpdk_dma_pool_n_free(pool) == 3);
    dpdk_dma_pool_destroy(pool);
    dpdk_dma_pool_destroy(NULL);
}

static void
test_claim_release(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct dpdk_dma_pool *pool = make_pool(2, NULL);
    struct dpdk_dma_claim *a, *b;

    ovs_assert(!dpdk_dma_pool_claim(pool, 1, 0, &a));
    ovs_assert(dpdk_dma_claim_dev_id(a) == 0);
    ovs_assert(!strcmp(dpdk_dma_claim_dev_name(a), "dma0"));
    ovs_assert(!dpdk_dma_pool_claim(pool, 2, 0, &b));
    ovs_assert(dpdk_dma_claim_dev_id(b) == 1);
    ovs_assert(!dpdk_dma_pool_n_free(pool));
    print_pool(pool);

    ovs_assert(!dpdk_dma_claim_release(&a));
    ovs_assert(!a);
    ovs_assert(dpdk_dma_pool_n_free(pool) == 1);
    ovs_assert(!dpdk_dma_claim_release(&b));
    ovs_assert(dpdk_dma_pool_n_free(pool) == 2);
    print_pool(pool);
    dpdk_dma_pool_destroy(pool);
}

static void
test_exhaustion(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct dpdk_dma_pool *pool = make_pool(1, NULL);
    struct dpdk_dma_claim *a, *b = (struct dpdk_dma_claim *) &b;

    ovs_assert(!dpdk_dma_pool_claim(pool, 1, 0, &a));
    ovs_assert(dpdk_dma_pool_claim(pool, 2, 0, &b) == ENODEV);
    ovs_assert(!b);
    ovs_assert(!dpdk_dma_claim_release(&a));

    /* Freed: the thread that fell back gets it at its next try. */
    ovs_assert(!dpdk_dma_pool_claim(pool, 2, 0, &b));
    ovs_assert(dpdk_dma_claim_dev_id(b) == 0);
    ovs_assert(!dpdk_dma_claim_release(&b));

    /* An empty pool has nothing to give. */
    struct dpdk_dma_pool *empty = dpdk_dma_pool_create();
    ovs_assert(dpdk_dma_pool_claim(empty, 1, 0, &a) == ENODEV);
    dpdk_dma_pool_destroy(empty);
    dpdk_dma_pool_destroy(pool);
}

static void
test_numa(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    static const int numa[] = { 1, 0, -1, 1 };
    struct dpdk_dma_pool *pool = make_pool(4, numa);
    struct dpdk_dma_claim *c[5];

    /* Own node first, then unknown node, then the other node. */
    ovs_assert(!dpdk_dma_pool_claim(pool, 1, 0, &c[0]));
    ovs_assert(dpdk_dma_claim_dev_id(c[0]) == 1);
    ovs_assert(!dpdk_dma_pool_claim(pool, 2, 0, &c[1]));
    ovs_assert(dpdk_dma_claim_dev_id(c[1]) == 2);
    ovs_assert(!dpdk_dma_pool_claim(pool, 3, 0, &c[2]));
    ovs_assert(dpdk_dma_claim_dev_id(c[2]) == 0);
    ovs_assert(!dpdk_dma_pool_claim(pool, 4, 1, &c[3]));
    ovs_assert(dpdk_dma_claim_dev_id(c[3]) == 3);
    ovs_assert(dpdk_dma_pool_claim(pool, 5, 1, &c[4]) == ENODEV);
    print_pool(pool);

    for (int i = 0; i < 4; i++) {
        ovs_assert(!dpdk_dma_claim_release(&c[i]));
    }
    dpdk_dma_pool_destroy(pool);
}

static void
test_double_release(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct dpdk_dma_pool *pool = make_pool(2, NULL);
    struct dpdk_dma_claim *a, *b;

    ovs_assert(!dpdk_dma_pool_claim(pool, 1, 0, &a));
    ovs_assert(!dpdk_dma_pool_claim(pool, 2, 0, &b));
    ovs_assert(!dpdk_dma_claim_release(&a));
    ovs_assert(dpdk_dma_claim_release(&a) == ENOENT);
    ovs_assert(!a);

    /* The second release did not free 'b''s device. */
    ovs_assert(dpdk_dma_pool_n_free(pool) == 1);
    print_pool(pool);
    ovs_assert(!dpdk_dma_claim_release(&b));
    dpdk_dma_pool_destroy(pool);
}

/* A device's copies in flight are its own count, and a device that cannot
 * tell is not taken for idle. */
static void
test_device_inflight(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    uint64_t n;
    int id;

    fake_reset();
    id = fake_dma_add("dma0", 0);
    ovs_assert(!dpdk_dma_device_inflight(id, &n) && n == 0);
    fake_dma_fail_stats(id, true);
    ovs_assert(dpdk_dma_device_inflight(id, &n) == EIO && n == UINT64_MAX);
    ovs_assert(dpdk_dma_device_inflight(id + 1, &n) && n == UINT64_MAX);
}

static void
test_disable_free(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct dpdk_dma_pool *pool = make_pool(1, NULL);
    struct dpdk_dma_claim *a;

    ovs_assert(dpdk_dma_pool_disable(pool, "nosuch") == ENOENT);
    ovs_assert(dpdk_dma_pool_enable(pool, "nosuch") == ENOENT);
    ovs_assert(dpdk_dma_pool_enable(pool, "dma0") == EALREADY);

    ovs_assert(!dpdk_dma_pool_disable(pool, "dma0"));
    ovs_assert(dpdk_dma_pool_disable(pool, "dma0") == EALREADY);
    ovs_assert(!dpdk_dma_pool_n_free(pool));
    ovs_assert(dpdk_dma_pool_claim(pool, 1, 0, &a) == ENODEV);
    print_pool(pool);

    ovs_assert(!dpdk_dma_pool_enable(pool, "dma0"));
    ovs_assert(!dpdk_dma_pool_claim(pool, 1, 0, &a));
    ovs_assert(!dpdk_dma_claim_release(&a));
    dpdk_dma_pool_destroy(pool);
}

static void
test_disable_owned(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct dpdk_dma_pool *pool = make_pool(2, NULL);
    struct dpdk_dma_claim *a, *b;

    ovs_assert(!dpdk_dma_pool_claim(pool, 1, 0, &a));
    ovs_assert(!dpdk_dma_claim_revoked(a));

    /* The owner keeps it until it lets go. */
    ovs_assert(dpdk_dma_pool_disable(pool, "dma0") == EINPROGRESS);
    ovs_assert(dpdk_dma_pool_disable(pool, "dma0") == EALREADY);
    ovs_assert(dpdk_dma_claim_revoked(a));
    ovs_assert(dpdk_dma_claim_dev_id(a) == 0);
    print_pool(pool);

    /* Released: disabled, not free; the owner takes the other device. */
    ovs_assert(!dpdk_dma_claim_release(&a));
    ovs_assert(dpdk_dma_pool_n_free(pool) == 1);
    ovs_assert(!dpdk_dma_pool_claim(pool, 1, 0, &a));
    ovs_assert(dpdk_dma_claim_dev_id(a) == 1);
    ovs_assert(dpdk_dma_pool_claim(pool, 2, 0, &b) == ENODEV);
    print_pool(pool);

    /* Enabling a device that is being disabled cancels the disable. */
    ovs_assert(dpdk_dma_pool_disable(pool, "dma1") == EINPROGRESS);
    ovs_assert(!dpdk_dma_pool_enable(pool, "dma1"));
    ovs_assert(!dpdk_dma_claim_revoked(a));
    ovs_assert(!dpdk_dma_claim_release(&a));
    ovs_assert(dpdk_dma_pool_n_free(pool) == 1);

    ovs_assert(!dpdk_dma_pool_enable(pool, "dma0"));
    ovs_assert(dpdk_dma_pool_n_free(pool) == 2);
    print_pool(pool);
    dpdk_dma_pool_destroy(pool);
}

/* Threads claim and release devices of a pool that has fewer devices than
 * threads, and check that no device ever has two owners. */
#define N_THREADS 6
#define N_DEVICES 3
#define N_ROUNDS 20000

struct race {
    struct dpdk_dma_pool *pool;
    atomic_uint owners[N_DEVICES];
    atomic_uint n_claims;
    atomic_uint n_refusals;
};

static void *
race_main(void *race_)
{
    struct race *race = race_;
    unsigned int me = ovsthread_id_self();

    for (int i = 0; i < N_ROUNDS; i++) {
        struct dpdk_dma_claim *claim;
        unsigned int prev;
        int id;

        if (dpdk_dma_pool_claim(race->pool, me, 0, &claim)) {
            atomic_add(&race->n_refusals, 1, &prev);
            continue;
        }
        id = dpdk_dma_claim_dev_id(claim);
        atomic_add(&race->owners[id], 1, &prev);
        ovs_assert(prev == 0);
        atomic_add(&race->n_claims, 1, &prev);
        atomic_sub(&race->owners[id], 1, &prev);
        ovs_assert(prev == 1);
        ovs_assert(!dpdk_dma_claim_release(&claim));
    }
    return NULL;
}

static void
test_threads(struct ovs_cmdl_context *ctx OVS_UNUSED)
{
    struct race race;
    pthread_t threads[N_THREADS];
    unsigned int n_claims, n_refusals;

    race.pool = make_pool(N_DEVICES, NULL);
    for (int i = 0; i < N_DEVICES; i++) {
        atomic_init(&race.owners[i], 0);
    }
    atomic_init(&race.n_claims, 0);
    atomic_init(&race.n_refusals, 0);

    for (int i = 0; i < N_THREADS; i++) {
        threads[i] = ovs_thread_create("dma-race", race_main, &race);
    }
    for (int i = 0; i < N_THREADS; i++) {
        xpthread_join(threads[i], NULL);
    }

    atomic_read(&race.n_claims, &n_claims);
    atomic_read(&race.n_refusals, &n_refusals);
    ovs_assert(n_claims + n_refusals == N_THREADS * N_ROUNDS);
    ovs_assert(n_claims > 0);
    ovs_assert(dpdk_dma_pool_n_free(race.pool) == N_DEVICES);
    dpdk_dma_pool_destroy(race.pool);
}

static const struct ovs_cmdl_command commands[] = {
    {"add", NULL, 0, 0, test_add, OVS_RO},
    {"claim-release", NULL, 0, 0, test_claim_release, OVS_RO},
    {"exhaustion", NULL, 0, 0, test_exhaustion, OVS_RO},
    {"numa", NULL, 0, 0, test_numa, OVS_RO},
    {"double-release", NULL, 0, 0, test_double_release, OVS_RO},
    {"device-inflight", NULL, 0, 0, test_device_inflight, OVS_RO},
    {"disable-free", NULL, 0, 0, test_disable_free, OVS_RO},
    {"disable-owned", NULL, 0, 0, test_disable_owned, OVS_RO},
    {"threads", NULL, 0, 0, test_threads, OVS_RO},
    {NULL, NULL, 0, 0, NULL, OVS_RO},
};

static void
test_dpdk_dma_main(int argc, char *argv[])
{
    struct ovs_cmdl_context ctx = {
        .argc = argc - 1,
        .argv = argv + 1,
    };

    vlog_set_levels(NULL, VLF_ANY_DESTINATION, VLL_OFF);
    set_program_name(argv[0]);
    ovs_cmdl_run_command(&ctx, commands);
}

#else /* !DPDK_NETDEV */

static void
test_dpdk_dma_main(int argc OVS_UNUSED, char *argv[] OVS_UNUSED)
{
    /* The DMA channel manager is part of DPDK builds only. */
    exit(77);
}

#endif /* DPDK_NETDEV */

OVSTEST_REGISTER("test-dpdk-dma", test_dpdk_dma_main);
