# ovs-dma: Open vSwitch with vhost-user copies offloaded to DMA engines.
#
# This repository holds only ovs-dma's own work: patches/ (changes to
# upstream files) and our new files at their paths in the OVS tree.  The
# targets below assemble Debian's OVS source with them, build it and test
# it.  'make help' lists them.
#
# TARGET picks the upstream: bookworm (the default: Debian 12's OVS 3.1.0
# and DPDK 22.11, patches/, build/ovs) or trixie (Debian 13's OVS 3.5.0 and
# DPDK 24.11, patches/trixie/, build/trixie/ovs, built and run in a Debian
# 13 root, build/trixie/root, that 'make deps TARGET=trixie' makes).

SHELL := /bin/bash
# From the command line only ("make TARGET=trixie ..."): a TARGET that the
# environment has for some other purpose (CI systems set one) is not ours.
ifneq ($(origin TARGET),command line)
TARGET := bookworm
endif
export TARGET
ifeq ($(TARGET),bookworm)
OUT := build
TARGET_RELEASE := 12
else ifeq ($(TARGET),trixie)
OUT := build/trixie
TARGET_RELEASE := 13
else
$(error TARGET=$(TARGET): it is bookworm (the default) or trixie)
endif
TREE := $(OUT)/ovs
# Runs a command where the target is built: on this machine if it runs the
# target's Debian release, else in the target's Debian root (as the fork/
# scripts do, see fork/lib.sh).
HOST_RELEASE := $(firstword $(subst ., ,$(shell cat /etc/debian_version 2>/dev/null)))
RUN := $(if $(or $(OVS_DMA_IN_ROOT),$(filter $(TARGET_RELEASE),$(HOST_RELEASE))),,fork/target-root exec)

.DEFAULT_GOAL := build
.PHONY: help deps assemble build check check-unit check-dpdk check-packages \
	checkpatch soak check-asan \
	export-patches reset-tree sandbox demo bench deb check-deb rpm clean

help:
	@echo "TARGET=bookworm      (default) Debian 12: OVS 3.1.0, DPDK 22.11, build/ovs"
	@echo "TARGET=trixie        Debian 13: OVS 3.5.0, DPDK 24.11, build/trixie/ovs,"
	@echo "                     in a Debian 13 root (build/trixie/root); every"
	@echo "                     target below takes it"
	@echo "make deps            install Debian packages, set up hugepages (root)"
	@echo "make                 assemble $(TREE) (upstream + patches + our files), build it"
	@echo "make check           checkpatch, OVS testsuite, DPDK system tests, a 5-min"
	@echo "                     soak, the sanitizer run, the packages"
	@echo "make check-unit      only the OVS testsuite (TESTSUITEFLAGS, default -j8)"
	@echo "make check-dpdk      only the DPDK system tests (root, hugepages)"
	@echo "make check-packages  only rpm, deb and check-deb, counted (root)"
	@echo "make checkpatch      upstream checkpatch.py on patches/ and our C files"
	@echo "make soak            fault-injection soak of the async data path (root;"
	@echo "                     SOAK_SECONDS=300 or SOAK_CYCLES=n, SOAK_SEED=n)"
	@echo "make check-asan      build/asan with ASan and UBSan: our unit tests (leak"
	@echo "                     checked), our async data path DPDK tests and a"
	@echo "                     short soak (root)"
	@echo "make demo            a live switch moving guest traffic over DMA (root;"
	@echo "                     SIZE=64..1518 DURATION=s ASYNC=on|off DMA=n)"
	@echo "make bench           Debian's OVS-DPDK vs the fork, async off and on (root;"
	@echo "                     QUICK=1 for under 3 minutes; BENCH_ARGS=...)"
	@echo "make deb             build/deb/openvswitch-switch-dma_*.deb with Debian's"
	@echo "                     tooling (root: installs the build dependencies)"
	@echo "make check-deb       install that package in a throw-away Debian root,"
	@echo "                     run it with a DMA device, remove it (root)"
	@echo "make rpm             check the RPM specs; build/rpm/*.src.rpm"
	@echo "make sandbox         upstream's tutorial sandbox with the fork's switch"
	@echo "make export-patches  write build/ovs commits back to patches/"
	@echo "make reset-tree      throw build/ovs away and assemble it again"
	@echo "make clean           remove build/"

deps:
	@fork/deps

assemble:
	@fork/assemble

build: assemble
	@fork/build

check: build
	@fork/check checkpatch fork unit dpdk soak asan packages

check-unit: build
	@fork/check unit

check-dpdk: build
	@fork/check dpdk

check-packages: assemble
	@fork/check packages

checkpatch: assemble
	@fork/check checkpatch

check-asan: assemble
	@fork/check asan

# The soak runs the fork's programs from the build tree.
SOAK_ARGS = $(if $(SOAK_SECONDS),--seconds $(SOAK_SECONDS)) \
	$(if $(SOAK_CYCLES),--cycles $(SOAK_CYCLES)) \
	$(if $(SOAK_SEED),--seed $(SOAK_SEED))
soak: build
	@$(RUN) env PATH="$(TREE_PATH):$$PATH" \
	OVS_SCHEMA="$(CURDIR)/$(TREE)/vswitchd/vswitch.ovsschema" \
	/usr/bin/python3 -B $(TREE)/utilities/ovs-dma-soak $(SOAK_ARGS)

export-patches:
	@fork/export-patches

reset-tree:
	rm -rf $(TREE)
	@fork/assemble

# fork/deb installs what it needs and assembles the tree itself.
deb:
	@fork/deb

check-deb: deb
	@fork/check-deb

rpm: assemble
	@fork/rpm

sandbox: build
	$(RUN) $(MAKE) -C $(TREE) sandbox

# The demo runs the fork's programs from the build tree.
DEMO_ARGS = $(if $(SIZE),--size $(SIZE)) \
	$(if $(DURATION),--duration $(DURATION)) \
	$(if $(ASYNC),--async $(ASYNC)) $(if $(DMA),--dma-devices $(DMA)) \
	$(if $(MIN_FRAME_SIZE),--min-frame-size $(MIN_FRAME_SIZE))
TREE_PATH = $(CURDIR)/$(TREE)/utilities:$(CURDIR)/$(TREE)/vswitchd:$(CURDIR)/$(TREE)/ovsdb
demo: build
	@$(RUN) env PATH="$(TREE_PATH):$$PATH" \
	OVS_SCHEMA="$(CURDIR)/$(TREE)/vswitchd/vswitch.ovsschema" \
	$(TREE)/utilities/ovs-dma-demo $(DEMO_ARGS)

# The benchmark runs Debian's DPDK switch (fetched, not installed) beside
# the fork's, and writes build/bench/results.{csv,md,png} (for trixie,
# build/trixie/bench/).
bench: build
	@fork/debian-ovs
	@$(RUN) env PATH="$(TREE_PATH):$$PATH" /usr/bin/python3 \
	$(TREE)/utilities/ovs-dma-bench $(if $(QUICK),--quick) \
	--debian-vswitchd $(CURDIR)/$(OUT)/bench/debian/usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk \
	--out $(CURDIR)/$(OUT)/bench $(BENCH_ARGS)

# Never across a mount point: fork/target-root and fork/check-deb mount only
# in namespaces of their own, and this refuses if anything is mounted below
# build/ all the same.
clean:
	@! findmnt -rn -o TARGET | grep -q '^$(CURDIR)/build\(/\|$$\)' \
	    || { echo "make clean: something is mounted under build/: unmount it first" >&2; exit 1; }
	rm -rf --one-file-system build
