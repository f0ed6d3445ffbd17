# lua-dify: `make` builds dify/core.so, `make test` runs every spec,
# `make demo` streams a chat answer from the bundled fake Dify server.
# Both install missing Debian packages first (scripts/deps).

LUA ?= lua5.4
PKG_CONFIG ?= pkg-config
LUA_PC ?= $(LUA)
BUSTED ?= busted
LUACHECK ?= luacheck
PREFIX ?= /usr/local
LUA_VERSION ?= $(patsubst lua%,%,$(filter lua5.%,$(LUA)))
INSTALL_LMOD ?= $(PREFIX)/share/lua/$(if $(LUA_VERSION),$(LUA_VERSION),5.1)
INSTALL_CMOD ?= $(PREFIX)/lib/lua/$(if $(LUA_VERSION),$(LUA_VERSION),5.1)

LUA_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags $(LUA_PC) 2>/dev/null)
CURL_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CURL_LIBS ?= $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null || echo -lcurl)
CFLAGS ?= -O2 -g
WARNINGS = -std=c99 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes
ALL_CFLAGS = $(CFLAGS) $(WARNINGS) -fPIC $(LUA_CFLAGS) $(CURL_CFLAGS)
LIBFLAG ?= -shared

BUILD = build/$(LUA)
CORE_SRC = src/buffer.c src/error.c src/sse.c src/event_queue.c src/multipart.c \
           src/transfer.c src/session.c src/driven_transfer.c src/stream.c src/pending.c \
           src/driver.c src/watch.c
BINDING_SRC = src/ldify.c src/lhost.c
OBJ = $(patsubst src/%.c,$(BUILD)/%.o,$(CORE_SRC) $(BINDING_SRC))
CORE_SO = $(BUILD)/dify/core.so

TEST_PATH = ./lua/?.lua;./lua/?/init.lua;./?.lua
BUSTED_ARGS ?=

.PHONY: all deps test lint demo format clean install

all: $(CORE_SO)

$(BUILD)/%.o: src/%.c src/*.h
	@mkdir -p $(BUILD)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(CORE_SO): $(OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(LIBFLAG) $(LDFLAGS) -o $@ $(OBJ) $(CURL_LIBS)

deps:
	@LUA=$(LUA) sh scripts/deps

test: deps
	@$(MAKE) --no-print-directory all
	LUA_PATH='$(TEST_PATH);;' LUA_CPATH='./$(BUILD)/?.so;;' DIFY_LUA=$(LUA) \
	  $(BUSTED) --lua=$(LUA) $(BUSTED_ARGS) spec

lint:
	$(LUACHECK) lua spec examples bin/dify-mock bin/dify
	clang-format --dry-run --Werror src/*.c src/*.h

format:
	clang-format -i src/*.c src/*.h

demo: deps
	@$(MAKE) --no-print-directory all
	@LUA_PATH='$(TEST_PATH);;' LUA_CPATH='./$(BUILD)/?.so;;' sh scripts/demo $(LUA)

install: $(CORE_SO)
	mkdir -p $(DESTDIR)$(INSTALL_CMOD)/dify $(DESTDIR)$(INSTALL_LMOD)/dify
	cp $(CORE_SO) $(DESTDIR)$(INSTALL_CMOD)/dify/core.so
	cp lua/dify.lua $(DESTDIR)$(INSTALL_LMOD)/dify.lua
	cp lua/dify/*.lua $(DESTDIR)$(INSTALL_LMOD)/dify/
	mkdir -p $(DESTDIR)$(INSTALL_LMOD)/dify/mock
	cp lua/dify/mock/*.lua $(DESTDIR)$(INSTALL_LMOD)/dify/mock/

clean:
	rm -rf build

# Further targets (sanitizers, fuzzing, benchmarks, ...) live one file each in mk/.
-include mk/*.mk
