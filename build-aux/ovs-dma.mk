# ovs-dma's additions to the Open vSwitch build.  Makefile.am includes this
# file last, so every upstream variable is defined by then and this file only
# appends to them.  The files it names live in the ovs-dma repository and are
# linked into the tree when it is assembled.

EXTRA_DIST += build-aux/ovs-dma.mk

if DPDK_NETDEV
# The DMA offload modules are C++17.  Only DPDK builds compile C++, so users
# of libopenvswitch without DPDK need no C++ runtime.  Errors are reported as
# values, never thrown: exceptions and RTTI are off.
OVS_DMA_CXXFLAGS = \
	$(DPDK_CXXFLAGS) \
	-Wall -Wextra -Wshadow -Wno-sign-compare -Wno-unused-parameter \
	-fno-exceptions -fno-rtti
lib_libopenvswitch_la_CXXFLAGS = $(AM_CXXFLAGS) $(OVS_DMA_CXXFLAGS)
lib_libopenvswitch_la_LIBADD += -lstdc++
endif

# Tests of upstream's suites that are skipped, with the reason for each.
EXTRA_DIST += tests/skip-list
