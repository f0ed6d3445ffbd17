# OpenResty: `make openresty-test` runs the nginx specs (relay, non-blocking
# proof, disconnect stops the run, the chat page in headless Chromium);
# `make openresty-demo` serves the chat example against the fake Dify.
.PHONY: openresty-deps openresty-test openresty-demo

openresty-deps: deps
	@sh scripts/openresty-deps

openresty-test: openresty-deps
	@$(MAKE) --no-print-directory LUA=luajit all
	LUA_PATH='$(TEST_PATH);;' $(BUSTED) --lua=$(LUA) --pattern=_ngx $(BUSTED_ARGS) spec/openresty

openresty-demo: openresty-deps
	@$(MAKE) --no-print-directory LUA=luajit all
	@sh scripts/openresty-demo

# The nginx transport's modules (dify.relay is in lua/dify/ and goes with the rest).
.PHONY: install-openresty
install: install-openresty

install-openresty:
	mkdir -p $(DESTDIR)$(INSTALL_LMOD)/dify/ngx
	cp lua/dify/ngx/*.lua $(DESTDIR)$(INSTALL_LMOD)/dify/ngx/
