# ovs-dma's additions to the Open vSwitch build.  Makefile.am includes this
# file last, so every upstream variable is defined by then and this file only
# appends to them.  The files it names live in the ovs-dma repository and are
# linked into the tree when it is assembled.

EXTRA_DIST += build-aux/ovs-dma.mk

# The DMA offload: lib/dpdk-dma.h (DMA devices and their owners) and, on
# top of it, lib/vhost-async.h (the async vhost data path) are its C
# interfaces.
lib_libopenvswitch_la_SOURCES += lib/dpdk-dma.h lib/vhost-async.h
if DPDK_NETDEV
# The DMA offload modules are C++17.  Only DPDK builds compile C++, so users
# of libopenvswitch without DPDK need no C++ runtime.  Errors are reported as
# values, never thrown: exceptions and RTTI are off.
OVS_DMA_CXXFLAGS = \
	$(OVS_CFLAGS) $(DPDK_CXXFLAGS) \
	-Wall -Wextra -Wno-sign-compare \
	-fno-exceptions -fno-rtti
lib_libopenvswitch_la_CXXFLAGS = $(AM_CXXFLAGS) $(OVS_DMA_CXXFLAGS)
lib_libopenvswitch_la_LIBADD += -lstdc++
lib_libopenvswitch_la_SOURCES += \
	lib/dpdk-dma.cc \
	lib/dpdk-dma-coverage.c \
	lib/dpdk-dma-pool.h \
	lib/vhost-async.cc \
	lib/vhost-async-size.cc \
	lib/vhost-async-size.h
else
lib_libopenvswitch_la_SOURCES += lib/vhost-async-stub.c
endif
# The library is linked as C, as upstream links it, in every build: as C++,
# libtool would leave -lstdc++ out of what the programs that use it inherit.
lib_libopenvswitch_la_LINK = $(LINK) $(lib_libopenvswitch_la_LDFLAGS)
EXTRA_DIST += lib/dpdk-dma.cc lib/dpdk-dma-coverage.c lib/dpdk-dma-pool.h \
	lib/vhost-async.cc lib/vhost-async-size.cc lib/vhost-async-size.h \
	lib/vhost-async-stub.c

# Tests of upstream's suites that are skipped, with the reason for each.
EXTRA_DIST += tests/skip-list

# Unit tests of the DMA channel manager.
TESTSUITE_AT += tests/dpdk-dma.at
tests_ovstest_SOURCES += tests/test-dpdk-dma.c

# DMA channel manager: system tests (dma_skeleton devices), the dpdk/dma-*
# commands' manual, and the user guide.
SYSTEM_DPDK_TESTSUITE_AT += tests/system-dpdk-dma.at
MAN_FRAGMENTS += lib/dpdk-dma-unixctl.man
DOC_SOURCE += Documentation/topics/dpdk/dma.rst

# The demo: a live switch moving traffic between the virtio-user ports of a
# dpdk-testpmd guest, with vhost copies done by DMA devices.
bin_SCRIPTS += utilities/ovs-dma-demo
EXTRA_DIST += utilities/ovs-dma-demo

# The benchmark: Debian's OVS-DPDK against the fork, async off and on.
bin_SCRIPTS += utilities/ovs-dma-bench
EXTRA_DIST += utilities/ovs-dma-bench

# The fault-injection soak of the async data path ('make soak' and
# 'make check' in the ovs-dma repository).  A test tool: not installed.
EXTRA_DIST += utilities/ovs-dma-soak

# Manual pages of the demo and the benchmark, in rST like upstream's newer
# ones: rendered and installed when Sphinx is available.
RST_MANPAGES += ovs-dma-bench.8.rst ovs-dma-demo.8.rst

# Unit tests of the vhost async core: the real module on a fake vhost and
# dmadev (a link seam: ovstest defines the DPDK functions that the module
# calls).
TESTSUITE_AT += tests/vhost-async.at
tests_ovstest_SOURCES += tests/test-vhost-async.c
if DPDK_NETDEV
tests_ovstest_SOURCES += tests/fake-vhost-dma.c tests/fake-vhost-dma.h
endif
