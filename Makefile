# SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
# memwatch: `make` builds ./memwatch; `make check`, `make demo`, `make bench`, `make mutants`.
# Quiet by default; `make V=1` prints every command.

.DELETE_ON_ERROR:
.SUFFIXES:
# Keep the BPF objects: the floor and memwatch skeletons are made from them.
.SECONDARY:

OUTPUT   := .output
CLANG    ?= clang
BPFTOOL  ?= bpftool
SCDOC    ?= scdoc
CC       ?= gcc
PREFIX   ?= /usr/local
DESTDIR  ?=
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
VMLINUX  := vmlinux/$(ARCH)

CFLAGS   ?= -O2 -g
override CFLAGS += -std=gnu11 -Wall -Wextra -Werror -MMD -MP -D_GNU_SOURCE \
                   -I$(OUTPUT) -I$(OUTPUT)/pb -Iuser -Ibpf
# -target bpf drops the multiarch include dir that <linux/errno.h> (via usdt.bpf.h) needs.
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
              -I$(OUTPUT) -I$(VMLINUX) -Ibpf -idirafter /usr/include/$(shell $(CC) -dumpmachine) \
              -MMD -MP
# libbpf, libdw (user stacks), libelf, compressors and libsupc++'s C++ demangler statically;
# libmicrohttpd (--prometheus) is opened with dlopen when an endpoint starts (its TLS stack
# costs 2.5 MB of resident memory): the binary needs only libc, and libmicrohttpd12 on the
# target host for --prometheus.
# protobuf-c (pprof and Perfetto encoding), json-c (memwatch report reads NDJSON) and ncurses
# (memwatch top) statically too: the terminal database is the host's own.
LDLIBS   := -Wl,-Bstatic -lbpf -ldw -lelf -lz -lzstd -llzma -lbz2 -lsupc++ -lprotobuf-c -ljson-c \
            -lncursesw -ltinfo -Wl,-Bdynamic -lpthread

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

BPF_SRCS  := $(wildcard bpf/*.bpf.c)
BPF_OBJS  := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
SKELS     := $(patsubst bpf/%.bpf.c,$(OUTPUT)/%.skel.h,$(BPF_SRCS))
# user/sampler/ is a library of its own (libmemwatch-sampler.so), not part of the binary.
USER_SRCS := $(filter-out user/sampler/%,$(wildcard user/*.c user/*/*.c))
# Protocol buffers (pprof's profile.proto, Perfetto's trace packets): C from protoc-c, built here.
PROTOS    := $(wildcard user/*/*.proto)
PB_SRCS   := $(patsubst %.proto,$(OUTPUT)/pb/%.pb-c.c,$(notdir $(PROTOS)))
PB_HDRS   := $(PB_SRCS:.c=.h)
PB_OBJS   := $(PB_SRCS:.c=.o)
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS)) $(PB_OBJS)
LIB_OBJS  := $(filter-out $(OUTPUT)/user/main.o,$(USER_OBJS))
# libm: the allocator sampler's exponential gaps and weights (mprobe.c, mtrace.c).
LDLIBS    += -lm
UNIT_SRCS := $(wildcard tests/unit/*.c)
UNIT_OBJS := $(patsubst tests/unit/%.c,$(OUTPUT)/unit/%.o,$(UNIT_SRCS))
WORKLOADS := $(patsubst tests/workloads/%.c,$(OUTPUT)/workloads/%,$(wildcard tests/workloads/*.c))
TOOLS_BIN := $(patsubst tools/%.c,$(OUTPUT)/tools/%,$(wildcard tools/*.c))

.PHONY: all deps install demo check unit bench clean workloads lint man sampler mutants asan \
	check-asan fuzz fuzz-build fuzz-regress check-kernels bench-kernels
all: memwatch sampler

deps:
	$(Q)sh tools/deps.sh

$(OUTPUT) $(OUTPUT)/bpf $(OUTPUT)/unit $(OUTPUT)/workloads $(OUTPUT)/tools:
	$(Q)mkdir -p $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.skel.h: $(OUTPUT)/bpf/%.bpf.o | $(OUTPUT)
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

$(OUTPUT)/pb:
	$(Q)mkdir -p $@

vpath %.proto $(sort $(dir $(PROTOS)))
$(OUTPUT)/pb/%.pb-c.c $(OUTPUT)/pb/%.pb-c.h: %.proto | $(OUTPUT)/pb
	$(call msg,PROTOC-C,$@)
	$(Q)protoc-c --proto_path=$(dir $<) --c_out=$(OUTPUT)/pb $<

$(OUTPUT)/pb/%.pb-c.o: $(OUTPUT)/pb/%.pb-c.c $(PB_HDRS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/user/%.o: user/%.c | $(SKELS) $(PB_HDRS)
	$(call msg,CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

memwatch: $(USER_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/unit/%.o: tests/unit/%.c | $(OUTPUT)/unit $(SKELS) $(PB_HDRS)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/unit_tests: $(UNIT_OBJS) $(LIB_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

# Workloads: plain C programs with known memory behaviour; -O1 keeps their calls.
$(OUTPUT)/workloads/%: tests/workloads/%.c | $(OUTPUT)/workloads
	$(call msg,CC,$@)
	$(Q)$(CC) -std=gnu11 -O1 -g -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP $< -o $@ -pthread

$(OUTPUT)/tools/%: tools/%.c $(SKELS) | $(OUTPUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LDLIBS) -o $@

# ustack_demo drives the user-stack library (user/stacks/) on a live process.
# stacks/ may use base/ (its README): both go in.
USTACK_OBJS := $(filter $(OUTPUT)/user/stacks/%.o $(OUTPUT)/user/base/%.o,$(LIB_OBJS))
$(OUTPUT)/tools/ustack_demo: tools/ustack_demo.c $(USTACK_OBJS) | $(OUTPUT)/tools
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $^ $(LDLIBS) -o $@

workloads: $(WORKLOADS)
unit: $(OUTPUT)/unit_tests

# The in-process allocation sampler (user/sampler/), preloaded into the processes it profiles:
# position-independent, its own symbols hidden but the malloc family's, its thread state in
# static TLS (initial-exec: no allocation on a thread's first access). libm: the gaps' logarithm.
SAMPLER := $(OUTPUT)/libmemwatch-sampler.so
SAMPLER_CFLAGS := -std=gnu11 -O2 -g -fPIC -fvisibility=hidden -ftls-model=initial-exec \
		  -fno-omit-frame-pointer -Wall -Wextra -Werror -D_GNU_SOURCE -MMD -MP
$(SAMPLER): user/sampler/sampler.c | $(OUTPUT)
	$(call msg,LIB,$@)
	$(Q)$(CC) $(SAMPLER_CFLAGS) -shared -Wl,-z,now -Wl,-soname,libmemwatch-sampler.so \
		$< -o $@ -lm
sampler: $(SAMPLER)

# The manual, memwatch(8), from its scdoc source (tools/deps.sh installs scdoc).
$(OUTPUT)/memwatch.8: user/memwatch.8.scd | $(OUTPUT)
	$(call msg,SCDOC,$@)
	$(Q)$(SCDOC) < $< > $@

man: $(OUTPUT)/memwatch.8

install: memwatch $(SAMPLER) $(OUTPUT)/memwatch.8
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX)/bin/memwatch)
	$(Q)install -D -m 0755 memwatch $(DESTDIR)$(PREFIX)/bin/memwatch
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX)/lib/memwatch/libmemwatch-sampler.so)
	$(Q)install -D -m 0644 $(SAMPLER) $(DESTDIR)$(PREFIX)/lib/memwatch/libmemwatch-sampler.so
	@# The drop-in that preloads it into a service: an example, with this PREFIX.
	$(Q)install -d $(DESTDIR)$(PREFIX)/share/doc/memwatch
	$(Q)sed 's|/usr/local|$(PREFIX)|g' tools/memwatch-sampler.conf \
		> $(DESTDIR)$(PREFIX)/share/doc/memwatch/memwatch-sampler.conf
	$(call msg,INSTALL,$(DESTDIR)$(SYSTEMDDIR)/memwatch.service)
	$(Q)install -d $(DESTDIR)$(SYSTEMDDIR)
	$(Q)sed 's|/usr/local|$(PREFIX)|g' tools/memwatch.service > $(DESTDIR)$(SYSTEMDDIR)/memwatch.service
	$(Q)chmod 0644 $(DESTDIR)$(SYSTEMDDIR)/memwatch.service
	$(Q)install -D -m 0644 README.md $(DESTDIR)$(PREFIX)/share/doc/memwatch/README.md
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX)/share/man/man8/memwatch.8)
	$(Q)install -D -m 0644 $(OUTPUT)/memwatch.8 $(DESTDIR)$(PREFIX)/share/man/man8/memwatch.8
	@# The example config, never over the operator's own.
	$(Q)if [ -e $(DESTDIR)/etc/memwatch/memwatch.conf ]; then \
		echo "  KEEP     $(DESTDIR)/etc/memwatch/memwatch.conf (exists)"; \
	else \
		echo "  INSTALL  $(DESTDIR)/etc/memwatch/memwatch.conf"; \
		install -D -m 0644 tools/memwatch.conf $(DESTDIR)/etc/memwatch/memwatch.conf; \
	fi

demo: deps
	$(Q)$(MAKE) --no-print-directory memwatch $(OUTPUT)/workloads/arena_demo
	./memwatch -c -- $(OUTPUT)/workloads/arena_demo 6

# The shape of user/ (each folder's "May use" list, no include cycle) and the C style
# (.clang-format) of every C file but the generated vmlinux.h.
FORMAT_SRCS := $(shell find user bpf tests tools -name '*.[ch]' -o -name '*.cc')
lint:
	$(Q)python3 tools/check_layers.py
	$(Q)clang-format --style=file --dry-run -Werror $(FORMAT_SRCS)
	@echo "  LINT     $(words $(FORMAT_SRCS)) C files as .clang-format says"

# ---- sanitizers and fuzzing: their own build directories, never .output ----
# .output-asan: memwatch and the unit tests built with ASan and UBSan (the normal compiler:
# the user-stack tests rely on its frames; every UB fatal, leaks reported). .output-fuzz:
# libFuzzer harnesses (tests/fuzz/, clang) over the parsers and escapers, with ASan and UBSan
# too. The BPF skeletons come from the normal build.
SAN_CC    ?= $(CC)
FUZZ_CC   ?= clang
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
ASAN      := .output-asan
FUZZ      := .output-fuzz
ASAN_OBJS := $(patsubst user/%.c,$(ASAN)/user/%.o,$(USER_SRCS)) \
	     $(patsubst $(OUTPUT)/pb/%.c,$(ASAN)/pb/%.o,$(PB_SRCS))
ASAN_UNIT := $(patsubst tests/unit/%.c,$(ASAN)/unit/%.o,$(UNIT_SRCS))
FUZZ_LIB  := $(filter-out $(FUZZ)/user/main.o,$(patsubst user/%.c,$(FUZZ)/user/%.o,$(USER_SRCS))) \
	     $(patsubst $(OUTPUT)/pb/%.c,$(FUZZ)/pb/%.o,$(PB_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/*.c)
FUZZERS   := $(patsubst tests/fuzz/%.c,$(FUZZ)/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60
# ASan's options for every sanitized run: any report fails it.
export ASAN_OPTIONS ?= abort_on_error=1:detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS ?= print_stacktrace=1:halt_on_error=1

$(ASAN)/user/%.o: user/%.c | $(SKELS) $(PB_HDRS)
	$(call msg,ASAN-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(SAN_CC) $(CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(ASAN)/pb/%.o: $(OUTPUT)/pb/%.c $(PB_HDRS)
	$(call msg,ASAN-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(SAN_CC) $(CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(ASAN)/unit/%.o: tests/unit/%.c | $(SKELS) $(PB_HDRS)
	$(call msg,ASAN-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(SAN_CC) $(CFLAGS) $(SAN_FLAGS) -c $< -o $@

$(ASAN)/memwatch: $(ASAN_OBJS)
	$(call msg,BINARY,$@)
	$(Q)$(SAN_CC) $(CFLAGS) $(SAN_FLAGS) $^ $(LDLIBS) -o $@

$(ASAN)/unit_tests: $(ASAN_UNIT) $(filter-out $(ASAN)/user/main.o,$(ASAN_OBJS))
	$(call msg,BINARY,$@)
	$(Q)$(SAN_CC) $(CFLAGS) $(SAN_FLAGS) $^ $(LDLIBS) -o $@

asan: $(ASAN)/memwatch $(ASAN)/unit_tests

$(FUZZ)/pb/%.o: $(OUTPUT)/pb/%.c $(PB_HDRS)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(CFLAGS) $(SAN_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ)/user/%.o: user/%.c | $(SKELS) $(PB_HDRS)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(CFLAGS) $(SAN_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ)/harness/%.o: tests/fuzz/%.c | $(SKELS) $(PB_HDRS)
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(FUZZ_CC) $(CFLAGS) $(SAN_FLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ)/%: $(FUZZ)/harness/%.o $(FUZZ_LIB)
	$(call msg,FUZZER,$@)
	$(Q)$(FUZZ_CC) $(SAN_FLAGS) -fsanitize=fuzzer $(filter %.o,$^) $(LDLIBS) -o $@

fuzz-build: $(FUZZERS)

# Every harness for FUZZ_SECONDS on its corpus (tests/fuzz/corpus/NAME, read only; what it
# finds goes to $(FUZZ)/corpus/NAME), crashers to $(FUZZ)/crashes/.
fuzz: fuzz-build
	$(Q)tests/fuzz/run.sh fuzz $(FUZZ) $(FUZZ_SECONDS) $(notdir $(FUZZERS))

# Each harness once over its corpus and its regression files (what crashed it before).
fuzz-regress: fuzz-build
	$(Q)tests/fuzz/run.sh regress $(FUZZ) 0 $(notdir $(FUZZERS))

# The benchmark's floors (tools/) are built too: the e2e tests check that they count exactly.
# The unit tests run a second time built with ASan and UBSan, and every fuzzer runs briefly.
# The build uses every CPU (make check is the README's one command, typed without -j).
check: deps lint
	$(Q)$(MAKE) --no-print-directory -j$$(nproc) memwatch sampler unit workloads $(TOOLS_BIN) \
		$(ASAN)/unit_tests fuzz-build
	$(Q)MW_CHECK_FUZZ_SECONDS=$${MW_CHECK_FUZZ_SECONDS:-2} tests/run.sh

# The unit and end-to-end suites against the ASan+UBSan build of memwatch (tests that cannot
# run sanitized skip with the reason "asan").
check-asan: deps
	$(Q)$(MAKE) --no-print-directory -j$$(nproc) memwatch sampler workloads $(TOOLS_BIN) asan
	$(Q)MW_ASAN=1 MEMWATCH_BIN=$(CURDIR)/$(ASAN)/memwatch tests/run.sh --asan

# The end-to-end tests' kernel subset on Debian's packaged kernels, each booted in QEMU (TCG)
# on this root file system (tools/vm/check_kernels.py): KERNELS="6.1 6.12" by default; a few
# minutes per kernel, so not part of check.
KERNELS ?= 6.1 6.12
check-kernels:
	$(Q)sh tools/deps.sh vm
	$(Q)$(MAKE) --no-print-directory memwatch sampler workloads $(TOOLS_BIN)
	$(Q)python3 tools/vm/check_kernels.py $(KERNELS)

# `make bench`'s syscall part (tools/bench.sh) on those kernels in the same VMs: ratios to the
# floor (TCG's absolute times mean nothing), each kernel's own section of tools/bench-results.md.
bench-kernels:
	$(Q)sh tools/deps.sh vm
	$(Q)$(MAKE) --no-print-directory memwatch sampler unit workloads $(TOOLS_BIN)
	$(Q)python3 tools/vm/check_kernels.py --bench $(KERNELS)

# Mutation testing of the pure core: every planted bug in tests/mutants/list.txt must make a unit
# test fail (tests/mutants/run.py, on a scratch copy: the tree is never modified). A rebuild per
# mutant takes minutes, so it is not part of check; MUTANTS_FLAGS=-j2 runs two at a time.
mutants: unit
	$(Q)python3 tests/mutants/run.py $(MUTANTS_FLAGS)

# Writes .output/bench.txt and tools/bench-results.md (kept in the tree; tools/BENCH.md).
bench: deps
	$(Q)$(MAKE) --no-print-directory memwatch sampler unit workloads $(TOOLS_BIN)
	$(Q)tools/bench.sh

clean:
	$(call msg,CLEAN,)
	$(Q)rm -rf $(OUTPUT) $(ASAN) $(FUZZ) memwatch

-include $(wildcard $(OUTPUT)/*.d $(OUTPUT)/*/*.d $(OUTPUT)/*/*/*.d $(ASAN)/*/*.d \
	$(ASAN)/*/*/*.d $(FUZZ)/*.d $(FUZZ)/*/*.d $(FUZZ)/*/*/*.d)
