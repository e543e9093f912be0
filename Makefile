# ktlink — GNU make only.  `make help` lists the targets.

PREFIX    ?= /usr/local
DESTDIR   ?=
LIBDIR    ?= $(PREFIX)/lib
INCDIR    ?= $(PREFIX)/include
BINDIR    ?= $(PREFIX)/bin
PCDIR     ?= $(LIBDIR)/pkgconfig
BUILD     ?= build
VERSION   := $(shell sed -n 's/^\#define KTL_VERSION "\(.*\)"/\1/p' include/ktlink.h)
SONAME    := libktlink.so.0

CC        ?= cc
PKGS      := gnutls liburing inih
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)
SSL_LIBS  := $(shell pkg-config --libs openssl 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
             -Wmissing-prototypes -Wno-unused-parameter
OPT       ?= -O2 -g
SAN       ?=
CFLAGS    ?=
override CFLAGS += -std=gnu11 $(OPT) $(SAN) $(WARN) -D_GNU_SOURCE -fPIC \
             -fvisibility=hidden -Iinclude -Ilib -Iktls $(PKG_CFLAGS)
LDFLAGS   ?=
override LDFLAGS += $(SAN)

LIB_SRC   := $(sort $(wildcard lib/*.c ktls/*.c))
TOOL_SRC  := $(sort $(wildcard tools/*.c bench/*.c))
TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c tests/integ/test_*.c))
TEST_HELPERS := $(sort $(wildcard tests/common/*.c))

LIB_OBJ   := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
TOOL_OBJ  := $(TOOL_SRC:%.c=$(BUILD)/obj/%.o)
HELP_OBJ  := $(TEST_HELPERS:%.c=$(BUILD)/obj/%.o)
TEST_BIN  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))

.PHONY: all lib tools tests deps deps-check test test-native test-asan test-vm \
        bench bench-vm certs install uninstall clean help
.DEFAULT_GOAL := all

all: lib tools tests

lib: $(BUILD)/libktlink.a $(BUILD)/libktlink.so $(BUILD)/ktlink.pc
tools: $(BUILD)/ktlink
tests: $(TEST_BIN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(BUILD)/libktlink.a: $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/libktlink.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined $(LDFLAGS) -o $@.$(VERSION) $^ $(PKG_LIBS)
	ln -sf libktlink.so.$(VERSION) $(BUILD)/$(SONAME)
	ln -sf libktlink.so.$(VERSION) $@

$(BUILD)/ktlink.pc: tools/ktlink.pc.in include/ktlink.h
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' $< > $@

# The tools and tests link the static library so one binary runs anywhere,
# including the test VM, without an installed libktlink.
$(BUILD)/ktlink: $(TOOL_OBJ) $(BUILD)/libktlink.a
	$(CC) $(LDFLAGS) -o $@ $(TOOL_OBJ) $(BUILD)/libktlink.a $(PKG_LIBS) $(SSL_LIBS) -lpthread

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(HELP_OBJ) $(BUILD)/libktlink.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $< $(HELP_OBJ) $(BUILD)/libktlink.a $(PKG_LIBS) $(CMOCKA_LIBS) -lpthread

$(BUILD)/obj/tests/%.o: override CFLAGS += -Itests/common

# Test objects are built through a pattern chain; keep them, so a rebuild
# recompiles only what changed.
.SECONDARY:

# ---- dependencies -----------------------------------------------------------

deps:
	@tools/deps.sh install

deps-check:
	@tools/deps.sh ensure

# ---- tests and benchmarks ---------------------------------------------------

# The whole suite: native, sanitizers, then the kTLS VM.
test: deps-check
	@$(MAKE) --no-print-directory all
	@tests/run.sh all

test-native: deps-check
	@$(MAKE) --no-print-directory all
	@tests/run.sh native

test-asan: deps-check
	@tests/run.sh asan

test-vm: deps-check
	@$(MAKE) --no-print-directory all
	@tests/run.sh vm

certs: deps-check
	@$(MAKE) --no-print-directory tools
	@certs/ktlink-certs.sh --out $(BUILD)/certs --if-missing

# Three interleaved rounds of every path: on a shared host a slow spell
# then falls on all paths of a round, and the paired ratios stay put.
BENCH_DEFAULTS := --handshakes --repeat 3 --time 2

bench: deps-check
	@$(MAKE) --no-print-directory tools
	@certs/ktlink-certs.sh --out $(BUILD)/certs --if-missing >/dev/null
	@mkdir -p bench/results
	$(BUILD)/ktlink bench --certs $(BUILD)/certs $(BENCH_DEFAULTS) --json bench/results/latest.json $(BENCH_ARGS)

bench-vm: deps-check
	@$(MAKE) --no-print-directory all
	@tests/vm/run.sh bench $(BENCH_DEFAULTS) $(BENCH_ARGS)

# ---- install ----------------------------------------------------------------

install: lib tools
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(PCDIR) $(DESTDIR)$(BINDIR)
	install -m 644 include/ktlink.h $(DESTDIR)$(INCDIR)/ktlink.h
	install -m 644 $(BUILD)/libktlink.a $(DESTDIR)$(LIBDIR)/libktlink.a
	install -m 755 $(BUILD)/libktlink.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libktlink.so.$(VERSION)
	ln -sf libktlink.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf libktlink.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libktlink.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' tools/ktlink.pc.in > $(DESTDIR)$(PCDIR)/ktlink.pc
	install -m 755 $(BUILD)/ktlink $(DESTDIR)$(BINDIR)/ktlink
	install -m 755 certs/ktlink-certs.sh $(DESTDIR)$(BINDIR)/ktlink-certs

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/ktlink.h $(DESTDIR)$(LIBDIR)/libktlink.a \
	      $(DESTDIR)$(LIBDIR)/libktlink.so* $(DESTDIR)$(PCDIR)/ktlink.pc \
	      $(DESTDIR)$(BINDIR)/ktlink $(DESTDIR)$(BINDIR)/ktlink-certs

clean:
	rm -rf $(BUILD)

help:
	@echo "make            build libktlink.a/.so, the ktlink command and the tests"
	@echo "make bench      run the throughput benchmark (installs dependencies first)"
	@echo "make test       run every test: native, ASan/UBSan, and kTLS in a VM"
	@echo "make test-native | test-asan | test-vm   one part of the suite"
	@echo "make bench-vm   the benchmark inside the kTLS VM"
	@echo "make deps       install the Debian packages (root) or print the command"
	@echo "make certs      generate a demo chain into $(BUILD)/certs"
	@echo "make install    PREFIX=$(PREFIX) DESTDIR=...   (make uninstall: the reverse)"
	@echo "make deps-check install dependencies only if something is missing"
	@echo "make clean      remove $(BUILD)/"

-include $(LIB_OBJ:.o=.d) $(TOOL_OBJ:.o=.d) $(HELP_OBJ:.o=.d) $(TEST_SRC:%.c=$(BUILD)/obj/%.d)
