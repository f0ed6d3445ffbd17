# Sanitizers, fuzzing and the soak (issue 4). See docs/hardening.md.
#   make asan       the whole suite under AddressSanitizer + UBSan (clang)
#   make valgrind   the suite and the fuzz seed corpus under memcheck
#   make fuzz       each fuzz target for FUZZ_SECONDS (libFuzzer + Lua properties)
#   make soak       SOAK_STREAMS streams left by break and by error, fds and RSS sampled
.PHONY: asan valgrind fuzz soak hardening-deps fuzz-build

CLANG ?= clang
FUZZ_SECONDS ?= 30
SOAK_STREAMS ?= 10000
SAN_FLAGS = -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
ASAN_BUILD = build/asan/$(LUA)
ASAN_OBJ = $(patsubst src/%.c,$(ASAN_BUILD)/%.o,$(CORE_SRC) $(BINDING_SRC))
ASAN_CORE = $(ASAN_BUILD)/dify/core.so
KEEP_LOADED = build/hardening/keep_loaded.so
FUZZ_TARGETS = sse_fuzz multipart_fuzz
FUZZ_BIN = $(addprefix build/fuzz/,$(FUZZ_TARGETS))
REPLAY_BIN = $(addprefix build/fuzz/,$(FUZZ_TARGETS:_fuzz=_replay))
FUZZ_CFLAGS = -std=c99 -Wall -Wextra -Werror $(CURL_CFLAGS)
sse_SRC = fuzz/sse_fuzz.c src/sse.c src/buffer.c
multipart_SRC = fuzz/multipart_fuzz.c src/multipart.c src/buffer.c src/error.c

hardening-deps: deps
	@sh scripts/hardening/deps

$(ASAN_BUILD)/%.o: src/%.c src/*.h
	@mkdir -p $(ASAN_BUILD)
	$(CLANG) $(SAN_FLAGS) $(WARNINGS) -fPIC $(LUA_CFLAGS) $(CURL_CFLAGS) -c $< -o $@

$(ASAN_CORE): $(ASAN_OBJ)
	@mkdir -p $(dir $@)
	$(CLANG) $(SAN_FLAGS) -shared -shared-libsan -o $@ $(ASAN_OBJ) $(CURL_LIBS)

$(ASAN_BUILD)/canary.so: scripts/hardening/canary.c
	$(CLANG) $(SAN_FLAGS) -fPIC -shared -shared-libsan $(LUA_CFLAGS) -o $@ $<

build/hardening/canary.so: scripts/hardening/canary.c
	@mkdir -p $(dir $@)
	$(CC) -g -O0 -fPIC -shared $(LUA_CFLAGS) -o $@ $<

$(KEEP_LOADED): scripts/hardening/keep_loaded.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -fPIC -shared -o $@ $<

build/fuzz/%_fuzz: fuzz/%_fuzz.c src/*.c src/*.h
	@mkdir -p build/fuzz
	$(CLANG) -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	  $(FUZZ_CFLAGS) -o $@ $($*_SRC) $(CURL_LIBS)

build/fuzz/%_replay: fuzz/%_fuzz.c fuzz/standalone_main.c src/*.c src/*.h
	@mkdir -p build/fuzz
	$(CC) -g -O1 $(FUZZ_CFLAGS) -o $@ fuzz/standalone_main.c $($*_SRC) $(CURL_LIBS)

fuzz-build: hardening-deps
	@$(MAKE) --no-print-directory $(FUZZ_BIN) $(REPLAY_BIN)

asan: hardening-deps
	@$(MAKE) --no-print-directory $(ASAN_CORE) $(ASAN_BUILD)/canary.so $(KEEP_LOADED)
	@LUA=$(LUA) CLANG=$(CLANG) ASAN_BUILD=$(ASAN_BUILD) KEEP_LOADED=$(KEEP_LOADED) \
	  TEST_PATH='$(TEST_PATH)' bash scripts/hardening/asan

valgrind: hardening-deps
	@$(MAKE) --no-print-directory all build/hardening/canary.so $(KEEP_LOADED) $(REPLAY_BIN)
	@LUA=$(LUA) BUILD=$(BUILD) KEEP_LOADED=$(KEEP_LOADED) TEST_PATH='$(TEST_PATH)' \
	  bash scripts/hardening/valgrind

fuzz: fuzz-build
	@$(MAKE) --no-print-directory all
	@LUA=$(LUA) BUILD=$(BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) TEST_PATH='$(TEST_PATH)' \
	  bash scripts/hardening/fuzz $(FUZZ_TARGETS)

soak: deps
	@$(MAKE) --no-print-directory all
	@LUA=$(LUA) BUILD=$(BUILD) SOAK_STREAMS=$(SOAK_STREAMS) TEST_PATH='$(TEST_PATH)' \
	  bash scripts/hardening/soak
