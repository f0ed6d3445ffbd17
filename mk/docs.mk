# `make docs`: the LDoc reference of every public function, in build/docs/.
# The client's route methods are generated from lua/dify/routes.lua first.
LDOC ?= ldoc

.PHONY: docs
docs:
	@command -v $(LDOC) >/dev/null 2>&1 || sh scripts/deps-docs
	@mkdir -p build/docs-src
	LUA_PATH='$(TEST_PATH);;' lua5.4 scripts/gen-method-docs.lua build/docs-src/client_methods.luadoc build/docs-src/console_methods.luadoc
	$(LDOC) -c config.ld .
